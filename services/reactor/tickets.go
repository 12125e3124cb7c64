package reactor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// Ticket handlers run on partitioned, batched consumers of our own rather than inside
// the watermill Router (which the message-at-a-time routes keep): a Router handler
// takes one message, while a ticket handler folds a whole batch per ticket, appends the
// batch's decisions as atomic batches and only then acks.

// ticketHandler is one React registration.
type ticketHandler struct {
	svc    *Service
	name   string // the handler's name
	base   string // "<service>-<handler>": the durable consumers' names without the partition
	decide Decider
}

// concurrency bounds for the I/O a batch fans out: loading histories and running Then.
const ioConcurrency = 32

// safeDecide calls the Decider, turning a panic into an error (the causes are then
// retried and dead-lettered like any failure).
func (h *ticketHandler) safeDecide(ctx context.Context, t events.Trail, causes []events.Raw) (d Decision, err error) {
	err = protect(func() (err error) { d, err = h.decide(ctx, t, causes); return err })
	return d, err
}

// protect runs f and returns its error, or a panic in it as an error.
func protect(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f()
}

// ticketWork is one ticket of a batch.
type ticketWork struct {
	id       string
	msgs     []jetstream.Msg // every message of the ticket in the batch, to settle
	raws     []events.Raw    // their events, in stream order
	trail    *events.Trail   // nil until resolved
	causes   []events.Raw    // the events the trail accepts, to decide on
	decision Decision
	err      error // set: the ticket's messages are redelivered (or dead-lettered)
}

// partition is one partition consumed by one handler: its durable consumer and the trails
// of its tickets. A partition's trails are dropped when the replica gives it up, so a
// trail never misses what another replica appended meanwhile.
type partition struct {
	h        *ticketHandler
	p        int
	durable  string
	trails   *lru.Cache[string, *events.Trail]
	later    sync.WaitGroup  // Decision.Later jobs still running
	laterCtx context.Context // Later jobs' context: ends when the partition is given up
}

func (h *ticketHandler) newPartition(p int, later context.Context) (*partition, error) {
	perPartition := max(h.svc.cfg.CachedTickets/h.svc.partitions(), 64)
	trails, err := lru.New[string, *events.Trail](perPartition)
	if err != nil {
		return nil, err
	}
	return &partition{h: h, p: p, durable: partitionConsumer(h.base, p), trails: trails, laterCtx: later}, nil
}

// unpin drops the partition consumer's pin, whoever holds it, so that the next pull
// (this replica's or another's) is pinned at once.
func (pt *partition) unpin() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s, err := pt.h.svc.store.JetStream().Stream(ctx, events.StreamName); err == nil {
		_ = s.UnpinConsumer(ctx, pt.durable, priorityGroup)
	}
}

// consume runs the partition's consumer until quit is closed (nil) or ctx ends: it
// fetches batches and handles each; started is called once it consumes. On the way out it
// finishes the batch in hand, naks what it fetched beyond it, waits for its Later jobs
// and unpins itself, so that the next owner starts at once.
func (pt *partition) consume(ctx context.Context, quit <-chan struct{}, started func()) error {
	svc := pt.h.svc
	js := svc.store.JetStream()
	cons, err := js.CreateOrUpdateConsumer(ctx, events.StreamName, jetstream.ConsumerConfig{
		Durable:        pt.durable,
		Description:    fmt.Sprintf("ledgerdesk %s, handler %s, partition %d", svc.name, pt.h.name, pt.p),
		FilterSubject:  partitionFilter(pt.p),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        svc.cfg.AckWait,
		MaxAckPending:  svc.cfg.MaxAckPending,
		MaxDeliver:     -1,
		PriorityGroups: []string{priorityGroup},
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PinnedTTL:      PinnedTTL,
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", pt.durable, err)
	}
	defer svc.cfg.Metrics.WatchConsumer(pt.durable, cons.Info)()
	defer func() {
		pt.later.Wait()
		pt.unpin()
	}()
	handle := svc.cfg.Metrics.Batches(pt.durable, func(batch []jetstream.Msg) { pt.handle(ctx, batch) })
	return ConsumeBatches(ctx, cons, svc.cfg.BatchSize, quit, started, handle,
		jetstream.PullPriorityGroup(priorityGroup), jetstream.PullExpiry(PinnedTTL/2),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrPinIDMismatch) {
				svc.log.Debug("consumer", zap.String("consumer", pt.durable), zap.Error(err))
			}
		}))
}

// ConsumeBatches consumes cons until quit is closed (nil) or ctx ends, handing handle
// the messages in batches of at most size: what arrived while the previous batch was
// handled, so a batch grows with the load and a lone message waits for nothing. started
// is called once it consumes. On the way out it finishes the batch in hand and naks what
// it fetched beyond it. It returns an error when the server ends the consumption (the
// consumer was deleted): it never waits on a consumer that delivers nothing more. opts
// are the pull options beyond the batch size (a priority group, an expiry, an error
// handler).
func ConsumeBatches(ctx context.Context, cons jetstream.Consumer, size int, quit <-chan struct{}, started func(),
	handle func([]jetstream.Msg), opts ...jetstream.PullConsumeOpt) error {
	in := make(chan jetstream.Msg, size)
	stop := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case <-stop:
			_ = m.Nak()
			return
		default:
		}
		select {
		case in <- m:
		case <-stop:
			_ = m.Nak()
		}
	}, append([]jetstream.PullConsumeOpt{jetstream.PullMaxMessages(size)}, opts...)...)
	if err != nil {
		return fmt.Errorf("consume %s: %w", cons.CachedInfo().Name, err)
	}
	started()
	defer func() {
		close(stop)
		cc.Stop()
		for drained := false; !drained; {
			select {
			case m := <-in:
				_ = m.Nak()
			default:
				drained = true
			}
		}
	}()
	batch := make([]jetstream.Msg, 0, size)
	for {
		batch = batch[:0]
		select { // giving up first: the select below picks at random among ready cases
		case <-quit:
			return nil
		case <-ctx.Done():
			return nil
		default:
		}
		select {
		case <-quit:
			return nil
		case <-ctx.Done():
			return nil
		case <-cc.Closed():
			return fmt.Errorf("consume %s: ended by the server (the consumer deleted?)", cons.CachedInfo().Name)
		case m := <-in:
			batch = append(batch, m)
		}
	gather:
		for len(batch) < size {
			select {
			case m := <-in:
				batch = append(batch, m)
			default:
				break gather
			}
		}
		handle(batch)
	}
}

// handle handles one batch: decode, group by ticket, resolve each ticket's trail, fold
// and verify, decide, record, run Then, settle.
func (pt *partition) handle(ctx context.Context, msgs []jetstream.Msg) {
	svc := pt.h.svc
	works := pt.group(ctx, msgs)
	pt.resolve(ctx, works)
	for _, w := range works {
		if w.err == nil {
			pt.fold(ctx, w)
		}
	}
	if svc.configs != nil {
		if err := svc.configs.Sync(ctx); err != nil {
			for _, w := range works {
				w.err = errors.Join(w.err, err)
			}
		}
	}
	pt.decide(ctx, works)
	// The tickets that append are brought to their heads and decided again when other
	// writers moved them on: most events decide nothing, and those need no read.
	pt.decide(ctx, pt.catchUp(ctx, works))
	pt.record(ctx, works)
	pt.then(ctx, works)
	for _, w := range works {
		pt.settle(ctx, w)
	}
}

// group decodes the batch into its tickets, in order of first appearance; a message that
// is no ledgerdesk event is dead-lettered and acked at once.
func (pt *partition) group(ctx context.Context, msgs []jetstream.Msg) []*ticketWork {
	var works []*ticketWork
	byID := map[string]*ticketWork{}
	for _, m := range msgs {
		r, err := rawOf(m)
		if err != nil {
			var refused events.Refused
			if errors.As(err, &refused) {
				pt.refuse(ctx, refused, m)
			} else {
				pt.h.svc.log.Error("message without metadata; redelivered", correlationField(m), zap.Error(err))
				_ = m.NakWithDelay(time.Second)
			}
			continue
		}
		w := byID[r.TicketID]
		if w == nil {
			w = &ticketWork{id: r.TicketID}
			byID[r.TicketID] = w
			works = append(works, w)
		}
		w.msgs, w.raws = append(w.msgs, m), append(w.raws, r)
	}
	return works
}

// rawOf decodes a message of the ticket log; one that is not a ledgerdesk event gives an
// *events.Undecodable.
func rawOf(m jetstream.Msg) (events.Raw, error) {
	meta, err := m.Metadata()
	if err != nil {
		return events.Raw{}, err
	}
	seq := meta.Sequence.Stream
	r, err := events.FromMsg(m.Subject(), m.Headers(), m.Data(), seq)
	if err != nil {
		return events.Raw{}, &events.Undecodable{Sequence: seq, Subject: m.Subject(), Header: m.Headers(), Data: m.Data(), Err: err}
	}
	return r, nil
}

// resolve finds each ticket's trail: the partition's own; else, for an event that starts
// its ticket, a new one; else one batched read of the ticket's history, on its literal
// stored subject when no other tenant's subject holds the id. An event the server proved
// to start its ticket (Raw.StartsTicket: every new ticket's first event) tells it alone;
// for the others one request for the batch (Store.SubjectsOf) tells both.
func (pt *partition) resolve(ctx context.Context, works []*ticketWork) {
	store := pt.h.svc.store
	var missing []*ticketWork
	var ids []string
	for _, w := range works {
		if t, ok := pt.trails.Get(w.id); ok {
			w.trail = t
			continue
		}
		if w.raws[0].StartsTicket() {
			w.trail = &events.Trail{}
			continue
		}
		missing = append(missing, w)
		ids = append(ids, w.id)
	}
	if len(missing) == 0 {
		return
	}
	// Without the subjects every missing ticket is read whole: exact, only slower.
	subjects, err := store.SubjectsOf(ctx, ids)
	if err != nil {
		pt.h.svc.log.Warn("could not read the batch's new tickets' subjects at once; reading their histories", zap.Error(err))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(ioConcurrency)
	for _, w := range missing {
		first := w.raws[0]
		if subjects.Started(first) {
			w.trail = &events.Trail{}
			continue
		}
		g.Go(func() error {
			var t events.Trail
			var err error
			if subjects.OwnOnly(pt.p, first.Tenant, w.id) {
				t, err = store.FollowOwnTrail(gctx, pt.p, first.Tenant, w.id)
			} else {
				t, err = store.FollowTrail(gctx, w.id)
			}
			if err != nil {
				w.err = fmt.Errorf("load ticket %s: %w", w.id, err)
				return nil
			}
			compact(&t)
			w.trail = &t
			return nil
		})
	}
	_ = g.Wait()
}

// fold takes the batch's events of a ticket into its trail with the chain rule; the ones
// the chain accepts become causes, the others are dead-lettered.
func (pt *partition) fold(ctx context.Context, w *ticketWork) {
	for i, r := range w.raws {
		err := pt.take(ctx, w, r)
		var rejected *events.RejectedError
		switch {
		case err == nil:
			w.causes = append(w.causes, r)
		case errors.As(err, &rejected):
			pt.refuse(ctx, rejected, w.msgs[i])
			w.msgs[i] = nil // settled
		default:
			w.err = err
			return
		}
	}
}

// take judges one event of the batch against the ticket's trail: nil when the chain
// accepts it, its *events.RejectedError when it refuses it, another error when it cannot
// tell yet. An event the trail has not seen is linked to it; one it has seen is judged as
// the trail did. A refusal, or an event seen but never judged (the trail caught up past
// it on its own subject), is judged again on the stored history: a trail that missed
// events (another replica held the partition for a while) is replaced, never trusted
// over the log.
func (pt *partition) take(ctx context.Context, w *ticketWork, r events.Raw) error {
	if r.Sequence > w.trail.Seen() {
		err := w.trail.Extend(r)
		var rejected *events.RejectedError
		if err == nil {
			w.trail.Raws[len(w.trail.Raws)-1].RawData = nil
			return nil
		}
		if !errors.As(err, &rejected) {
			return err
		}
	} else if w.trail.Holds(r.Sequence) {
		return nil
	} else if err := w.trail.Refusal(r.Sequence); err != nil {
		return err
	}
	t, err := pt.h.svc.store.FollowTrail(ctx, w.id)
	if err != nil {
		return fmt.Errorf("judge event seq %d: load ticket %s: %w", r.Sequence, w.id, err)
	}
	compact(&t)
	*w.trail = t
	if t.Holds(r.Sequence) {
		return nil
	}
	if err := t.Refusal(r.Sequence); err != nil {
		return err
	}
	return fmt.Errorf("event seq %d of ticket %s is neither held nor refused by its stored history", r.Sequence, w.id)
}

// decide takes each ticket's decision on its causes and trail.
func (pt *partition) decide(ctx context.Context, works []*ticketWork) {
	for _, w := range works {
		if w.err == nil && len(w.causes) > 0 {
			w.decision, w.err = pt.h.safeDecide(ctx, *w.trail, w.causes)
		}
	}
}

// catchUp brings the trails of the tickets whose decision appends to their heads, which
// other writers may have moved past the consumer's position (SLA appends to a ticket while
// routing has yet to consume it), and returns those it moved: one request for every such
// ticket's last message, once the process's committer holds no append of them
// (Committer.Settle); a trail takes in what that committer appended after it
// (Committer.After), then, one event behind, that event (it links to the trail's head),
// or, further behind, reads the events between (one direct get each). When every writer
// of the log appends through the committer (Config.SoleCommitter), a ticket it remembers
// is brought to the head it knows (Committer.Last) without the read.
// Deciding on a trail at its head is what keeps the batch's appends from conflicting.
// The events taken in ahead become causes when the consumer delivers them.
func (pt *partition) catchUp(ctx context.Context, works []*ticketWork) []*ticketWork {
	svc, store := pt.h.svc, pt.h.svc.store
	tickets := map[string]string{}
	for _, w := range works {
		if w.err == nil && len(w.decision.Events) > 0 && len(w.trail.Raws) > 0 {
			tickets[w.id] = w.trail.Head.Tenant
		}
	}
	if len(tickets) == 0 {
		return nil
	}
	ids := make([]string, 0, len(tickets))
	for id := range tickets {
		ids = append(ids, id)
	}
	svc.committer.Settle(ctx, ids)
	var moved []*ticketWork
	if svc.cfg.SoleCommitter {
		for _, w := range works {
			tenant, appends := tickets[w.id]
			if !appends {
				continue
			}
			last, known := svc.committer.Last(w.id, tenant)
			if !known {
				continue
			}
			seen := w.trail.Seen()
			w.trail.Recorded(svc.committer.After(w.id, w.trail.Version, w.trail.Head.Hash))
			if w.trail.Seen() > seen {
				moved = append(moved, w)
			}
			if w.trail.Seen() >= last {
				delete(tickets, w.id)
			}
		}
		if len(tickets) == 0 {
			return moved
		}
	}
	heads, err := store.Heads(ctx, pt.p, tickets)
	if err != nil {
		svc.log.Warn("could not read the tickets' heads; appending on the consumer's view", zap.Error(err))
		return moved
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(ioConcurrency)
	for _, w := range works {
		head, ok := heads[w.id]
		if !ok || w.err != nil || head.Sequence <= w.trail.Seen() {
			continue
		}
		if !slices.Contains(moved, w) {
			moved = append(moved, w)
		}
		// What this process's other handlers appended needs no read (in `ledgerdesk run`,
		// SLA finds routing's events of a new ticket so).
		for _, e := range svc.committer.After(w.id, w.trail.Version, w.trail.Head.Hash) {
			if e.Sequence <= head.Sequence {
				w.trail.Recorded([]events.Event{e})
			}
		}
		if w.trail.Seen() >= head.Sequence {
			continue
		}
		if _, err := w.trail.Head.Link(head); err == nil {
			_ = w.trail.Extend(head)
			compact(w.trail)
			continue
		}
		g.Go(func() error {
			missed, err := store.Between(gctx, head.Partition, w.trail.Head.Tenant, w.id, w.trail.Seen(), head.Sequence-1)
			if err != nil {
				w.err = fmt.Errorf("catch up with ticket %s: %w", w.id, err)
				return nil
			}
			for _, r := range append(missed, head) {
				_ = w.trail.Extend(r) // a refusal is kept; the consumer dead-letters it on delivery
			}
			compact(w.trail)
			return nil
		})
	}
	_ = g.Wait()
	return moved
}

// compact drops the stored bytes of a trail's events: decisions need the decoded events,
// and memory is what bounds how many trails a replica keeps.
func compact(t *events.Trail) {
	for i := range t.Raws {
		t.Raws[i].RawData = nil
	}
}

// record appends every ticket's decided events through the group committer, all at once;
// a ticket whose append lost a race decides again on its fresh history.
func (pt *partition) record(ctx context.Context, works []*ticketWork) {
	svc := pt.h.svc
	var appends []events.Append
	var owners []*ticketWork
	for _, w := range works {
		if w.err != nil {
			continue
		}
		if a, ok := svc.appendOf(w.trail, w.causes, w.decision.Events); ok {
			appends = append(appends, a)
			owners = append(owners, w)
		}
	}
	if len(appends) == 0 {
		return
	}
	results := svc.committer.AppendAll(ctx, appends)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(ioConcurrency)
	for i, res := range results {
		w := owners[i]
		switch {
		case res.Err == nil && !res.Duplicate:
			w.trail.Recorded(res.Events)
		case res.Err == nil, errors.Is(res.Err, events.ErrConflict), errors.Is(res.Err, events.ErrDuplicate):
			g.Go(func() error { pt.redecide(gctx, w); return nil })
		default:
			w.err = fmt.Errorf("%s: append to ticket %s: %w", svc.name, w.id, res.Err)
		}
	}
	_ = g.Wait()
}

// redecide is the lost-race path: the one update path (events.Store.Update) decides
// again on the causes the history holds, appends, and repeats after another lost race.
// It first tries the trail with what the process's committer appended after it (the
// race lost to another handler of the process), then loads the ticket's history.
func (pt *partition) redecide(ctx context.Context, w *ticketWork) {
	svc := pt.h.svc
	var decision Decision
	w.trail.Recorded(svc.committer.After(w.id, w.trail.Version, w.trail.Head.Hash))
	up, err := svc.store.Update(ctx, w.id, func(t events.Trail) ([]events.Event, error) {
		var causes []events.Raw
		for _, c := range w.causes {
			if t.Holds(c.Sequence) {
				causes = append(causes, c)
			}
		}
		var err error
		if decision, err = pt.h.safeDecide(ctx, t, causes); err != nil {
			return nil, err
		}
		a, _ := svc.appendOf(&t, causes, decision.Events)
		return a.Events, nil
	}, events.UpdateOptions{Via: svc.committer, From: w.trail})
	if err != nil {
		w.err = err
		return
	}
	compact(&up.Trail)
	up.Trail.Recorded(up.Events)
	*w.trail, w.decision = up.Trail, decision
}

// appendOf is the append of a ticket's decided events behind its trail, with the
// envelope filled in; false when every event is recorded already.
func (s *Service) appendOf(t *events.Trail, causes []events.Raw, decided []events.Event) (events.Append, bool) {
	fresh := make([]events.Event, 0, len(decided))
	for _, e := range decided {
		if e.ID != "" && t.Has(e.ID) {
			continue
		}
		e.Source, e.Actor = s.source, s.actor
		if e.CausationID == "" && len(causes) > 0 {
			e.CausationID = causes[len(causes)-1].ID
		}
		if e.CorrelationID == "" && len(causes) > 0 {
			e.CorrelationID = CorrelationOf(causes[len(causes)-1].Event)
		}
		fresh = append(fresh, e)
	}
	if len(fresh) == 0 {
		return events.Append{}, false
	}
	return events.Append{Tenant: t.Head.Tenant, TicketID: t.Raws[0].TicketID, ExpectedVersion: t.Version,
		PrevHash: t.Head.Hash, Events: fresh}, true
}

// then runs the recorded tickets' Then, all at once: what they hand to a group commit
// (SLA's timers) shares its batches.
func (pt *partition) then(ctx context.Context, works []*ticketWork) {
	g, gctx := errgroup.WithContext(ctx)
	for _, w := range works {
		if w.err == nil && w.decision.Then != nil {
			g.Go(func() error { w.err = protect(func() error { return w.decision.Then(gctx) }); return nil })
		}
	}
	_ = g.Wait()
}

// settle acks a handled ticket's messages (after its Later, when it has one), or
// redelivers a failed one's with a backoff, or dead-letters a message that failed
// MaxRetries times. It keeps the ticket's trail, unless the ticket is closed or cancelled.
func (pt *partition) settle(ctx context.Context, w *ticketWork) {
	if w.trail != nil {
		if state := w.trail.Ticket().State; w.err == nil && (state == events.StateClosed || state == events.StateCancelled) {
			pt.trails.Remove(w.id)
		} else {
			pt.trails.Add(w.id, w.trail)
		}
	}
	if w.err != nil {
		pt.fail(ctx, w.msgs, w.err)
		return
	}
	if w.decision.Later == nil {
		for _, m := range w.msgs {
			if m != nil {
				_ = m.Ack()
			}
		}
		return
	}
	pt.later.Add(1)
	go pt.runLater(pt.laterCtx, w)
}

// runLater runs a ticket's Later off the batch and settles its messages when it returns.
func (pt *partition) runLater(ctx context.Context, w *ticketWork) {
	svc := pt.h.svc
	defer pt.later.Done()
	// Keep the messages from being redelivered while the work waits on the outside world.
	progress := time.NewTicker(svc.cfg.AckWait / 3)
	defer progress.Stop()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-progress.C:
				for _, m := range w.msgs {
					if m != nil {
						_ = m.InProgress()
					}
				}
			}
		}
	}()
	var evs []events.Event
	err := protect(func() (err error) { evs, err = w.decision.Later(ctx); return err })
	if err == nil && len(evs) > 0 {
		_, err = svc.store.Update(ctx, w.id, func(t events.Trail) ([]events.Event, error) {
			a, _ := svc.appendOf(&t, w.causes, evs)
			return a.Events, nil
		}, events.UpdateOptions{Via: svc.committer})
	}
	close(done)
	if err != nil {
		pt.fail(ctx, w.msgs, err)
		return
	}
	for _, m := range w.msgs {
		if m != nil {
			_ = m.Ack()
		}
	}
}

// fail redelivers messages after a backoff that doubles with each delivery (up to 64 ×
// RetryInterval), or, once a message has been delivered more than MaxRetries times,
// dead-letters it with the error, unless the error is the log's being unavailable
// (events.Unavailable): that is retried for as long as it lasts.
func (pt *partition) fail(ctx context.Context, msgs []jetstream.Msg, cause error) {
	svc := pt.h.svc
	for _, m := range msgs {
		if m == nil {
			continue
		}
		delivered := uint64(1)
		if meta, err := m.Metadata(); err == nil {
			delivered = meta.NumDelivered
		}
		if ctx.Err() == nil && delivered > uint64(svc.cfg.MaxRetries) && !events.Unavailable(cause) {
			svc.log.Error("gave up on a message: dead-lettered", zap.String("handler", pt.h.name), correlationField(m),
				zap.String("subject", m.Subject()), zap.Uint64("deliveries", delivered), zap.Error(cause))
			if err := svc.dlq.GiveUp(ctx, pt.h.base, m, cause); err != nil {
				svc.log.Error("dead-letter a message", zap.Error(err))
				_ = m.NakWithDelay(svc.cfg.RetryInterval)
				continue
			}
			_ = m.Ack()
			continue
		}
		delay := svc.cfg.RetryInterval << min(delivered-1, 6)
		if ctx.Err() != nil {
			delay = 0 // shutting down: the next owner takes it at once
		} else {
			svc.log.Warn("handling failed; redelivering", zap.String("handler", pt.h.name), correlationField(m), zap.String("subject", m.Subject()),
				zap.Uint64("deliveries", delivered), zap.Duration("after", delay), zap.Error(cause))
		}
		_ = m.NakWithDelay(delay)
	}
}

// correlationField names the correlation id of a message of the log in a log line about
// it: its ce-correlationid, else (an event that started its chain of causes) its ce-id.
func correlationField(m jetstream.Msg) zap.Field {
	h := m.Headers()
	id := h.Get(events.HeaderCorrelationID)
	if id == "" {
		id = h.Get(events.HeaderID)
	}
	return zap.String("correlation_id", id)
}

// refuse dead-letters a message of the log the chain refuses and acks it.
func (pt *partition) refuse(ctx context.Context, refused events.Refused, m jetstream.Msg) {
	svc := pt.h.svc
	svc.log.Error("refused an event of the log: dead-lettered, not acted on", zap.String("handler", pt.h.name), correlationField(m),
		zap.Uint64("seq", refused.Seq()), zap.String("subject", m.Subject()), zap.Error(refused))
	if err := svc.dlq.Refuse(ctx, pt.h.base, refused); err != nil {
		svc.log.Error("dead-letter a refused event", zap.Error(err))
		_ = m.NakWithDelay(svc.cfg.RetryInterval)
		return
	}
	_ = m.Ack()
}
