package events

import (
	"context"
	"errors"
	"sync"
)

// ErrCommitterClosed is returned by Committer.Append after Close.
var ErrCommitterClosed = errors.New("events: committer closed")

// Committer gathers concurrent appends into atomic batch appends (group commit): with
// JetStream syncing every write, one fsync then acknowledges many tickets. It is safe for
// concurrent use. Each append is answered on its own, exactly as Store.AppendBatch answers
// it. The intake's HTTP commands and the reacting services' batches append through one.
type Committer struct {
	store   *Store
	queue   chan pending
	wg      sync.WaitGroup
	closeMu sync.RWMutex
	closed  bool
}

type pending struct {
	ctx    context.Context
	append Append
	done   chan Result
}

// NewCommitter starts workers goroutines (default 2) that each take whatever appends are
// waiting, up to one atomic batch, and commit them together. While one batch waits for
// its fsync the other workers gather the next.
func NewCommitter(store *Store, workers int) *Committer {
	if store == nil {
		panic("events: NewCommitter: nil store")
	}
	if workers <= 0 {
		workers = 2
	}
	c := &Committer{store: store, queue: make(chan pending, 4*MaxBatch)}
	for range workers {
		c.wg.Add(1)
		go c.work()
	}
	return c
}

// Append queues a and waits for its result or ctx.
func (c *Committer) Append(ctx context.Context, a Append) (Appended, error) {
	p := pending{ctx: ctx, append: a, done: make(chan Result, 1)}
	c.closeMu.RLock()
	if c.closed {
		c.closeMu.RUnlock()
		return Appended{}, ErrCommitterClosed
	}
	select {
	case c.queue <- p:
		c.closeMu.RUnlock()
	case <-ctx.Done():
		c.closeMu.RUnlock()
		return Appended{}, ctx.Err()
	}
	// Once queued the append will be committed or refused; wait for the answer even if
	// the caller gives up, so that what we report is what the log holds.
	r := <-p.done
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

// Close stops accepting appends, commits those already queued and waits for the workers.
func (c *Committer) Close() {
	c.closeMu.Lock()
	if !c.closed {
		c.closed = true
		close(c.queue)
	}
	c.closeMu.Unlock()
	c.wg.Wait()
}

func (c *Committer) work() {
	defer c.wg.Done()
	for first := range c.queue {
		batch := []pending{first}
		size := len(first.append.Events)
	gather:
		for size < MaxBatch {
			select {
			case p, ok := <-c.queue:
				if !ok {
					break gather
				}
				batch = append(batch, p)
				size += len(p.append.Events)
			default:
				break gather
			}
		}
		c.commit(batch)
	}
}

func (c *Committer) commit(batch []pending) {
	appends := make([]Append, len(batch))
	for i, p := range batch {
		appends[i] = p.append
	}
	// The batch is not tied to any one request's context: a caller going away must not
	// abort the commit of the others.
	results := c.store.AppendBatch(context.Background(), appends)
	for i, p := range batch {
		p.done <- results[i]
	}
}
