package events_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
)

// After hands out exactly the events the committer stored on a head, through consecutive
// appends, and nothing for a head it did not append on; an append on a head it overtook
// is a conflict. Its observer is told of every group with its answers.
func TestCommitterAfter(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var mu sync.Mutex
	var total events.CommitStats
	c := events.NewCommitter(s, 2, func(st events.CommitStats) {
		mu.Lock()
		defer mu.Unlock()
		if st.Duration <= 0 {
			t.Errorf("group of %d appends took %v", st.Appends, st.Duration)
		}
		total.Appends += st.Appends
		total.Events += st.Events
		total.Stored += st.Stored
		total.Duplicates += st.Duplicates
		total.Conflicts += st.Conflicts
		total.Failed += st.Failed
	})
	defer c.Close()
	id := eventstest.NewTicketID(t)
	opened, err := s.Append(ctx, events.Append{Tenant: "acme", TicketID: id, Events: []events.Event{{Data: eventstest.OpenedFixture("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	head := opened.Events[0]
	first, err := c.Append(ctx, events.Append{Tenant: "acme", TicketID: id, ExpectedVersion: head.Sequence, PrevHash: head.Hash,
		Events: []events.Event{{Data: events.Commented{Body: "one"}}, {Data: events.Commented{Body: "two"}}}})
	if err != nil {
		t.Fatal(err)
	}
	mid := first.Events[1]
	second, err := c.Append(ctx, events.Append{Tenant: "acme", TicketID: id, ExpectedVersion: mid.Sequence, PrevHash: mid.Hash,
		Events: []events.Event{{Data: events.Commented{Body: "three"}}}})
	if err != nil {
		t.Fatal(err)
	}
	seqs := func(evs []events.Event) []uint64 {
		var out []uint64
		for _, e := range evs {
			out = append(out, e.Sequence)
		}
		return out
	}
	want := []uint64{first.Events[0].Sequence, mid.Sequence, second.Events[0].Sequence}
	if got := seqs(c.After(id, head.Sequence, head.Hash)); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("After(opened) = %v, want %v", got, want)
	}
	if got := seqs(c.After(id, mid.Sequence, mid.Hash)); len(got) != 1 || got[0] != want[2] {
		t.Fatalf("After(two) = %v, want [%d]", got, want[2])
	}
	// A head the committer did not append on, or a hash that is not the head's, gets none.
	for _, h := range []struct {
		version uint64
		hash    string
	}{{first.Events[0].Sequence, first.Events[0].Hash}, {head.Sequence, mid.Hash}, {second.Version, second.Events[0].Hash}} {
		if got := c.After(id, h.version, h.hash); len(got) != 0 {
			t.Errorf("After(%d, %s) = %v, want none", h.version, h.hash, seqs(got))
		}
	}
	if got := c.After(eventstest.NewTicketID(t), head.Sequence, head.Hash); len(got) != 0 {
		t.Errorf("After of another ticket = %v", seqs(got))
	}
	// An append on a head the committer's own appends overtook is a conflict.
	if _, err := c.Append(ctx, events.Append{Tenant: "acme", TicketID: id, ExpectedVersion: head.Sequence, PrevHash: head.Hash,
		Events: []events.Event{{Data: events.Commented{Body: "late"}}}}); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("append on an overtaken head: %v, want ErrConflict", err)
	}
	if raws, _, err := s.Load(ctx, id); err != nil || len(raws) != 4 {
		t.Fatalf("log holds %d events (%v), want 4", len(raws), err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := (events.CommitStats{Appends: 3, Events: 4, Stored: 2, Conflicts: 1}); total != want {
		t.Errorf("observed %+v, want %+v", total, want)
	}
}
