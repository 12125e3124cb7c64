package events_test

import (
	"fmt"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
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

// A trail's Ticket folds its events up to its version, as Fold of its Events does, without
// copying them: an event held beyond the version (one that was refused) does not count.
func TestTrailTicketFoldsUpToVersion(t *testing.T) {
	evs := []events.Event{
		{ID: "e1", Type: events.TypeOpened, Data: eventstest.OpenedFixture("printer"), Sequence: 1},
		{ID: "e2", Type: events.TypeCommented, Data: events.Commented{Body: "looking"}, Sequence: 2},
		{ID: "e3", Type: events.TypeResolved, Data: events.Resolved{Code: "fixed"}, Sequence: 3},
	}
	for version := uint64(1); version <= 3; version++ {
		var tr events.Trail
		for _, e := range evs {
			tr.Raws = append(tr.Raws, events.Raw{Event: e})
		}
		tr.Version = version
		want := events.Fold(evs[:version])
		if got := tr.Ticket(); got.State != want.State || got.Title != want.Title || got.Version != want.Version {
			t.Errorf("version %d: Ticket() state %s title %q version %d, want %s %q %d", version, got.State, got.Title, got.Version, want.State, want.Title, want.Version)
		}
		if allocs := testing.AllocsPerRun(10, func() { tr.Ticket() }); allocs != 0 {
			t.Errorf("version %d: Ticket() allocated %.0f times, want none (it folds the trail in place)", version, allocs)
		}
	}
	if events.Fold(evs[:2]).State == events.Fold(evs).State {
		t.Fatal("the fixture's resolution does not change the state: the test could not fail")
	}
}
