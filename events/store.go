package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamName is the ticket log. NB: never rename; consumers and operators depend on it.
const StreamName = "TICKETS"

// MaxBatch is the most messages nats-server takes in one atomic batch.
const MaxBatch = 1000

// PlainMax is the most single messages a group commit sends as plain publishes, each
// stored with its own fsync and answered on its own, rather than as one atomic batch, to
// an R1 file stream (PlainMaxFor). nats-server stages an atomic batch of such a stream in
// a file store of its own (a directory and a metadata file, created, synced and removed
// for each batch): measured on 2 cores, a batch costs about 1.1 ms of CPU and 2.2 ms
// whatever its size, a plain synced publish 0.13 ms and 0.3 ms, about 0.06 ms more for
// each further message sent at once. The stream stores plain publishes one after another,
// 7,000 to 8,500 a second from one or four publishers at once, and batches of 2 to 16
// messages at 1,200 to 7,300 messages a second: up to 16 messages plain publishes cost
// less CPU and take the stream no longer.
const PlainMax = 16

// PlainMaxFor is how many single messages a group commit to a stream of cfg sends as
// plain publishes: PlainMax for an R1 file stream, else 1 (a clustered stream stages an
// atomic batch in memory, and each plain publish is a Raft proposal of its own: measured,
// plain publishes took 17 % off the intake of a three-node cluster).
func PlainMaxFor(cfg jetstream.StreamConfig) int {
	if cfg.Replicas <= 1 && cfg.Storage == jetstream.FileStorage {
		return PlainMax
	}
	return 1
}

// JetStream API error codes the store tells apart (nats-server errors.json).
const (
	codeWrongLastSequence      = 10071
	codeBatchDuplicateMessage  = 10201
	codeWrongLastSequenceConst = 10164
)

// Batch headers of nats-server's atomic publish.
const (
	headerBatchID     = "Nats-Batch-Id"
	headerBatchSeq    = "Nats-Batch-Sequence"
	headerBatchCommit = "Nats-Batch-Commit"
)

// StoreConfig configures the event store. The zero value is usable.
type StoreConfig struct {
	// Replicas of the TICKETS stream; 1 for a single server (default 1).
	Replicas int
	// DuplicateWindow is how long an event id (and so an intake Idempotency-Key) is
	// remembered for deduplication (default 24h).
	DuplicateWindow time.Duration
	// Timeout bounds each round trip with the server: a publish, a read (default 10s).
	Timeout time.Duration
	// Partitions is the number of partitions of the ticket log (see DefaultPartitions for
	// how to choose it), from 1 to MaxPartitions. It is fixed when the TICKETS stream is
	// created and recorded in it: 0 means the existing stream's, or DefaultPartitions
	// for the stream Provision creates; any other value must be the stream's (else
	// ErrLayout).
	Partitions int
	// Reads, when set, is the connection the store reads the ticket log on, its direct
	// gets and its subscriptions (default the store's own; appends, and the consumers made
	// with JetStream(), stay there). nats-server answers a direct get inline on the
	// connection that asks, so a read waiting for a commit (which holds the stream until
	// its fsync) would hold up everything else the connection carries: acks, publishes,
	// other requests; and a subscription's messages are parsed on their connection's one
	// reading goroutine, beside the consumers' deliveries. Give a process that reads and
	// consumes under load a second connection of the same role.
	Reads *nats.Conn
}

func (c *StoreConfig) setDefaults() {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 24 * time.Hour
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}

// Store is the ticket event store on the JetStream stream TICKETS. It is safe for
// concurrent use.
type Store struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	reads  jetstream.JetStream // on StoreConfig.Reads
	stream jetstream.Stream    // TICKETS, on reads: the store's direct gets and subscriptions
	config jetstream.Stream    // CONFIG
	// plainMax is PlainMaxFor the stream as opened (a later change of its replicas
	// changes only what a group commit costs).
	plainMax int
	cfg      StoreConfig  // Partitions is the stream's
	lost     *disconnects // ends the appends in flight whose answer cannot come
	leader   sync.Once    // lost watches the log's leader elections from the first append
}

// StreamConfig is the TICKETS stream configuration the store creates or updates to:
// layout LogLayout with cfg.Partitions partitions (DefaultPartitions when 0).
func StreamConfig(cfg StoreConfig) jetstream.StreamConfig {
	cfg.setDefaults()
	n := cfg.Partitions
	if n == 0 {
		n = DefaultPartitions
	}
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "ledgerdesk ticket event log: one subject per ticket, tickets.<partition>.<tenant>.<ticket>, immutable",
		// Writers publish tickets.<tenant>.<ticket>; the transform stores it in its
		// partition. NB: the transform and the metadata never change (LogLayout).
		Subjects:           []string{SubjectPrefix + ".*.*"},
		SubjectTransform:   subjectTransform(n),
		Metadata:           layoutMetadata(n),
		Storage:            jetstream.FileStorage,
		Retention:          jetstream.LimitsPolicy,
		Replicas:           cfg.Replicas,
		Duplicates:         cfg.DuplicateWindow,
		DenyDelete:         true,
		DenyPurge:          true,
		AllowDirect:        true,
		AllowAtomicPublish: true,
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxAge:             0,
	}
}

// NewStore provisions the log streams (TICKETS, CONFIG, ACCESS) through the one guarded
// path (Provision: created when missing, updated only where that weakens nothing) and
// returns a store on them. Only the admin role may create or update streams; services
// use OpenStore.
func NewStore(ctx context.Context, nc *nats.Conn, cfg StoreConfig) (*Store, error) {
	if nc == nil {
		return nil, errors.New("events: new store: nil connection")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("new store: %w", err)
	}
	if err := Provision(ctx, js, cfg); err != nil {
		return nil, err
	}
	return OpenStore(ctx, nc, cfg)
}

// OpenStore returns a store on the TICKETS and CONFIG streams, which must exist (made by
// NewStore with admin rights); it changes no stream, so any role that reads them may open
// it. The TICKETS stream must have layout LogLayout, and cfg.Partitions partitions unless
// 0 (else ErrLayout); Partitions tells the stream's.
func OpenStore(ctx context.Context, nc *nats.Conn, cfg StoreConfig) (*Store, error) {
	if nc == nil {
		return nil, errors.New("events: open store: nil connection")
	}
	if cfg.Partitions != 0 {
		if err := validPartitions(cfg.Partitions); err != nil {
			return nil, err
		}
	}
	cfg.setDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	reads := js
	if cfg.Reads != nil {
		if reads, err = jetstream.New(cfg.Reads); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	stream, err := reads.Stream(ctx, StreamName)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", StreamName, err)
	}
	if cfg.Partitions, err = ticketsPartitions(stream.CachedInfo().Config, cfg.Partitions); err != nil {
		return nil, fmt.Errorf("open stream %s: %w", StreamName, err)
	}
	config, err := js.Stream(ctx, ConfigStreamName)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", ConfigStreamName, err)
	}
	return &Store{nc: nc, js: js, reads: reads, stream: stream, config: config, plainMax: PlainMaxFor(stream.CachedInfo().Config), cfg: cfg,
		lost: watchDisconnects(nc)}, nil
}

// JetStream returns the store's JetStream context, for consumers of the stream.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// ReadJetStream returns the JetStream context on the store's read connection
// (StoreConfig.Reads, else the main one), for bulk transfers that should not hold up
// appends and acks.
func (s *Store) ReadJetStream() jetstream.JetStream { return s.reads }

// Created is when the ticket log's stream was created: a log made anew (another data
// directory, or provisioned again after it was deleted) has another.
func (s *Store) Created() time.Time { return s.stream.CachedInfo().Created }

// Partitions is the number of partitions of the ticket log, as its stream records it:
// every event is stored in one of partitions 0 to Partitions()-1 (Raw.Partition).
func (s *Store) Partitions() int { return s.cfg.Partitions }

// Append is one ticket's part of an append: events to add after the ticket's current head.
type Append struct {
	Tenant   string
	TicketID string
	// ExpectedVersion is the stream sequence of the ticket's last event as the caller
	// read it; 0 means the ticket must not exist yet.
	ExpectedVersion uint64
	// PrevHash is the Hash of the ticket's last event ("" for a new ticket).
	PrevHash string
	// Events to append, in order. Empty ID gets a UUIDv7, zero Time gets now, Type is
	// taken from Data; Tenant and TicketID are set from the Append.
	Events []Event
}

// Appended is the outcome of a successful Append.
type Appended struct {
	Events  []Event // as stored, with Hash, PrevHash and Sequence
	Version uint64  // the ticket's new version: the stream sequence of its last event
	// Duplicate is true when the first event's id had already been appended within the
	// duplicate window: nothing was appended and Version is the sequence of that
	// earlier event (see Store.Get).
	Duplicate bool
}

// Result pairs an Appended with its error in AppendBatch.
type Result struct {
	Appended
	Err error
}

// prepared is an Append with ids, hashes and messages filled in.
type prepared struct {
	events []Event
	msgs   []*nats.Msg
}

func (s *Store) prepare(a Append) (prepared, error) {
	if !ValidToken(a.Tenant) {
		return prepared{}, &ValidationError{Field: "tenant", Reason: "must be 1-64 letters, digits, '-' or '_'"}
	}
	if !ValidToken(a.TicketID) {
		return prepared{}, &ValidationError{Field: "id", Reason: "must be 1-64 letters, digits, '-' or '_'"}
	}
	if len(a.Events) == 0 {
		return prepared{}, errors.New("events: append: no events")
	}
	p := prepared{events: make([]Event, len(a.Events)), msgs: make([]*nats.Msg, len(a.Events))}
	prev := a.PrevHash
	now := time.Now().UTC()
	for i, e := range a.Events {
		if e.Data == nil {
			return prepared{}, errors.New("events: append: event without data")
		}
		if e.ID == "" {
			id, err := uuid.NewV7()
			if err != nil {
				return prepared{}, fmt.Errorf("new event id: %w", err)
			}
			e.ID = id.String()
		}
		if e.Time.IsZero() {
			e.Time = now
		}
		e.Time = e.Time.UTC()
		e.Tenant, e.TicketID = a.Tenant, a.TicketID
		sealed, err := Seal(e, prev)
		if err != nil {
			return prepared{}, err
		}
		e, prev = sealed.Event, sealed.Hash
		m := toMsg(e, sealed.RawData)
		if i == 0 {
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(a.ExpectedVersion, 10))
			if a.ExpectedVersion == 0 {
				// A new ticket: the server checks that no tenant's subject holds its id
				// yet, and the check it stores with the event tells every reader so
				// (Raw.StartsTicket), without a request of its own.
				m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, TicketFilter(a.TicketID))
			}
		}
		p.events[i], p.msgs[i] = e, m
	}
	return p, nil
}

// Append adds one ticket's events atomically, after checking that the ticket is still at
// ExpectedVersion (else ErrConflict). Events are deduplicated by id (ErrDuplicate for a
// multi-event append, Appended.Duplicate for a single event).
func (s *Store) Append(ctx context.Context, a Append) (Appended, error) {
	p, err := s.prepare(a)
	if err != nil {
		return Appended{}, err
	}
	return s.commit(ctx, p.msgs, p.events)
}

// AppendBatch appends the events of many tickets in as few atomic batches as possible
// (group commit: one fsync for many tickets), or, when they are a few single events
// (PlainMaxFor), as plain publishes. Each Append succeeds or fails on its own.
//   - Of several appends to one ticket, only the first goes into a batch: the others
//     were built on the same head and cannot all hold. They follow in the next batch,
//     or, once an earlier one of their ticket is stored, get ErrConflict unsent.
//   - One conflict or duplicate refuses a whole batch, and the server does not say which
//     entry: the store then asks for the last message of every ticket of the batch (one
//     request), answers the appends behind their ticket's head ErrConflict and commits
//     the rest again. A batch refused with no stale append (a duplicate) is split in
//     halves committed on their own, down to the refused appends alone.
//
// Results are in the order of the appends.
func (s *Store) AppendBatch(ctx context.Context, appends []Append) []Result {
	results := make([]Result, len(appends))
	preps := make([]prepared, len(appends))
	var commitAll func(members []int)
	commitAll = func(members []int) {
		var first, later []int
		sent := map[string]bool{}
		for _, i := range members {
			if sent[appends[i].TicketID] {
				later = append(later, i)
				continue
			}
			sent[appends[i].TicketID] = true
			first = append(first, i)
		}
		s.commitDistinct(ctx, appends, preps, results, first)
		if len(later) == 0 {
			return
		}
		stored := map[string]bool{}
		for _, i := range first {
			if results[i].Err == nil && !results[i].Duplicate {
				stored[appends[i].TicketID] = true
			}
		}
		var retry []int
		for _, i := range later {
			if stored[appends[i].TicketID] {
				results[i].Err = fmt.Errorf("%w: ticket %s moved on from version %d in the same group commit", ErrConflict, appends[i].TicketID, appends[i].ExpectedVersion)
			} else {
				retry = append(retry, i)
			}
		}
		if len(retry) > 0 {
			commitAll(retry)
		}
	}
	var members []int // indexes into appends of the batch being gathered
	size := 0
	for i, a := range appends {
		p, err := s.prepare(a)
		if err != nil {
			results[i].Err = err
			continue
		}
		if len(p.msgs) > MaxBatch {
			results[i].Err = fmt.Errorf("events: append of %d events exceeds the batch limit of %d", len(p.msgs), MaxBatch)
			continue
		}
		if size+len(p.msgs) > MaxBatch {
			commitAll(members)
			members, size = nil, 0
		}
		preps[i] = p
		members = append(members, i)
		size += len(p.msgs)
	}
	if len(members) > 0 {
		commitAll(members)
	}
	return results
}

// commitDistinct commits the prepared appends members, of distinct tickets, as one
// atomic batch, and after a refusal as AppendBatch says; a few single events go as plain
// publishes instead (PlainMaxFor the stream as the store opened it).
func (s *Store) commitDistinct(ctx context.Context, appends []Append, preps []prepared, results []Result, members []int) {
	if len(members) == 1 || len(members) <= s.plainMax && !slices.ContainsFunc(members, func(i int) bool { return len(preps[i].msgs) > 1 }) {
		// One append (an atomic batch when it holds several events), or a few single
		// events sent at once as plain publishes (PlainMaxFor), each answered on its own.
		var wg sync.WaitGroup
		for _, i := range members {
			wg.Go(func() { results[i].Appended, results[i].Err = s.commit(ctx, preps[i].msgs, preps[i].events) })
		}
		wg.Wait()
		return
	}
	var msgs []*nats.Msg
	var all []Event
	for _, i := range members {
		msgs = append(msgs, preps[i].msgs...)
		all = append(all, preps[i].events...)
	}
	if _, err := s.commit(ctx, msgs, all); err != nil {
		stale, serr := s.staleAppends(ctx, appends, members)
		if serr == nil && len(stale) > 0 {
			var rest []int
			for _, i := range members {
				if stale[i] {
					results[i].Err = fmt.Errorf("%w: ticket %s is no longer at version %d", ErrConflict, appends[i].TicketID, appends[i].ExpectedVersion)
				} else {
					rest = append(rest, i)
				}
			}
			if len(rest) > 0 {
				s.commitDistinct(ctx, appends, preps, results, rest)
			}
			return
		}
		half := len(members) / 2
		s.commitDistinct(ctx, appends, preps, results, members[:half])
		s.commitDistinct(ctx, appends, preps, results, members[half:])
		return
	}
	// commit numbered the events of all; hand the sequences back to each append.
	k := 0
	for _, i := range members {
		evs := preps[i].events
		for j := range evs {
			evs[j].Sequence = all[k].Sequence
			k++
		}
		results[i].Appended = Appended{Events: evs, Version: evs[len(evs)-1].Sequence}
	}
}

// pubAck is nats-server's publish acknowledgement, including the atomic batch fields.
type pubAck struct {
	Stream    string `json:"stream"`
	Sequence  uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
	BatchID   string `json:"batch,omitempty"`
	Count     uint64 `json:"count,omitempty"`
	Error     *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error,omitempty"`
}

// commit publishes msgs as one message or one atomic batch and sets each event's Sequence.
func (s *Store) commit(ctx context.Context, msgs []*nats.Msg, evs []Event) (Appended, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	s.leader.Do(func() { _ = s.lost.watchLeader(s.nc) }) // refused: the timeout still bounds the wait
	ctx, release := s.lost.during(ctx)
	defer release()
	last := msgs[len(msgs)-1]
	for _, m := range msgs { // a retried message may carry headers of a refused batch
		m.Header.Del(headerBatchID)
		m.Header.Del(headerBatchSeq)
		m.Header.Del(headerBatchCommit)
	}
	if len(msgs) > 1 {
		batchID := nats.NewInbox()[len(nats.InboxPrefix):] // a unique token under 64 bytes
		for i, m := range msgs {
			m.Header.Set(headerBatchID, batchID)
			m.Header.Set(headerBatchSeq, strconv.Itoa(i+1))
			if i < len(msgs)-1 {
				if err := s.nc.PublishMsg(m); err != nil {
					return Appended{}, fmt.Errorf("publish batch message: %w", err)
				}
			}
		}
		last.Header.Set(headerBatchCommit, "1")
	}
	reply, err := s.nc.RequestMsgWithContext(ctx, last)
	if errors.Is(context.Cause(ctx), ErrAnswerLost) {
		return Appended{}, fmt.Errorf("append to %s: %w", StreamName, ErrAnswerLost)
	}
	if err != nil {
		return Appended{}, fmt.Errorf("append to %s: %w", StreamName, err)
	}
	var ack pubAck
	if err := json.Unmarshal(reply.Data, &ack); err != nil {
		return Appended{}, fmt.Errorf("append to %s: decode ack: %w", StreamName, err)
	}
	if ack.Error != nil {
		switch ack.Error.ErrCode {
		case codeWrongLastSequence, codeWrongLastSequenceConst:
			return Appended{}, fmt.Errorf("%w: %s", ErrConflict, ack.Error.Description)
		case codeBatchDuplicateMessage:
			return Appended{}, fmt.Errorf("%w: %s", ErrDuplicate, ack.Error.Description)
		}
		return Appended{}, fmt.Errorf("append to %s: %s (code %d)", StreamName, ack.Error.Description, ack.Error.ErrCode)
	}
	if ack.Duplicate {
		if len(msgs) > 1 {
			return Appended{}, fmt.Errorf("%w: batch already appended", ErrDuplicate)
		}
		return Appended{Version: ack.Sequence, Duplicate: true}, nil
	}
	first := ack.Sequence - uint64(len(msgs)) + 1
	for i := range evs {
		evs[i].Sequence = first + uint64(i)
	}
	return Appended{Events: evs, Version: ack.Sequence}, nil
}

// Load returns a ticket's events in order, as stored, and its version (the stream sequence
// of the last message under any tenant's subject of the ticket), or ErrNotFound. A
// message that is not a ledgerdesk event is left out; whether the events form a chain is
// the caller's to check (Trusted; LoadTrail for a history to append to).
func (s *Store) Load(ctx context.Context, ticketID string) ([]Raw, uint64, error) {
	raws, last, err := s.load(ctx, ticketID)
	var version uint64
	for _, seq := range last {
		version = max(version, seq)
	}
	return raws, version, err
}

// load reads every message of a ticket (TicketFilter): the events, and the last stream
// sequence stored under each tenant's subject of the ticket, keyed by its publish subject
// (Subject(tenant, id), which is stored on one subject: a refused message counts, since
// appends are checked against the last message of their own stored subject).
func (s *Store) load(ctx context.Context, ticketID string) ([]Raw, map[string]uint64, error) {
	return s.loadFiltered(ctx, ticketID, TicketFilter(ticketID))
}

// loadFiltered is load of the ticket's messages filter matches.
func (s *Store) loadFiltered(ctx context.Context, ticketID, filter string) ([]Raw, map[string]uint64, error) {
	if !ValidToken(ticketID) {
		return nil, nil, ErrNotFound
	}
	msgs, err := s.messagesAfter(ctx, filter, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("load ticket %s: %w", ticketID, err)
	}
	var out []Raw
	last := map[string]uint64{}
	for _, m := range msgs {
		if _, tenant, _, err := ParseStoredSubject(m.Subject); err == nil {
			last[Subject(tenant, ticketID)] = m.Sequence
		}
		r, err := FromMsg(m.Subject, m.Header, m.Data, m.Sequence)
		if err != nil {
			continue // not a ledgerdesk event: no reader accepts it (see Subscribe)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, nil, ErrNotFound
	}
	return out, last, nil
}

// Get returns the event at a stream sequence: ErrNotFound when the log holds no message
// there, an *Undecodable when the message is not a ledgerdesk event.
func (s *Store) Get(ctx context.Context, seq uint64) (Raw, error) {
	m, err := s.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Raw{}, ErrNotFound
	}
	if err != nil {
		return Raw{}, fmt.Errorf("get event seq %d: %w", seq, err)
	}
	r, err := FromMsg(m.Subject, m.Header, m.Data, m.Sequence)
	if err != nil {
		return Raw{}, &Undecodable{Sequence: m.Sequence, Subject: m.Subject, Header: m.Header, Data: m.Data, Err: err}
	}
	return r, nil
}

// Undecodable is a message of the ticket log that is not a ledgerdesk event: no reader
// may act on it.
type Undecodable struct {
	Sequence uint64
	Subject  string
	Header   nats.Header
	Data     []byte
	Err      error // why it does not decode
}

func (u *Undecodable) Error() string {
	return fmt.Sprintf("events: message seq %d on %s is not a ledgerdesk event: %v", u.Sequence, u.Subject, u.Err)
}

func (u *Undecodable) Unwrap() error { return u.Err }

// Message is the message as it is stored, for a dead-letter queue.
func (u *Undecodable) Message() *nats.Msg {
	return &nats.Msg{Subject: u.Subject, Header: u.Header, Data: u.Data}
}

// Seq is the message's stream sequence.
func (u *Undecodable) Seq() uint64 { return u.Sequence }

// Subscribe delivers every event from stream sequence from (1 for all) on, in order, to
// handle, and every message that does not decode to undecodable, through an ordered
// consumer, until ctx ends, Stop, or a callback returns an error. It returns when the
// subscription is set up; Done tells when and why it stopped.
func (s *Store) Subscribe(ctx context.Context, from uint64, handle func(Raw) error, undecodable func(*Undecodable) error) (*Subscription, error) {
	return subscribe(ctx, s.stream, from, func(m jetstream.Msg, seq uint64) error {
		r, err := FromMsg(m.Subject(), m.Headers(), m.Data(), seq)
		if err != nil {
			return undecodable(&Undecodable{Sequence: seq, Subject: m.Subject(), Header: m.Headers(), Data: m.Data(), Err: err})
		}
		return handle(r)
	})
}

// Subscription is a running Subscribe: a reader that stops tells why.
type Subscription struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed
}

// Stop ends the subscription and waits until no callback runs any more. Safe to call
// more than once.
func (s *Subscription) Stop() {
	s.cancel()
	<-s.done
}

// Done is closed when the subscription has stopped; Err then says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err is why the subscription stopped: a callback's error, or nil after Stop or the end
// of its context. Call it once Done is closed.
func (s *Subscription) Err() error { return s.err }

// subscribe delivers the messages of stream from sequence from on, in order, to handle
// with their stream sequence, until ctx ends, Stop, or handle returns an error.
func subscribe(ctx context.Context, stream jetstream.Stream, from uint64, handle func(jetstream.Msg, uint64) error) (*Subscription, error) {
	if from == 0 {
		from = 1
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe from seq %d: %w", from, err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	sub := &Subscription{cancel: func() { cancel(nil) }, done: make(chan struct{})}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if ctx.Err() != nil {
			return // stopped: deliver nothing after a handler error
		}
		md, err := m.Metadata()
		if err == nil {
			err = handle(m, md.Sequence.Stream)
		} else {
			err = fmt.Errorf("message on %s: %w", m.Subject(), err)
		}
		if err != nil {
			cancel(err)
		}
	})
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("subscribe from seq %d: %w", from, err)
	}
	go func() {
		<-ctx.Done()
		cc.Stop()
		<-cc.Closed()
		if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
			sub.err = cause
		}
		close(sub.done)
	}()
	return sub, nil
}

// LastSequence returns the sequence of the last event in the log (0 when empty).
func (s *Store) LastSequence(ctx context.Context) (uint64, error) {
	return lastSequence(ctx, s.stream)
}

func lastSequence(ctx context.Context, stream jetstream.Stream) (uint64, error) {
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s info: %w", stream.CachedInfo().Config.Name, err)
	}
	return info.State.LastSeq, nil
}
