package events_test

import (
	"fmt"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// A trail finds every id it holds, whether it scans them (short) or indexes them (long),
// with events taken in one by one or several at once, an id repeated among them, and a
// copy with pending events finds theirs without changing the original.
func TestTrailHasEveryID(t *testing.T) {
	var tr events.Trail
	var held []string
	seq := uint64(0)
	take := func(ids ...string) {
		var evs []events.Event
		for _, id := range ids {
			seq++
			evs = append(evs, events.Event{ID: id, Tenant: "acme", TicketID: "t1", Hash: fmt.Sprint(seq), Sequence: seq})
		}
		tr.Recorded(evs)
		held = append(held, ids...)
	}
	check := func(tr events.Trail, held []string, absent string) {
		t.Helper()
		for _, id := range held {
			if !tr.Has(id) {
				t.Fatalf("holding %d events: Has(%q) false", len(tr.Raws), id)
			}
		}
		if tr.Has(absent) {
			t.Fatalf("holding %d events: Has(%q) true", len(tr.Raws), absent)
		}
	}
	for n := range 20 {
		take(fmt.Sprintf("one-%d", n))
		check(tr, held, "never")
	}
	take("a", "one-3", "b", "c") // one-3 again, between two new ids
	check(tr, held, "never")
	for n := range 10 {
		take(fmt.Sprintf("x-%d", n), fmt.Sprintf("y-%d", n))
		check(tr, held, "never")
	}
	withPending := tr.WithPending([]events.Event{{ID: "p1"}, {ID: "p2"}})
	check(withPending, append(held, "p1", "p2"), "never")
	check(tr, held, "p1")

	var short events.Trail
	short.Recorded([]events.Event{{ID: "s1", Tenant: "acme", TicketID: "t2", Hash: "h", Sequence: 1}})
	check(short.WithPending([]events.Event{{ID: "p"}}), []string{"s1", "p"}, "never")
	check(short, []string{"s1"}, "p")
}
