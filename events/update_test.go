package events_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
)

// updateFixture is a store with one opened ticket.
type updateFixture struct {
	t      *testing.T
	s      *events.Store
	id     string
	opened events.Event
}

func newUpdateFixture(t *testing.T) *updateFixture {
	t.Helper()
	s := newStore(t)
	id := eventstest.NewTicketID(t)
	ap, err := s.Append(context.Background(), events.Append{Tenant: "acme", TicketID: id,
		Events: []events.Event{{Data: eventstest.OpenedFixture("disk full")}}})
	if err != nil {
		t.Fatal(err)
	}
	return &updateFixture{t: t, s: s, id: id, opened: ap.Events[0]}
}

// rival appends a comment behind the ticket's head, as another writer would, and returns it.
func (f *updateFixture) rival(body string) events.Event {
	f.t.Helper()
	tr, err := f.s.LoadTrail(context.Background(), f.id)
	if err != nil {
		f.t.Fatal(err)
	}
	ap, err := f.s.Append(context.Background(), events.Append{Tenant: "acme", TicketID: f.id, ExpectedVersion: tr.Version,
		PrevHash: tr.Head.Hash, Events: []events.Event{{ID: body, Data: events.Commented{Body: body}}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return ap.Events[0]
}

// log returns the ticket's stored history, checking that it is one intact chain.
func (f *updateFixture) log() []events.Raw {
	f.t.Helper()
	raws, _, err := f.s.Load(context.Background(), f.id)
	if err != nil {
		f.t.Fatal(err)
	}
	return raws
}

func (f *updateFixture) intact() []events.Raw {
	f.t.Helper()
	raws := f.log()
	if err := events.VerifyChain(raws); err != nil {
		f.t.Fatal(err)
	}
	return raws
}

// wantLog checks that the ticket's log is an intact chain of n events.
func (f *updateFixture) wantLog(n int, what string) {
	f.t.Helper()
	if got := len(f.intact()); got != n {
		f.t.Fatalf("log has %d events, want %d: %s", got, n, what)
	}
}

// countingAppender is an Appender that records what it was asked to append.
type countingAppender struct {
	next  events.Appender
	calls []events.Append
}

func (c *countingAppender) Append(ctx context.Context, a events.Append) (events.Appended, error) {
	c.calls = append(c.calls, a)
	return c.next.Append(ctx, a)
}

func comment(body string) []events.Event { return []events.Event{{Data: events.Commented{Body: body}}} }

// TestUpdateAppendsBehindTheHead: the path fills tenant, ticket, expected version and
// prev hash, and reports the trail decided on and the new version.
func TestUpdateAppendsBehindTheHead(t *testing.T) {
	f := newUpdateFixture(t)
	up, err := f.s.Update(context.Background(), f.id, func(tr events.Trail) ([]events.Event, error) {
		if tr.Ticket().Title != "disk full" || tr.Head.Hash != f.opened.Hash || tr.Version != f.opened.Sequence {
			t.Errorf("decide saw %+v", tr)
		}
		return comment("on it"), nil
	}, events.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Events) != 1 || len(up.Trail.Raws) != 1 || up.Version != up.Events[0].Sequence {
		t.Fatalf("updated = %+v", up)
	}
	e := up.Events[0]
	if e.Tenant != "acme" || e.TicketID != f.id || e.PrevHash != f.opened.Hash {
		t.Fatalf("appended %+v, want it on acme/%s after %.12s…", e, f.id, f.opened.Hash)
	}
	if got := f.intact(); len(got) != 2 || got[1].ID != e.ID {
		t.Fatalf("log = %d events", len(got))
	}
}

// TestUpdateRetriesALostRace: a writer that gets in between the load and the append makes
// the path decide again on the new history, and append behind the rival's event.
func TestUpdateRetriesALostRace(t *testing.T) {
	f := newUpdateFixture(t)
	via := &countingAppender{next: f.s}
	var seen []int
	var rival events.Event
	up, err := f.s.Update(context.Background(), f.id, func(tr events.Trail) ([]events.Event, error) {
		seen = append(seen, len(tr.Raws))
		if len(seen) == 1 {
			rival = f.rival("rival")
		}
		return comment(fmt.Sprintf("decided on %d events", len(tr.Raws))), nil
	}, events.UpdateOptions{Via: via})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[1 2]" || len(via.calls) != 2 {
		t.Fatalf("decide saw histories of %v events, %d appends; want [1 2] and 2", seen, len(via.calls))
	}
	if via.calls[1].ExpectedVersion != rival.Sequence || via.calls[1].PrevHash != rival.Hash {
		t.Fatalf("retry appended behind version %d, want the rival's %d", via.calls[1].ExpectedVersion, rival.Sequence)
	}
	log := f.intact()
	if len(log) != 3 || log[2].Data.(events.Commented).Body != "decided on 2 events" || up.Events[0].PrevHash != rival.Hash {
		t.Fatalf("log has %d events, last %+v", len(log), log[len(log)-1].Data)
	}
}

// TestUpdateFrom: the first decision is on the given history, whatever the log holds; a
// stale one loses the race and the path decides again on the loaded history.
func TestUpdateFrom(t *testing.T) {
	f := newUpdateFixture(t)
	// updateFrom updates with From and returns the sizes of the histories decided on.
	updateFrom := func(from *events.Trail, body string) []int {
		t.Helper()
		var seen []int
		if _, err := f.s.Update(context.Background(), f.id, func(tr events.Trail) ([]events.Event, error) {
			seen = append(seen, len(tr.Raws))
			return comment(body), nil
		}, events.UpdateOptions{From: from}); err != nil {
			t.Fatal(err)
		}
		return seen
	}
	stale, err := f.s.LoadTrail(context.Background(), f.id)
	if err != nil {
		t.Fatal(err)
	}
	f.rival("rival")
	if seen := updateFrom(&stale, "after the rival"); fmt.Sprint(seen) != "[1 2]" {
		t.Fatalf("decide saw histories of %v events, want [1 2]: the given one first, then the log's", seen)
	}
	head, err := f.s.LoadTrail(context.Background(), f.id)
	if err != nil {
		t.Fatal(err)
	}
	if seen := updateFrom(&head, "on the head"); fmt.Sprint(seen) != "[3]" {
		t.Fatalf("decide saw histories of %v events, want [3]", seen)
	}
	f.wantLog(4, "opened, the rival, and one comment per update")
}

// TestUpdateBoundsRetries: a race lost every time is given up after Attempts decisions
// (DefaultAttempts when unset), with the conflict; nothing the path decided is appended.
func TestUpdateBoundsRetries(t *testing.T) {
	f := newUpdateFixture(t)
	for _, tc := range []struct{ attempts, want int }{{3, 3}, {1, 1}, {0, events.DefaultAttempts}} {
		calls := 0
		_, err := f.s.Update(context.Background(), f.id, func(events.Trail) ([]events.Event, error) {
			calls++
			f.rival(fmt.Sprintf("rival-%d-%d", tc.attempts, calls))
			return comment("never appended"), nil
		}, events.UpdateOptions{Attempts: tc.attempts})
		if !errors.Is(err, events.ErrConflict) || calls != tc.want {
			t.Fatalf("attempts %d: %d decisions, error %v; want %d and a conflict", tc.attempts, calls, err, tc.want)
		}
	}
	for _, r := range f.intact() {
		if c, ok := r.Data.(events.Commented); ok && c.Body == "never appended" {
			t.Fatalf("a decision of a lost race was appended at seq %d", r.Sequence)
		}
	}
}

// TestUpdateRefusingRetriesGetsTheConflict: with Attempts 1 (a conditional request) a lost
// race is the caller's: one decision, ErrConflict, and the log holds only the rival.
func TestUpdateRefusingRetriesGetsTheConflict(t *testing.T) {
	f := newUpdateFixture(t)
	calls := 0
	up, err := f.s.Update(context.Background(), f.id, func(events.Trail) ([]events.Event, error) {
		calls++
		f.rival("rival")
		return comment("mine"), nil
	}, events.UpdateOptions{Attempts: 1})
	var ke *events.KindError
	if !errors.Is(err, events.ErrConflict) || !errors.As(err, &ke) || ke.Kind != events.KindConflict || calls != 1 || len(up.Events) != 0 {
		t.Fatalf("%d decisions, %+v, error %v; want one decision and a conflict", calls, up, err)
	}
	f.wantLog(2, "the open and the rival")
}

// TestUpdateNoOp: nothing decided, or only events already recorded, appends nothing and
// reports the ticket's version as it is.
func TestUpdateNoOp(t *testing.T) {
	f := newUpdateFixture(t)
	ctx := context.Background()
	before, err := f.s.LastSequence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, decided := range map[string][]events.Event{
		"nothing":  nil,
		"recorded": {{ID: f.opened.ID, Data: events.Commented{Body: "already there"}}},
	} {
		up, err := f.s.Update(ctx, f.id, func(events.Trail) ([]events.Event, error) { return decided, nil }, events.UpdateOptions{})
		if err != nil || len(up.Events) != 0 || up.Version != f.opened.Sequence || len(up.Trail.Raws) != 1 {
			t.Fatalf("%s: %+v, %v; want a no-op at version %d", name, up, err, f.opened.Sequence)
		}
	}
	if after, _ := f.s.LastSequence(ctx); after != before {
		t.Fatalf("a no-op appended: last sequence %d → %d", before, after)
	}
	// A recorded event is dropped, the rest appended.
	up, err := f.s.Update(ctx, f.id, func(events.Trail) ([]events.Event, error) {
		return []events.Event{{ID: f.opened.ID, Data: events.Commented{Body: "already there"}}, {ID: "new", Data: events.Commented{Body: "new"}}}, nil
	}, events.UpdateOptions{})
	if err != nil || len(up.Events) != 1 || up.Events[0].ID != "new" {
		t.Fatalf("%+v, %v; want only the new event appended", up, err)
	}
}

// TestUpdateRecordsADerivedEventOnce: when another writer records the same event id
// between load and append, the retry finds it recorded and appends nothing (how a
// reacting service's effects stay exactly-once).
func TestUpdateRecordsADerivedEventOnce(t *testing.T) {
	f := newUpdateFixture(t)
	calls := 0
	up, err := f.s.Update(context.Background(), f.id, func(events.Trail) ([]events.Event, error) {
		calls++
		if calls == 1 {
			f.rival("effect-1")
		}
		return []events.Event{{ID: "effect-1", Data: events.Commented{Body: "effect-1"}}}, nil
	}, events.UpdateOptions{})
	if err != nil || calls != 2 || len(up.Events) != 0 {
		t.Fatalf("%d decisions, %+v, %v; want two and a no-op", calls, up, err)
	}
	f.wantLog(2, "the open and one effect")
}

// TestUpdateStepsOverAForgedEvent: a forged event at the end of the ticket is left out of
// the trail; the new event links to the last trusted one and is appended after the forgery.
func TestUpdateStepsOverAForgedEvent(t *testing.T) {
	f := newUpdateFixture(t)
	ctx := context.Background()
	forged, err := events.Seal(events.Event{ID: "forged", Source: "/evil", Tenant: "acme", TicketID: f.id,
		Time: f.opened.Time, Data: events.Resolved{}}, f.opened.Hash)
	if err != nil {
		t.Fatal(err)
	}
	forged.Actor = "admin" // changed after sealing: the hash no longer matches
	ack, err := f.s.JetStream().PublishMsg(ctx, &nats.Msg{Subject: events.Subject("acme", f.id), Header: forged.Header(), Data: forged.RawData})
	if err != nil {
		t.Fatal(err)
	}
	up, err := f.s.Update(ctx, f.id, func(tr events.Trail) ([]events.Event, error) {
		if tr.Has("forged") || tr.Ticket().State == events.StateResolved || tr.Version != ack.Sequence {
			t.Errorf("decide saw the forgery: state %s, version %d", tr.Ticket().State, tr.Version)
		}
		return comment("honest"), nil
	}, events.UpdateOptions{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if e := up.Events[0]; e.PrevHash != f.opened.Hash || e.Sequence != ack.Sequence+1 {
		t.Fatalf("appended at seq %d after %.12s…, want seq %d after the opened event %.12s…", e.Sequence, e.PrevHash, ack.Sequence+1, f.opened.Hash)
	}
	tr, err := f.s.LoadTrail(ctx, f.id)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Raws) != 2 || tr.Head.Hash != up.Events[0].Hash || tr.Version != up.Version {
		t.Fatalf("trail after the update: %d events, head %.12s…, version %d", len(tr.Raws), tr.Head.Hash, tr.Version)
	}
}

// TestUpdateIgnoresAnotherTenantsSubject: a message under another tenant's subject of the
// same ticket id (refused by every reader) does not make the ticket's appends conflict.
func TestUpdateIgnoresAnotherTenantsSubject(t *testing.T) {
	f := newUpdateFixture(t)
	ctx := context.Background()
	if _, err := f.s.JetStream().Publish(ctx, events.Subject("evil", f.id), []byte("junk")); err != nil {
		t.Fatal(err)
	}
	up, err := f.s.Update(ctx, f.id, func(events.Trail) ([]events.Event, error) { return comment("honest"), nil },
		events.UpdateOptions{Attempts: 1})
	if err != nil {
		t.Fatalf("append after a message under another tenant's subject: %v", err)
	}
	if e := up.Events[0]; e.PrevHash != f.opened.Hash || e.Tenant != "acme" {
		t.Fatalf("appended %+v, want it behind the opened event in acme", e)
	}
}

// TestUpdateErrors: decide's error comes back as it is with nothing appended; an unknown
// ticket is ErrNotFound and is never decided on.
func TestUpdateErrors(t *testing.T) {
	f := newUpdateFixture(t)
	refused := errors.New("refused")
	up, err := f.s.Update(context.Background(), f.id, func(events.Trail) ([]events.Event, error) { return comment("x"), refused }, events.UpdateOptions{})
	if err != refused || len(up.Events) != 0 || len(f.log()) != 1 {
		t.Fatalf("%+v, %v; want decide's error as it is and nothing appended", up, err)
	}
	called := false
	_, err = f.s.Update(context.Background(), eventstest.NewTicketID(t), func(events.Trail) ([]events.Event, error) {
		called = true
		return nil, nil
	}, events.UpdateOptions{})
	if !errors.Is(err, events.ErrNotFound) || called {
		t.Fatalf("unknown ticket: %v (decided: %v); want ErrNotFound without a decision", err, called)
	}
}
