package routing_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/routing"
)

// feed applies events to a view with consecutive sequences, as the log delivers them,
// each sealed into its ticket's hash chain as Append stores it.
type feed struct {
	t     testing.TB
	v     *routing.View
	seq   uint64
	now   time.Time
	heads map[string]string // tenant/ticket: the hash of its last event
	log   []events.Raw      // what apply applied
}

func newFeed(t testing.TB) *feed {
	return &feed{t: t, v: routing.NewView(), now: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC), heads: map[string]string{}}
}

// sealed is the next event of a ticket, sealed behind its last one, not yet applied.
func (f *feed) sealed(tenant, ticket string, p events.Payload) events.Raw {
	f.t.Helper()
	f.seq++
	r, err := events.Seal(events.Event{ID: fmt.Sprintf("e%d", f.seq), Tenant: tenant, TicketID: ticket, Time: f.now, Data: p},
		f.heads[tenant+"/"+ticket])
	if err != nil {
		f.t.Fatal(err)
	}
	r.Sequence = f.seq
	return r
}

// next is the ticket's next event, sealed behind its last one, which it becomes.
func (f *feed) next(tenant, ticket string, p events.Payload) events.Raw {
	f.t.Helper()
	r := f.sealed(tenant, ticket, p)
	f.heads[tenant+"/"+ticket] = r.Hash
	return r
}

func (f *feed) apply(tenant, ticket string, p events.Payload) {
	f.t.Helper()
	r := f.next(tenant, ticket, p)
	f.log = append(f.log, r)
	f.v.Apply(r)
}

type count struct {
	tenant, agent, group string
	open, assignments    int
}

func (f *feed) check(t *testing.T, when string, want ...count) {
	t.Helper()
	for _, c := range want {
		if c.agent != "" {
			if got := f.v.OpenTickets(c.tenant, c.agent); got != c.open {
				t.Errorf("%s: %s/%s has %d open tickets, want %d", when, c.tenant, c.agent, got, c.open)
			}
		}
		if c.group != "" {
			if got := f.v.Assignments(c.tenant, c.group); got != c.assignments {
				t.Errorf("%s: %s/%s had %d assignments, want %d", when, c.tenant, c.group, got, c.assignments)
			}
		}
	}
}

func TestViewCountsLoads(t *testing.T) {
	f := newFeed(t)
	f.apply("acme", "t1", events.Opened{})
	f.apply("acme", "t1", events.Routed{Group: "desk", Tier: 1})
	f.apply("acme", "t1", events.Assigned{Agent: "ann"}) // the routed group counts
	f.apply("acme", "t2", events.Opened{})
	f.apply("acme", "t2", events.Assigned{Agent: "ann", Group: "net"})
	f.apply("acme", "t3", events.Opened{})
	f.apply("acme", "t3", events.Assigned{Agent: "bob", Group: "desk"})
	f.apply("acme", "t3", events.Commented{Body: "x"})
	f.apply("acme", "t3", events.Assigned{Agent: "ann", Group: "desk"}) // reassigned: bob loses it
	f.apply("acme", "t4", events.Opened{})
	f.apply("acme", "t4", events.Routed{Group: "desk", Tier: 1}) // routed only
	f.apply("globex", "g1", events.Opened{})
	f.apply("globex", "g1", events.Assigned{Agent: "ann", Group: "desk"})
	f.check(t, "after assignments",
		count{tenant: "acme", agent: "ann", open: 3, group: "desk", assignments: 3},
		count{tenant: "acme", agent: "bob", open: 0, group: "net", assignments: 1},
		count{tenant: "globex", agent: "ann", open: 1, group: "desk", assignments: 1})

	f.apply("acme", "t1", events.Routed{Group: "net", Tier: 2}) // re-routed, agent kept
	f.apply("acme", "t1", events.Assigned{Agent: "ned"})        // assigned in the new group
	f.check(t, "after a re-route", count{tenant: "acme", agent: "ann", open: 2, group: "net", assignments: 2},
		count{tenant: "acme", agent: "ned", open: 1, group: "desk", assignments: 3})
	f.apply("acme", "t1", events.Resolved{})
	f.check(t, "after a resolve", count{tenant: "acme", agent: "ned", open: 0})
	f.apply("acme", "t1", events.Reopened{})
	f.check(t, "after a reopen", count{tenant: "acme", agent: "ned", open: 1})
	f.apply("acme", "t1", events.Resolved{})
	f.apply("acme", "t1", events.Closed{})
	f.apply("acme", "t1", events.Reopened{}) // cannot happen after close; ignored all the same
	f.check(t, "after a close", count{tenant: "acme", agent: "ned", open: 0})
	f.apply("acme", "t2", events.Cancelled{})
	f.check(t, "after a cancel", count{tenant: "acme", agent: "ann", open: 1})
	f.apply("acme", "unknown", events.Assigned{Agent: "ann", Group: "desk"}) // opened before the view? never: the view starts at 1
	f.check(t, "after an event of a ticket never opened", count{tenant: "acme", agent: "ann", open: 1, group: "desk", assignments: 3})

	// A replayed event changes nothing.
	f.v.Apply(f.log[8]) // t3 assigned to ann
	f.check(t, "after a replayed event", count{tenant: "acme", agent: "ann", open: 1, group: "desk", assignments: 3})
	if f.v.Seq() != f.seq {
		t.Errorf("seq %d, want %d", f.v.Seq(), f.seq)
	}
}

// TestViewTicketIDs: canonical UUIDs are stored compactly; other spellings stay distinct tickets.
func TestViewTicketIDs(t *testing.T) {
	f := newFeed(t)
	const id = "019a3c1e-7b2f-7d40-9c1a-5e6f7a8b9c0d"
	for _, tk := range []string{id, strings.ToUpper(id), "019a3c1e7b2f7d409c1a5e6f7a8b9c0d", "t-1"} {
		f.apply("acme", tk, events.Opened{})
		f.apply("acme", tk, events.Assigned{Agent: "ann", Group: "desk"})
	}
	f.apply("globex", id, events.Opened{}) // the same id at another tenant is another ticket
	f.apply("globex", id, events.Assigned{Agent: "ann", Group: "desk"})
	f.check(t, "assigned", count{tenant: "acme", agent: "ann", open: 4}, count{tenant: "globex", agent: "ann", open: 1})
	for _, tk := range []string{id, strings.ToUpper(id), "t-1"} {
		f.apply("acme", tk, events.Cancelled{})
	}
	f.check(t, "three cancelled", count{tenant: "acme", agent: "ann", open: 1}, count{tenant: "globex", agent: "ann", open: 1})
}

// TestViewForgetsTicketsPastReopening: the view keeps a resolved ticket while it may be
// reopened, and no longer.
func TestViewForgetsTicketsPastReopening(t *testing.T) {
	f := newFeed(t)
	for _, tk := range []string{"old", "again", "recent"} {
		f.apply("acme", tk, events.Opened{})
		f.apply("acme", tk, events.Assigned{Agent: "ann", Group: "desk"})
		f.apply("acme", tk, events.Resolved{})
	}
	f.now = f.now.Add(5 * 24 * time.Hour)
	f.apply("acme", "again", events.Reopened{})
	f.apply("acme", "again", events.Resolved{}) // resolved again: its window starts anew
	f.apply("acme", "recent", events.Reopened{})
	f.check(t, "reopened within the window", count{tenant: "acme", agent: "ann", open: 1})
	f.apply("acme", "recent", events.Resolved{})

	f.now = f.now.Add(4 * 24 * time.Hour) // "old" resolved 9 days ago, the others 4
	f.apply("acme", "other", events.Opened{})
	// Reopening "old" is refused by then; were it recorded all the same, the view has
	// forgotten it and counts nothing. The others it still counts.
	f.apply("acme", "old", events.Reopened{})
	f.apply("acme", "again", events.Reopened{})
	f.apply("acme", "recent", events.Reopened{})
	f.check(t, "past the window", count{tenant: "acme", agent: "ann", open: 2})
}

func TestViewWaitFor(t *testing.T) {
	v := routing.NewView()
	apply := func(seq uint64) {
		v.Apply(events.Raw{Event: events.Event{Tenant: "acme", TicketID: "t", Sequence: seq, Data: events.Commented{Body: "x"}}})
	}
	if err := v.WaitFor(context.Background(), 0); err != nil {
		t.Fatalf("WaitFor(0) on an empty view: %v", err)
	}
	var wg sync.WaitGroup
	done := make(chan error, 3)
	for range 3 { // several waiters, all woken
		wg.Go(func() { done <- v.WaitFor(context.Background(), 2) })
	}
	apply(1)
	select {
	case err := <-done:
		t.Fatalf("returned at seq 1: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	apply(2)
	for range 3 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("WaitFor did not return at seq 2")
		}
	}
	wg.Wait()
	if err := v.WaitFor(context.Background(), 2); err != nil {
		t.Fatalf("WaitFor a sequence already applied: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := v.WaitFor(ctx, 3); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor past the deadline: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- v.WaitFor(ctx, 3) }()
	time.Sleep(10 * time.Millisecond) // let it block (it returns the same either way)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("WaitFor cancelled: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor did not return on cancel")
	}
}

// TestViewConcurrentUse is for the race detector: one writer, readers and waiters.
func TestViewConcurrentUse(t *testing.T) {
	f := newFeed(t)
	const n = 2000
	var log []events.Raw
	for i := uint64(1); i <= n; i++ {
		var p events.Payload = events.Assigned{Agent: "ann", Group: "desk"}
		if i%2 == 1 {
			p = events.Opened{}
		}
		log = append(log, f.next("acme", "t"+strconv.FormatUint((i+1)/2, 10), p))
	}
	v := f.v
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, r := range log {
			v.Apply(r)
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 200 {
				v.OpenTickets("acme", "ann")
				v.Assignments("acme", "desk")
				v.Seq()
			}
			if err := v.WaitFor(context.Background(), n); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := v.Assignments("acme", "desk"); got != n/2 {
		t.Errorf("%d assignments, want %d", got, n/2)
	}
}

// TestViewCountsOnlyWhatTheChainAccepts: an event that does not link to its ticket's
// head, or whose content does not hash to its hash, moves no load and leaves the head
// where it was.
func TestViewCountsOnlyWhatTheChainAccepts(t *testing.T) {
	f := newFeed(t)
	f.apply("acme", "t1", events.Opened{})
	f.apply("acme", "t1", events.Assigned{Agent: "ann", Group: "desk"})

	altered := f.sealed("acme", "t1", events.Assigned{Agent: "bob", Group: "desk"})
	altered.Data = events.Assigned{Agent: "eve", Group: "desk"}
	altered.RawData = []byte(`{"agent":"eve","group":"desk"}`)
	f.v.Apply(altered)
	forged := f.sealed("acme", "t1", events.Assigned{Agent: "eve", Group: "desk"})
	forged.PrevHash = "00" // hashed again, but not behind the head
	f.v.Apply(f.resealed(forged))
	reopened := f.sealed("acme", "t1", events.Opened{}) // starts a chain again
	reopened.PrevHash = ""
	f.v.Apply(f.resealed(reopened))
	otherTenant := f.sealed("globex", "t1", events.Assigned{Agent: "eve", Group: "desk"})
	otherTenant.PrevHash = f.heads["acme/t1"]
	f.v.Apply(f.resealed(otherTenant))
	midChain := f.sealed("acme", "never-opened", events.Assigned{Agent: "eve", Group: "desk"})
	midChain.PrevHash = f.heads["acme/t1"]
	f.v.Apply(f.resealed(midChain))
	f.check(t, "after refused events", count{tenant: "acme", agent: "ann", open: 1, group: "desk", assignments: 1},
		count{tenant: "acme", agent: "eve", open: 0}, count{tenant: "acme", agent: "bob", open: 0},
		count{tenant: "globex", agent: "eve", open: 0, group: "desk", assignments: 0})

	f.apply("acme", "t1", events.Assigned{Agent: "bob", Group: "desk"}) // links to the head the refusals left
	f.check(t, "after the next accepted event", count{tenant: "acme", agent: "ann", open: 0},
		count{tenant: "acme", agent: "bob", open: 1, group: "desk", assignments: 2})
	if f.v.Seq() != f.seq {
		t.Errorf("seq %d, want %d: refused events count as read", f.v.Seq(), f.seq)
	}
}

// resealed is r with its hash computed again over what it now claims.
func (f *feed) resealed(r events.Raw) events.Raw {
	r.Hash = events.ComputeHash(r.Event, r.RawData)
	return r
}
