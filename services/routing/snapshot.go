package routing

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// Snapshots: the view is a fold of the whole log, and a replica that starts does not read
// the whole log again. The replica that leads (reactor.Service.Leads) puts the view, as
// of a stream sequence, into the object store bucket SnapshotBucket while events arrive
// (see SnapshotEvents), and once more when it stops; a replica that starts reads the
// newest snapshot of its log and follows the log from the sequence after it. A snapshot
// that is missing, of another format, of another log (another creation time) or ahead of
// the log (an older copy of the store) is ignored with a warning, and the view is read
// from the start: a snapshot saves time, never decides.

// SnapshotBucket is the object store bucket of routing's view snapshots. NB: wire name;
// never rename.
const SnapshotBucket = "ROUTING_SNAPSHOTS"

// SnapshotInterval and SnapshotEvents bound how far the log runs past the last snapshot:
// the leading replica snapshots the view when the last snapshot is SnapshotInterval old
// and events arrived since, or when SnapshotEvents events arrived since, whichever comes
// first. A replica that starts reads at most about that much of the log after the
// snapshot, at full intake too.
const (
	SnapshotInterval = 30 * time.Second
	SnapshotEvents   = 100_000
)

// viewObject is the view's object in SnapshotBucket.
const viewObject = "view"

// SnapshotBucketConfig is the SnapshotBucket bucket: file storage, one object.
func SnapshotBucketConfig() jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      SnapshotBucket,
		Description: "ledgerdesk routing: snapshots of the load view, so that a replica starts without reading the whole log",
		Storage:     jetstream.FileStorage,
	}
}

// snapshotFormat is the version of a snapshot's encoding: a gob stream of the format
// number, the snapshot without its tickets (Tickets empty, TicketCount set), then the
// tickets in segments of at most snapshotSegment, each a snapshotTickets (gob buffers a
// whole value before it writes it: segments keep that buffer small). NB: bump it whenever
// viewSnapshot or a type in it changes (TestSnapshotFormat's golden file fails first); a
// snapshot of another format is ignored.
const snapshotFormat = 1

// snapshotSegment is how many tickets one gob value of a snapshot holds.
const snapshotSegment = 1 << 16

// viewSnapshot is a View as of a stream sequence, without its reservations (assignments
// in flight count for reservationTTL only). Tickets are kept in columns: gob decodes a
// byte slice at once, and an array or a struct field by field, which for a million
// tickets is seconds rather than a fraction of one.
type viewSnapshot struct {
	Log    time.Time // the ticket log's creation (events.Store.Created)
	Seq    uint64    // the last sequence applied
	Latest int64     // the latest event time seen, unix seconds
	// Names are the view's names (View.names without the first, ""): the columns refer
	// to them by position + 1, 0 being no name.
	Names       []string
	TicketCount int // the tickets the segments after this value hold (in the encoding only)
	Tickets     snapshotTickets
	Resolved    snapshotResolved // in stream order
	Assignments []snapshotCount  // per tenant and group
}

// snapshotKeys are ticket keys, the i-th of each column making the i-th key.
type snapshotKeys struct {
	Tenant []uint32
	UUID   []byte // 16 bytes a key: ticketKey.uuid
	Other  []uint32
}

func (c *snapshotKeys) add(k ticketKey) {
	c.Tenant, c.UUID, c.Other = append(c.Tenant, uint32(k.tenant)), append(c.UUID, k.uuid[:]...), append(c.Other, uint32(k.other))
}

// valid reports whether every column holds n keys.
func (c snapshotKeys) valid(n int) bool {
	return len(c.Tenant) == n && len(c.UUID) == 16*n && len(c.Other) == n
}

type snapshotTickets struct {
	Keys         snapshotKeys
	Group, Agent []uint32
	Open         []bool
	ResolvedAt   []uint32
	Hash         []byte // 32 bytes a ticket: ticketLoad.hash
}

type snapshotResolved struct {
	Keys snapshotKeys
	At   []uint32
}

type snapshotCount struct {
	Tenant, Name uint32
	N            int
}

// snapshot captures the view; log is the ticket log's creation.
func (v *View) snapshot(log time.Time) viewSnapshot {
	v.mu.RLock()
	defer v.mu.RUnlock()
	s := viewSnapshot{Log: log, Seq: v.progress.Seq(), Latest: v.latest, Names: slices.Clone(v.names[1:])}
	ts := makeTickets(len(v.tickets))
	for k, t := range v.tickets {
		ts.Keys.add(k)
		ts.Group, ts.Agent, ts.Open = append(ts.Group, uint32(t.group)), append(ts.Agent, uint32(t.agent)), append(ts.Open, t.open)
		ts.ResolvedAt, ts.Hash = append(ts.ResolvedAt, t.resolvedAt), append(ts.Hash, t.hash[:]...)
	}
	s.Tickets = ts
	for _, r := range v.resolved {
		s.Resolved.Keys.add(r.ticket)
		s.Resolved.At = append(s.Resolved.At, r.at)
	}
	for k, n := range v.assignments {
		s.Assignments = append(s.Assignments, snapshotCount{Tenant: uint32(k.tenant), Name: uint32(k.name), N: n})
	}
	return s
}

// errSnapshotShape is a snapshot whose columns or references do not fit together.
var errSnapshotShape = errors.New("routing: snapshot: columns of unequal length or a name it does not have")

// restoreView is the view a snapshot captured.
func restoreView(s viewSnapshot) (*View, error) {
	ts, rs := s.Tickets, s.Resolved
	n := len(ts.Group)
	if !ts.Keys.valid(n) || len(ts.Agent) != n || len(ts.Open) != n || len(ts.ResolvedAt) != n || len(ts.Hash) != 32*n ||
		!rs.Keys.valid(len(rs.At)) {
		return nil, errSnapshotShape
	}
	v := NewView()
	for _, nm := range s.Names {
		if _, dup := v.ids[nm]; nm == "" || dup {
			return nil, errSnapshotShape
		}
		v.intern(nm)
	}
	bad := false
	check := func(i uint32) name {
		if int(i) >= len(v.names) {
			bad = true
		}
		return name(i)
	}
	key := func(c snapshotKeys, i int) ticketKey {
		return ticketKey{uuid: [16]byte(c.UUID[16*i:]), tenant: check(c.Tenant[i]), other: check(c.Other[i])}
	}
	v.latest = s.Latest
	v.progress.Set(s.Seq)
	v.tickets = make(map[ticketKey]ticketLoad, n)
	for i := range n {
		k := key(ts.Keys, i)
		load := ticketLoad{hash: [32]byte(ts.Hash[32*i:]), group: check(ts.Group[i]), agent: check(ts.Agent[i]),
			resolvedAt: ts.ResolvedAt[i], open: ts.Open[i]}
		v.tickets[k] = load
		v.count(k.tenant, load, +1)
	}
	v.resolved = make([]resolvedAt, len(rs.At))
	for i, at := range rs.At {
		v.resolved[i] = resolvedAt{ticket: key(rs.Keys, i), at: at}
	}
	for _, a := range s.Assignments {
		v.assignments[nameKey{check(a.Tenant), check(a.Name)}] = a.N
	}
	if bad {
		return nil, errSnapshotShape
	}
	return v, nil
}

// makeTickets is empty columns with room for n tickets.
func makeTickets(n int) snapshotTickets {
	return snapshotTickets{Keys: snapshotKeys{Tenant: make([]uint32, 0, n), UUID: make([]byte, 0, 16*n), Other: make([]uint32, 0, n)},
		Group: make([]uint32, 0, n), Agent: make([]uint32, 0, n), Open: make([]bool, 0, n), ResolvedAt: make([]uint32, 0, n),
		Hash: make([]byte, 0, 32*n)}
}

// ticketBytes is less than a ticket takes in a snapshot (its hash and UUID alone): a
// snapshot of size bytes that claims more than size/ticketBytes tickets is refused before
// its columns are made for them.
const ticketBytes = 32 + 16

// segment is tickets i to j of the columns.
func (ts snapshotTickets) segment(i, j int) snapshotTickets {
	return snapshotTickets{Keys: snapshotKeys{Tenant: ts.Keys.Tenant[i:j], UUID: ts.Keys.UUID[16*i : 16*j], Other: ts.Keys.Other[i:j]},
		Group: ts.Group[i:j], Agent: ts.Agent[i:j], Open: ts.Open[i:j], ResolvedAt: ts.ResolvedAt[i:j], Hash: ts.Hash[32*i : 32*j]}
}

// add appends seg's tickets to the columns.
func (ts *snapshotTickets) add(seg snapshotTickets) {
	ts.Keys.Tenant, ts.Keys.UUID, ts.Keys.Other = append(ts.Keys.Tenant, seg.Keys.Tenant...), append(ts.Keys.UUID, seg.Keys.UUID...), append(ts.Keys.Other, seg.Keys.Other...)
	ts.Group, ts.Agent, ts.Open = append(ts.Group, seg.Group...), append(ts.Agent, seg.Agent...), append(ts.Open, seg.Open...)
	ts.ResolvedAt, ts.Hash = append(ts.ResolvedAt, seg.ResolvedAt...), append(ts.Hash, seg.Hash...)
}

// encodeSnapshot writes s as snapshotFormat says; its columns must hold equally many
// tickets (View.snapshot makes them so).
func encodeSnapshot(w io.Writer, s viewSnapshot) error {
	enc := gob.NewEncoder(w)
	if err := enc.Encode(snapshotFormat); err != nil {
		return err
	}
	tickets := s.Tickets
	s.Tickets, s.TicketCount = snapshotTickets{}, len(tickets.Group)
	if err := enc.Encode(s); err != nil {
		return err
	}
	for i := 0; i < s.TicketCount; i += snapshotSegment {
		if err := enc.Encode(tickets.segment(i, min(i+snapshotSegment, s.TicketCount))); err != nil {
			return err
		}
	}
	return nil
}

// errSnapshotFormat is a snapshot written in another format.
var errSnapshotFormat = errors.New("routing: snapshot of another format")

// decodeSnapshot reads what encodeSnapshot wrote, size bytes, then r to its end (an
// object's digest is checked there).
func decodeSnapshot(r io.Reader, size uint64) (viewSnapshot, error) {
	dec := gob.NewDecoder(r)
	var format int
	if err := dec.Decode(&format); err != nil {
		return viewSnapshot{}, err
	}
	if format != snapshotFormat {
		return viewSnapshot{}, fmt.Errorf("%w: %d, this build reads %d", errSnapshotFormat, format, snapshotFormat)
	}
	var s viewSnapshot
	if err := dec.Decode(&s); err != nil {
		return viewSnapshot{}, err
	}
	if s.TicketCount < 0 || uint64(s.TicketCount) > size/ticketBytes || len(s.Tickets.Group) != 0 {
		return viewSnapshot{}, errSnapshotShape
	}
	s.Tickets = makeTickets(s.TicketCount)
	for len(s.Tickets.Group) < s.TicketCount {
		var seg snapshotTickets
		if err := dec.Decode(&seg); err != nil {
			return viewSnapshot{}, fmt.Errorf("tickets %d of %d: %w", len(s.Tickets.Group), s.TicketCount, err)
		}
		if len(seg.Group) == 0 {
			return viewSnapshot{}, errSnapshotShape
		}
		s.Tickets.add(seg)
	}
	s.TicketCount = 0
	if _, err := io.Copy(io.Discard, r); err != nil {
		return viewSnapshot{}, err
	}
	return s, nil
}

// loadView is the view of the store's log's snapshot when it has a usable one, else an
// empty one, and the log's last sequence, read after the snapshot (so that a snapshot
// another replica put meanwhile is not taken for one ahead of the log).
func loadView(ctx context.Context, store *events.Store, log *zap.Logger) (*View, uint64, error) {
	started := time.Now()
	v, err := readSnapshot(ctx, store)
	last, lastErr := store.LastSequence(ctx)
	if lastErr != nil {
		return nil, 0, lastErr
	}
	if err == nil && v.Seq() > last {
		err = fmt.Errorf("the snapshot is at sequence %d, the log ends at %d (an older copy of the store?)", v.Seq(), last)
	}
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		log.Info("routing view: no snapshot yet; reading the whole log")
		return NewView(), last, nil
	case err != nil:
		log.Warn("routing view: snapshot not used; reading the whole log", zap.Error(err))
		return NewView(), last, nil
	}
	log.Info("routing view: read from its snapshot", zap.Uint64("seq", v.Seq()), zap.Int("tickets", len(v.tickets)),
		zap.Duration("took", time.Since(started)))
	return v, last, nil
}

// readSnapshot reads the view's snapshot, checks that it belongs to the store's log (its
// creation; loadView checks that it is not ahead of the log) and restores the view from it.
func readSnapshot(ctx context.Context, store *events.Store) (*View, error) {
	ctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	obs, err := store.ReadJetStream().ObjectStore(ctx, SnapshotBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s (provisioned with admin credentials): %w", SnapshotBucket, err)
	}
	res, err := obs.Get(ctx, viewObject)
	if err != nil {
		return nil, err
	}
	defer func() { _ = res.Close() }()
	info, err := res.Info()
	if err != nil {
		return nil, err
	}
	s, err := decodeSnapshot(res, info.Size)
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	if created := store.Created(); !s.Log.Equal(created) {
		return nil, fmt.Errorf("the snapshot is of a log created %s, this one was created %s", s.Log, created)
	}
	return restoreView(s)
}

// snapshotter writes the view's snapshots of a leading replica, one at a time, off the
// view's goroutine.
type snapshotter struct {
	store   *events.Store
	view    *View
	leads   func() bool
	log     *zap.Logger
	pending chan viewSnapshot
	done    chan struct{}

	every       time.Duration // SnapshotInterval
	everyEvents uint64        // SnapshotEvents

	mu      sync.Mutex
	taken   time.Time // when the last snapshot was taken
	takenAt uint64    // and its sequence
}

func newSnapshotter(store *events.Store, view *View, leads func() bool, log *zap.Logger) *snapshotter {
	sn := &snapshotter{store: store, view: view, leads: leads, log: log, pending: make(chan viewSnapshot, 1),
		done: make(chan struct{}), every: SnapshotInterval, everyEvents: SnapshotEvents, taken: time.Now(), takenAt: view.Seq()}
	go func() {
		defer close(sn.done)
		for s := range sn.pending {
			sn.write(s, snapshotTimeout)
		}
	}()
	return sn
}

// maybe takes a snapshot when this replica leads and one is due (see SnapshotEvents);
// the view's goroutine calls it after each event.
func (sn *snapshotter) maybe() {
	sn.mu.Lock()
	moved := sn.view.Seq() - sn.takenAt
	due := moved > 0 && (time.Since(sn.taken) >= sn.every || moved >= sn.everyEvents)
	sn.mu.Unlock()
	if due && sn.leads() {
		sn.take()
	}
}

// take captures the view and hands it to the writer, unless a write is still pending.
func (sn *snapshotter) take() {
	s := sn.view.snapshot(sn.store.Created())
	select {
	case sn.pending <- s:
		sn.mu.Lock()
		sn.taken, sn.takenAt = time.Now(), s.Seq
		sn.mu.Unlock()
	default:
	}
}

// close waits for the pending write, then writes a last snapshot when this replica leads
// and the view moved since the last one. The view must not move any more.
func (sn *snapshotter) close() {
	close(sn.pending)
	<-sn.done
	sn.mu.Lock()
	moved := sn.view.Seq() > sn.takenAt
	sn.mu.Unlock()
	if moved && sn.leads() {
		sn.write(sn.view.snapshot(sn.store.Created()), stopSnapshotTimeout)
	}
}

// snapshotTimeout bounds one snapshot's write or read; stopSnapshotTimeout, the write of
// a stopping replica, which should not hold its shutdown up for long.
const (
	snapshotTimeout     = time.Minute
	stopSnapshotTimeout = 10 * time.Second
)

// write puts a snapshot as the view's object and sweeps away the chunks of any other
// (a put that was killed halfway, or raced another replica's); it logs what fails.
func (sn *snapshotter) write(s viewSnapshot, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	started := time.Now()
	obs, err := sn.store.ReadJetStream().ObjectStore(ctx, SnapshotBucket)
	if err != nil {
		sn.log.Warn("routing view: snapshot not written", zap.Error(err))
		return
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(encodeSnapshot(pw, s)) }()
	info, err := obs.Put(ctx, jetstream.ObjectMeta{Name: viewObject,
		Description: fmt.Sprintf("routing load view at sequence %d, format %d", s.Seq, snapshotFormat)}, pr)
	_ = pr.CloseWithError(err) // unblocks the encoder when Put gave up
	if err != nil {
		sn.log.Warn("routing view: snapshot not written", zap.Uint64("seq", s.Seq), zap.Error(err))
		return
	}
	if err := sweepChunks(ctx, sn.store.ReadJetStream(), info.NUID); err != nil {
		sn.log.Warn("routing view: could not sweep the chunks of abandoned snapshots", zap.Error(err))
	}
	sn.log.Info("routing view: snapshot written", zap.Uint64("seq", s.Seq), zap.Int("tickets", len(s.Tickets.Group)),
		zap.Uint64("bytes", info.Size), zap.Duration("took", time.Since(started)))
}

// sweepChunks purges every chunk subject of the bucket but the object's (keep), so that
// puts that never finished leave nothing behind. (The object store keeps no list of
// them.) A put of another replica in flight at that moment loses its chunks: its object
// then fails its digest, and is ignored, until the next snapshot; two replicas lead at
// once only while their leases disagree.
func sweepChunks(ctx context.Context, js jetstream.JetStream, keep string) error {
	stream, err := js.Stream(ctx, "OBJ_"+SnapshotBucket)
	if err != nil {
		return err
	}
	prefix := "$O." + SnapshotBucket + ".C."
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return err
	}
	for subject := range info.State.Subjects {
		if nuid, ok := strings.CutPrefix(subject, prefix); ok && nuid != keep {
			if err := stream.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
				return err
			}
		}
	}
	return nil
}
