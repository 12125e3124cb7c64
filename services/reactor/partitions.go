package reactor

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Sharing the partitions: each replica holds a lease in the MEMBERS bucket and consumes
// the partitions the live leases give it (members.owned). Each partition's durable
// consumer has a priority group with the pinned-client policy, so that even while two
// replicas disagree about the leases (one joining, one leaving, one killed) the server
// delivers a partition to one of them only; a replica that gives a partition up unpins
// itself, and one that takes over a partition whose owner's lease is gone (killed)
// unpins that owner rather than wait for its pin to expire after PinnedTTL.

// priorityGroup is the one priority group of every partition consumer. NB: wire name.
const priorityGroup = "owner"

// PinnedTTL is how long a partition stays pinned to a replica that stopped pulling from it.
const PinnedTTL = 5 * time.Second

// handoverGrace is how long a replica giving a partition up lets the batch in hand finish.
const handoverGrace = 2 * time.Second

// running is a partition consumed on this replica.
type running struct {
	quit chan struct{}
	done chan struct{}
}

// sharePartitions runs this replica's share of every ticket handler's partitions until
// quit is closed, following the leases. ready is closed once the first share consumes.
func (s *Service) sharePartitions(ctx context.Context, quit <-chan struct{}, ready chan<- struct{}) error {
	if len(s.handlers) == 0 {
		close(ready)
		return nil
	}
	mctx, leave := context.WithCancel(context.WithoutCancel(ctx))
	m, err := joinMembers(mctx, s.store.JetStream(), s.name, s.log)
	if err != nil {
		leave()
		close(ready)
		return err
	}
	defer func() { leave(); <-m.left }()
	type key struct {
		handler *ticketHandler
		p       int
	}
	held := map[key]*running{}
	var wg sync.WaitGroup
	var lastLive []string // the replicas the last share was computed from
	// release gives partitions up all at once: each lets its batch in hand finish, so one
	// after the other would add up.
	release := func(ks []key) {
		for _, k := range ks {
			close(held[k].quit)
		}
		for _, k := range ks {
			<-held[k].done
			delete(held, k)
		}
	}
	reshare := func() {
		live := m.snapshot()
		owned := owned(live, m.self, s.partitions())
		// A partition whose last owner's lease is gone: nobody is left to unpin it.
		orphaned := map[int]bool{}
		for _, p := range owned {
			if lastLive != nil && !slices.Contains(live, owner(lastLive, p)) {
				orphaned[p] = true
			}
		}
		lastLive = live
		s.leads.Store(owner(live, 0) == m.self)
		want := map[key]bool{}
		for _, h := range s.handlers {
			for _, p := range owned {
				want[key{h, p}] = true
			}
		}
		var unwanted []key
		for k := range held {
			if !want[k] {
				unwanted = append(unwanted, k)
			}
		}
		release(unwanted)
		var started sync.WaitGroup
		for k := range want {
			if held[k] != nil {
				continue
			}
			r := &running{quit: make(chan struct{}), done: make(chan struct{})}
			held[k] = r
			started.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(r.done)
				s.runPartition(ctx, k.handler, k.p, orphaned[k.p], r.quit, started.Done)
			}()
		}
		started.Wait()
		s.log.Info("consuming partitions", zap.Ints("partitions", owned), zap.Int("replicas", m.count()))
	}
	reshare()
	close(ready)
	for {
		select {
		case <-quit:
			release(slices.Collect(maps.Keys(held)))
			wg.Wait()
			return nil
		case <-m.changed:
			reshare()
		}
	}
}

// runPartition consumes one partition until quit, starting over after an error; started
// is called once, when it consumes or first fails. orphaned: the partition's last owner
// is gone, and its pin is dropped before consuming.
func (s *Service) runPartition(ctx context.Context, h *ticketHandler, p int, orphaned bool, quit <-chan struct{}, started func()) {
	var once sync.Once
	defer once.Do(started)
	// Giving a partition up lets the batch in hand finish (so its events are handled
	// once) for handoverGrace, then cancels it, and cancels Later work at once: what it
	// appended stays (appends are idempotent), what it did not ack is redelivered to the
	// next owner at once.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	later, cancelLater := context.WithCancel(ctx)
	defer cancelLater()
	go func() {
		select {
		case <-quit:
			cancelLater()
		case <-ctx.Done():
			return
		}
		select {
		case <-time.After(handoverGrace):
			cancel()
		case <-ctx.Done():
		}
	}()
	durable := partitionConsumer(h.base, p)
	defer s.setDetached(durable, nil) // given up: not this replica's to consume
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		pt, err := h.newPartition(p, later)
		if err == nil && orphaned {
			pt.unpin()
			orphaned = false
		}
		if err == nil {
			err = pt.consume(ctx, quit, func() {
				s.setDetached(durable, nil)
				once.Do(started)
			})
			if err == nil {
				return // quit
			}
		}
		s.setDetached(durable, err)
		once.Do(started)
		s.log.Error("partition consumer stopped; starting it again", zap.String("handler", h.name), zap.Int("partition", p),
			zap.Duration("after", backoff), zap.Error(err))
		select {
		case <-quit:
			return
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}
