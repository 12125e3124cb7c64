package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// ErrCommitterClosed is returned by Committer.Append (and a Group's Do) after Close.
var ErrCommitterClosed = errors.New("events: committer closed")

// Group gathers concurrent requests into groups committed together (group commit): with
// JetStream syncing every write, one fsync then answers many requests. Workers each take
// whatever requests are waiting, up to max units (size of each request), and hand them to
// commit, which answers each in order. It is safe for concurrent use.
type Group[T, R any] struct {
	commit  func([]T) []R
	size    func(T) int
	max     int
	queue   chan groupItem[T, R]
	wg      sync.WaitGroup
	closeMu sync.RWMutex
	closed  bool
}

type groupItem[T, R any] struct {
	req  T
	done chan R
}

// NewGroup starts workers goroutines (default 2) committing groups of at most max units.
// While one group waits for its fsync the other workers gather the next.
func NewGroup[T, R any](workers, max int, size func(T) int, commit func([]T) []R) *Group[T, R] {
	if workers <= 0 {
		workers = 2
	}
	g := &Group[T, R]{commit: commit, size: size, max: max, queue: make(chan groupItem[T, R], 4*max)}
	for range workers {
		g.wg.Add(1)
		go g.work()
	}
	return g
}

// Do queues req and waits for its answer. Once queued a request is committed or refused
// whatever ctx does, so that what the caller hears is what the log holds; ctx bounds the
// wait for a place in the queue only.
func (g *Group[T, R]) Do(ctx context.Context, req T) (R, error) {
	var zero R
	it := groupItem[T, R]{req: req, done: make(chan R, 1)}
	g.closeMu.RLock()
	if g.closed {
		g.closeMu.RUnlock()
		return zero, ErrCommitterClosed
	}
	select {
	case g.queue <- it:
		g.closeMu.RUnlock()
	case <-ctx.Done():
		g.closeMu.RUnlock()
		return zero, ctx.Err()
	}
	return <-it.done, nil
}

// Close stops accepting requests, commits those already queued and waits for the workers.
func (g *Group[T, R]) Close() {
	g.closeMu.Lock()
	if !g.closed {
		g.closed = true
		close(g.queue)
	}
	g.closeMu.Unlock()
	g.wg.Wait()
}

func (g *Group[T, R]) work() {
	defer g.wg.Done()
	for first := range g.queue {
		batch := []groupItem[T, R]{first}
		size := g.size(first.req)
	gather:
		for size < g.max {
			select {
			case it, ok := <-g.queue:
				if !ok {
					break gather
				}
				batch = append(batch, it)
				size += g.size(it.req)
			default:
				break gather
			}
		}
		reqs := make([]T, len(batch))
		for i, it := range batch {
			reqs[i] = it.req
		}
		for i, r := range g.commit(reqs) {
			batch[i].done <- r
		}
	}
}

// Committer gathers concurrent appends into atomic batch appends (a Group over
// Store.AppendBatch). Each append is answered on its own, exactly as Store.AppendBatch
// answers it. The intake's HTTP commands and the reacting services' batches append
// through one. It remembers the last appends of recently appended tickets: it answers an
// append those overtook with ErrConflict without sending it (which would refuse its whole
// atomic batch), and After hands them out. It is safe for concurrent use.
type Committer struct {
	group *Group[Append, Result]

	mu      sync.Mutex // guards pending and orders the updates of recent
	recent  *lru.Cache[string, []recentAppend]
	pending map[string]*pendingAppends // by ticket: the appends queued or being committed
}

// pendingAppends counts a ticket's appends in a Committer; done is closed when the last
// one is answered.
type pendingAppends struct {
	n    int
	done chan struct{}
}

// recentAppend is one append a Committer stored: its events, right after version.
type recentAppend struct {
	version uint64
	events  []Event
}

// Bounds of what a Committer remembers for After and overtaken: the tickets (seconds'
// worth at intake speed: other handlers catch up within a batch or two), and the
// appends of each.
const (
	recentTickets = 4_096
	recentAppends = 4
)

// CommitStats describes one group a Committer committed: what its CommitObserver is told.
type CommitStats struct {
	Appends int // appends in the group
	Events  int // the events they carry
	// The group's answers, one per append: stored, a duplicate of an earlier append
	// (nothing stored), refused as a conflict (the ticket moved on), or failed otherwise.
	Stored, Duplicates, Conflicts, Failed int
	// Duration is the time from taking the group to answering it: the atomic batches and
	// their fsyncs.
	Duration time.Duration
}

// CommitObserver is told of every group a Committer commits, on the committing worker
// after the group is answered: it must be quick and must not block. It is a plain func,
// not a metrics type, so that this module (the vocabulary and the store, which auditors'
// tools and the read models import too) stays free of any metrics library: the services
// turn it into Prometheus collectors (services/metrics).
type CommitObserver func(CommitStats)

// NewCommitter starts workers goroutines (default 2) that each take whatever appends are
// waiting, up to one atomic batch, and commit them together. observe, when not nil, is
// told of every group.
func NewCommitter(store *Store, workers int, observe CommitObserver) *Committer {
	if store == nil {
		panic("events: NewCommitter: nil store")
	}
	recent, _ := lru.New[string, []recentAppend](recentTickets) // errors only on a size ≤ 0
	c := &Committer{recent: recent, pending: map[string]*pendingAppends{}}
	// The batch is not tied to any one request's context: a caller going away must not
	// abort the commit of the others.
	c.group = NewGroup(workers, MaxBatch, func(a Append) int { return len(a.Events) },
		func(appends []Append) []Result {
			start := time.Now()
			results := make([]Result, len(appends))
			var send []Append
			var sent []int
			for i, a := range appends {
				if c.overtaken(a) {
					results[i].Err = fmt.Errorf("%w: ticket %s moved on from version %d (an append of this process)", ErrConflict, a.TicketID, a.ExpectedVersion)
					continue
				}
				send, sent = append(send, a), append(sent, i)
			}
			for k, r := range store.AppendBatch(context.Background(), send) {
				results[sent[k]] = r
			}
			c.remember(appends, results)
			if observe != nil {
				observe(statsOf(appends, results, time.Since(start)))
			}
			return results
		})
	return c
}

// statsOf sums up a group's answers.
func statsOf(appends []Append, results []Result, took time.Duration) CommitStats {
	st := CommitStats{Appends: len(appends), Duration: took}
	for i, a := range appends {
		st.Events += len(a.Events)
		switch r := results[i]; {
		case r.Err == nil && r.Duplicate:
			st.Duplicates++
		case r.Err == nil:
			st.Stored++
		case errors.Is(r.Err, ErrConflict):
			st.Conflicts++
		default:
			st.Failed++
		}
	}
	return st
}

// overtaken reports whether the committer stored an event of a's ticket and tenant after
// a.ExpectedVersion: the server would refuse a, and with it the whole atomic batch.
func (c *Committer) overtaken(a Append) bool {
	last, ok := c.Last(a.TicketID, a.Tenant)
	return ok && last > a.ExpectedVersion
}

// remember keeps the stored appends for After and overtaken.
func (c *Committer) remember(appends []Append, results []Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, a := range appends {
		r := results[i]
		if r.Err != nil || r.Duplicate || len(r.Events) == 0 {
			continue
		}
		kept, _ := c.recent.Peek(a.TicketID)
		if len(kept) == recentAppends {
			kept = kept[1:]
		}
		c.recent.Add(a.TicketID, append(slices.Clone(kept), recentAppend{version: a.ExpectedVersion, events: r.Events}))
	}
}

// After returns the events this committer stored on the ticket right after version (the
// stream sequence of its last message, whose event has hash head), through consecutive
// appends it remembers, in order; none when it remembers no append made on that head.
// They need no check, as Trail.Recorded explains: each append was built on the head
// before it, and its optimistic concurrency proved nothing came between. Another
// handler of the process catches a trail up with them instead of reading the log.
func (c *Committer) After(ticketID string, version uint64, head string) []Event {
	c.mu.Lock()
	kept, _ := c.recent.Peek(ticketID)
	c.mu.Unlock()
	var out []Event
	for _, a := range kept {
		if a.version == version && a.events[0].PrevHash == head {
			out = append(out, a.events...)
			last := a.events[len(a.events)-1]
			version, head = last.Sequence, last.Hash
		}
	}
	return out
}

// Last returns the stream sequence of the last event this committer stored on the
// ticket's subject under tenant, when it remembers one. A process whose every writer of
// the log appends through this committer knows the ticket's head from it.
func (c *Committer) Last(ticketID, tenant string) (uint64, bool) {
	c.mu.Lock()
	kept, _ := c.recent.Peek(ticketID)
	c.mu.Unlock()
	for i := len(kept) - 1; i >= 0; i-- {
		if last := kept[i].events[len(kept[i].events)-1]; last.Tenant == tenant {
			return last.Sequence, true
		}
	}
	return 0, false
}

// Append queues a and waits for its result or, until it is queued, ctx.
func (c *Committer) Append(ctx context.Context, a Append) (Appended, error) {
	c.mu.Lock()
	p := c.pending[a.TicketID]
	if p == nil {
		p = &pendingAppends{done: make(chan struct{})}
		c.pending[a.TicketID] = p
	}
	p.n++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if p.n--; p.n == 0 {
			delete(c.pending, a.TicketID)
			close(p.done)
		}
		c.mu.Unlock()
	}()
	r, err := c.group.Do(ctx, a)
	if err != nil {
		return Appended{}, err
	}
	return r.Appended, r.Err
}

// AppendAll queues every append at once and waits for all their results, in order: a
// consumer's batch shares atomic batches (and their fsync) with whatever else is waiting.
func (c *Committer) AppendAll(ctx context.Context, appends []Append) []Result {
	out := make([]Result, len(appends))
	var wg sync.WaitGroup
	for i, a := range appends {
		wg.Go(func() {
			ap, err := c.Append(ctx, a)
			out[i] = Result{Appended: ap, Err: err}
		})
	}
	wg.Wait()
	return out
}

// Settle returns once none of the tickets has an append queued or being committed (or
// when ctx ends): a handler about to decide on a ticket's head waits for another's
// append instead of losing the race to it, and takes its events in with After.
func (c *Committer) Settle(ctx context.Context, ticketIDs []string) {
	for _, id := range ticketIDs {
		c.mu.Lock()
		p := c.pending[id]
		c.mu.Unlock()
		if p == nil {
			continue
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return
		}
	}
}

// Close stops accepting appends, commits those already queued and waits for the workers.
func (c *Committer) Close() { c.group.Close() }
