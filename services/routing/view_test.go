package routing_test

import (
	"context"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/routing"
)

func TestViewCountsLoads(t *testing.T) {
	v := routing.NewView()
	seq := uint64(0)
	apply := func(ticket string, p events.Payload) {
		seq++
		v.Apply(events.Raw{Event: events.Event{Tenant: "acme", TicketID: ticket, Sequence: seq, Data: p}})
	}
	apply("t1", events.Opened{})
	apply("t1", events.Routed{Group: "desk", Tier: 1})
	apply("t1", events.Assigned{Agent: "ann"}) // the routed group counts
	apply("t2", events.Opened{})
	apply("t2", events.Assigned{Agent: "ann", Group: "net"})
	apply("t3", events.Opened{})
	apply("t3", events.Assigned{Agent: "bob", Group: "desk"})
	apply("t3", events.Assigned{Agent: "ann", Group: "desk"}) // reassigned: bob loses it
	check := func(when string, ann, bob, desk, net int) {
		t.Helper()
		if a, b, d, n := v.OpenTickets("acme", "ann"), v.OpenTickets("acme", "bob"), v.Assignments("acme", "desk"), v.Assignments("acme", "net"); a != ann || b != bob || d != desk || n != net {
			t.Errorf("%s: ann %d bob %d desk %d net %d, want %d %d %d %d", when, a, b, d, n, ann, bob, desk, net)
		}
	}
	check("after assignments", 3, 0, 3, 1)
	apply("t1", events.Resolved{})
	check("after a resolve", 2, 0, 3, 1)
	apply("t1", events.Reopened{})
	check("after a reopen", 3, 0, 3, 1)
	apply("t2", events.Cancelled{})
	check("after a cancel", 2, 0, 3, 1)
	if v.OpenTickets("globex", "ann") != 0 {
		t.Error("tenants mix")
	}
	// A replayed event changes nothing.
	v.Apply(events.Raw{Event: events.Event{Tenant: "acme", TicketID: "t3", Sequence: 5, Data: events.Assigned{Agent: "ann", Group: "desk"}}})
	check("after a replayed event", 2, 0, 3, 1)
	if v.Seq() != seq {
		t.Errorf("seq %d, want %d", v.Seq(), seq)
	}
}

func TestViewWaitFor(t *testing.T) {
	v := routing.NewView()
	done := make(chan error, 1)
	go func() { done <- v.WaitFor(context.Background(), 2) }()
	v.Apply(events.Raw{Event: events.Event{TicketID: "t", Sequence: 1, Data: events.Opened{}}})
	select {
	case err := <-done:
		t.Fatalf("returned at seq 1: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	v.Apply(events.Raw{Event: events.Event{TicketID: "t", Sequence: 2, Data: events.Commented{Body: "x"}}})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor did not return at seq 2")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := v.WaitFor(ctx, 3); err != context.DeadlineExceeded {
		t.Errorf("WaitFor past the deadline: %v", err)
	}
}
