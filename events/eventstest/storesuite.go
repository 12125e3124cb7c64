package eventstest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// RunStoreSuite is the conformance suite of the event store port: every implementation
// must pass it. newStore returns an empty store for each subtest.
func RunStoreSuite(t *testing.T, newStore func(t *testing.T) *events.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s *events.Store)
	}{
		{"AppendLoadRoundTrip", testAppendLoad},
		{"OptimisticConcurrency", testOptimisticConcurrency},
		{"IdempotentByEventID", testIdempotent},
		{"MultiEventAppendIsAtomic", testMultiEventAtomic},
		{"BatchAppendManyTickets", testBatchMany},
		{"BatchIsolatesBadEntries", testBatchIsolates},
		{"BatchOneHeadTwice", testBatchOneHeadTwice},
		{"LoadUnknown", testLoadUnknown},
		{"SubscribeFromSequence", testSubscribe},
		{"SubscriptionTellsWhyItStopped", testSubscriptionStops},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// NewTicketID returns a fresh UUIDv7 string.
func NewTicketID(t testing.TB) string {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// OpenedFixture is a valid opened payload.
func OpenedFixture(title string) events.Opened {
	return events.Opened{Type: events.Incident, Title: title, Description: "d",
		Requester: events.Requester{Name: "Ann", Email: "ann@example.com"},
		Impact:    events.High, Urgency: events.Medium, Priority: "P2", Category: "network", Source: "email"}
}

func openTicket(t *testing.T, s *events.Store, tenant string) (string, events.Appended) {
	t.Helper()
	id := NewTicketID(t)
	ap, err := s.Append(ctx(t), events.Append{Tenant: tenant, TicketID: id,
		Events: []events.Event{{Data: OpenedFixture("t " + id), Actor: "tester"}}})
	if err != nil {
		t.Fatalf("open ticket: %v", err)
	}
	return id, ap
}

func mustLoad(t *testing.T, s *events.Store, id string) ([]events.Raw, uint64) {
	t.Helper()
	h, v, err := s.Load(ctx(t), id)
	if err != nil {
		t.Fatalf("load %s: %v", id, err)
	}
	return h, v
}

func testAppendLoad(t *testing.T, s *events.Store) {
	id, ap := openTicket(t, s, "acme")
	if ap.Version == 0 || ap.Events[0].Sequence != ap.Version || ap.Events[0].Hash == "" {
		t.Fatalf("appended = %+v, want a version equal to the event's sequence and a hash", ap)
	}
	ap2, err := s.Append(ctx(t), events.Append{Tenant: "acme", TicketID: id, ExpectedVersion: ap.Version,
		PrevHash: ap.Events[0].Hash, Events: []events.Event{{Data: events.Assigned{Agent: "bob"}, CausationID: ap.Events[0].ID}}})
	if err != nil {
		t.Fatal(err)
	}
	h, v := mustLoad(t, s, id)
	if v != ap2.Version || len(h) != 2 {
		t.Fatalf("load: %d events at version %d, want 2 at %d", len(h), v, ap2.Version)
	}
	if h[0].Type != events.TypeOpened || h[1].Type != events.TypeAssigned || h[1].CausationID != ap.Events[0].ID {
		t.Fatalf("history types/causation wrong: %+v", h)
	}
	if got := h[1].Data.(events.Assigned).Agent; got != "bob" {
		t.Fatalf("assigned agent = %q", got)
	}
	if h[0].Tenant != "acme" || h[0].TicketID != id || h[0].Actor != "tester" {
		t.Fatalf("envelope lost: %+v", h[0].Event)
	}
	if err := events.VerifyChain(h); err != nil {
		t.Fatalf("verify chain: %v", err)
	}
}

func testOptimisticConcurrency(t *testing.T, s *events.Store) {
	id, ap := openTicket(t, s, "acme")
	next := events.Append{Tenant: "acme", TicketID: id, ExpectedVersion: ap.Version, PrevHash: ap.Events[0].Hash,
		Events: []events.Event{{Data: events.Commented{Body: "first"}}}}
	if _, err := s.Append(ctx(t), next); err != nil {
		t.Fatal(err)
	}
	next.Events = []events.Event{{Data: events.Commented{Body: "stale"}}}
	if _, err := s.Append(ctx(t), next); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("stale append: err = %v, want ErrConflict", err)
	}
	// Expected version 0 means "must not exist".
	_, err := s.Append(ctx(t), events.Append{Tenant: "acme", TicketID: id, Events: []events.Event{{Data: OpenedFixture("again")}}})
	if !errors.Is(err, events.ErrConflict) {
		t.Fatalf("re-open: err = %v, want ErrConflict", err)
	}
	if h, _ := mustLoad(t, s, id); len(h) != 2 {
		t.Fatalf("history has %d events, want 2: refused appends must append nothing", len(h))
	}
}

func testIdempotent(t *testing.T, s *events.Store) {
	id := NewTicketID(t)
	a := events.Append{Tenant: "acme", TicketID: id, Events: []events.Event{{ID: "fixed-" + id, Data: OpenedFixture("x")}}}
	first, err := s.Append(ctx(t), a)
	if err != nil {
		t.Fatal(err)
	}
	// The same event id under another ticket id is still the same event.
	a.TicketID = NewTicketID(t)
	again, err := s.Append(ctx(t), a)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.Version != first.Version {
		t.Fatalf("repeat = %+v, want duplicate of seq %d", again, first.Version)
	}
	if _, _, err := s.Load(ctx(t), a.TicketID); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("duplicate created a ticket: %v", err)
	}
	got, err := s.Get(ctx(t), again.Version)
	if err != nil || got.TicketID != id {
		t.Fatalf("get original: %+v, %v", got.Event, err)
	}
}

func testMultiEventAtomic(t *testing.T, s *events.Store) {
	id := NewTicketID(t)
	ap, err := s.Append(ctx(t), events.Append{Tenant: "acme", TicketID: id, Events: []events.Event{
		{Data: OpenedFixture("x")}, {Data: events.Assigned{Agent: "a"}}, {Data: events.Responded{Message: "hi"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h, v := mustLoad(t, s, id)
	if len(h) != 3 || v != ap.Version || h[2].Sequence != h[0].Sequence+2 {
		t.Fatalf("got %d events, version %d (want 3, %d)", len(h), v, ap.Version)
	}
	for i := range h {
		if h[i].Sequence != ap.Events[i].Sequence || h[i].Hash != ap.Events[i].Hash {
			t.Fatalf("event %d: stored %d/%s, returned %d/%s", i, h[i].Sequence, h[i].Hash, ap.Events[i].Sequence, ap.Events[i].Hash)
		}
	}
	if err := events.VerifyChain(h); err != nil {
		t.Fatal(err)
	}
	// A stale multi-event append appends none of its events.
	_, err = s.Append(ctx(t), events.Append{Tenant: "acme", TicketID: id, ExpectedVersion: h[0].Sequence, PrevHash: h[0].Hash,
		Events: []events.Event{{Data: events.Commented{Body: "a"}}, {Data: events.Commented{Body: "b"}}}})
	if !errors.Is(err, events.ErrConflict) {
		t.Fatalf("stale batch: %v, want ErrConflict", err)
	}
	if h, _ := mustLoad(t, s, id); len(h) != 3 {
		t.Fatalf("stale batch left %d events, want 3", len(h))
	}
}

func testBatchMany(t *testing.T, s *events.Store) {
	const n = 1500 // more than one atomic batch
	appends := make([]events.Append, n)
	for i := range appends {
		appends[i] = events.Append{Tenant: "acme", TicketID: NewTicketID(t), Events: []events.Event{{Data: OpenedFixture("bulk")}}}
	}
	results := s.AppendBatch(ctx(t), appends)
	seen := map[uint64]bool{}
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("append %d: %v", i, r.Err)
		}
		if seen[r.Version] {
			t.Fatalf("sequence %d handed out twice", r.Version)
		}
		seen[r.Version] = true
	}
	for _, i := range []int{0, 777, n - 1} {
		h, v := mustLoad(t, s, appends[i].TicketID)
		if v != results[i].Version || h[0].ID != results[i].Events[0].ID {
			t.Fatalf("ticket %d: loaded version %d id %s, result said %d id %s", i, v, h[0].ID, results[i].Version, results[i].Events[0].ID)
		}
	}
}

// A batch's conflict, duplicate and invalid entry are answered alone and the rest is
// stored: as plain publishes, where the stream takes them (events.PlainMaxFor: up to
// events.PlainMax single events on an R1 file stream), and as an atomic batch (more, or a
// clustered stream), which the server refuses whole.
func testBatchIsolates(t *testing.T, s *events.Store) {
	for _, more := range []int{0, events.PlainMax} {
		t.Run(fmt.Sprintf("%d more entries", more), func(t *testing.T) { testBatchIsolatesWith(t, s, more) })
	}
}

func testBatchIsolatesWith(t *testing.T, s *events.Store, more int) {
	existing, _ := openTicket(t, s, "acme")
	dupID := NewTicketID(t)
	if _, err := s.Append(ctx(t), events.Append{Tenant: "acme", TicketID: dupID,
		Events: []events.Event{{ID: "evt-" + dupID, Data: OpenedFixture("x")}}}); err != nil {
		t.Fatal(err)
	}
	good1, good2 := NewTicketID(t), NewTicketID(t)
	appends := []events.Append{
		{Tenant: "acme", TicketID: good1, Events: []events.Event{{Data: OpenedFixture("g1")}}},
		{Tenant: "acme", TicketID: existing, Events: []events.Event{{Data: OpenedFixture("conflict")}}},
		{Tenant: "acme", TicketID: NewTicketID(t), Events: []events.Event{{ID: "evt-" + dupID, Data: OpenedFixture("dup")}}},
		{Tenant: "acme", TicketID: good2, Events: []events.Event{{Data: OpenedFixture("g2")}}},
		{Tenant: "bad tenant", TicketID: NewTicketID(t), Events: []events.Event{{Data: OpenedFixture("bad")}}},
	}
	for i := range more {
		appends = append(appends, events.Append{Tenant: "acme", TicketID: NewTicketID(t), Events: []events.Event{{Data: OpenedFixture(fmt.Sprint("more ", i))}}})
	}
	results := s.AppendBatch(ctx(t), appends)
	if results[0].Err != nil || results[3].Err != nil {
		t.Fatalf("good entries failed: %v, %v", results[0].Err, results[3].Err)
	}
	for i, r := range results[5:] {
		if r.Err != nil || r.Duplicate {
			t.Fatalf("entry %d: %+v, want stored", 5+i, r)
		}
		mustLoad(t, s, appends[5+i].TicketID)
	}
	if !errors.Is(results[1].Err, events.ErrConflict) {
		t.Fatalf("conflicting entry: %v, want ErrConflict", results[1].Err)
	}
	if results[2].Err != nil || !results[2].Duplicate {
		t.Fatalf("duplicate entry: %+v", results[2])
	}
	var ve *events.ValidationError
	if !errors.As(results[4].Err, &ve) || ve.Field != "tenant" {
		t.Fatalf("bad tenant: %v", results[4].Err)
	}
	for _, id := range []string{good1, good2} {
		mustLoad(t, s, id)
	}
	if h, _ := mustLoad(t, s, existing); len(h) != 1 {
		t.Fatalf("conflicting entry appended: %d events", len(h))
	}
}

// Two appends built on one head in one batch: the first is stored, the second is a
// conflict, and the rest of the batch is stored; when the first is a duplicate (stored
// nothing), the second is appended after all.
func testBatchOneHeadTwice(t *testing.T, s *events.Store) {
	id, ap := openTicket(t, s, "acme")
	head := ap.Events[0]
	on := func(body, eventID string) events.Append {
		return events.Append{Tenant: "acme", TicketID: id, ExpectedVersion: head.Sequence, PrevHash: head.Hash,
			Events: []events.Event{{ID: eventID, Data: events.Commented{Body: body}}}}
	}
	other := NewTicketID(t)
	results := s.AppendBatch(ctx(t), []events.Append{on("first", ""), on("second", ""),
		{Tenant: "acme", TicketID: other, Events: []events.Event{{Data: OpenedFixture("other")}}}})
	if results[0].Err != nil || results[2].Err != nil {
		t.Fatalf("first append %v, other ticket %v; want both stored", results[0].Err, results[2].Err)
	}
	if !errors.Is(results[1].Err, events.ErrConflict) {
		t.Fatalf("second append on the same head: %v, want ErrConflict", results[1].Err)
	}
	mustLoad(t, s, other)
	if h, _ := mustLoad(t, s, id); len(h) != 2 || h[1].ID != results[0].Events[0].ID {
		t.Fatalf("ticket holds %d events, want opened and the first comment", len(h))
	}

	id, ap = openTicket(t, s, "acme")
	head = ap.Events[0]
	results = s.AppendBatch(ctx(t), []events.Append{on("opened again", head.ID), on("after the duplicate", "")})
	if results[0].Err != nil || !results[0].Duplicate || results[1].Err != nil {
		t.Fatalf("duplicate then append on one head: %+v, %+v", results[0], results[1])
	}
	if h, _ := mustLoad(t, s, id); len(h) != 2 || h[1].ID != results[1].Events[0].ID {
		t.Fatalf("ticket holds %d events, want opened and the comment after the duplicate", len(h))
	}
}

func testLoadUnknown(t *testing.T, s *events.Store) {
	for _, id := range []string{NewTicketID(t), "no.such>id", ""} {
		if _, _, err := s.Load(ctx(t), id); !errors.Is(err, events.ErrNotFound) {
			t.Fatalf("load %q: %v, want ErrNotFound", id, err)
		}
	}
}

func testSubscribe(t *testing.T, s *events.Store) {
	var appended []events.Appended
	for range 5 {
		_, ap := openTicket(t, s, "acme")
		appended = append(appended, ap)
	}
	from := appended[2].Version
	// A message on a ticket subject that is not a ledgerdesk event goes to undecodable,
	// and the subscription goes on past it.
	junk, err := s.JetStream().Publish(ctx(t), events.Subject("acme", "junk"), []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	_, last := openTicket(t, s, "acme")
	appended = append(appended, last)
	got := make(chan events.Raw, 10)
	bad := make(chan *events.Undecodable, 10)
	sub, err := s.Subscribe(ctx(t), from, func(r events.Raw) error { got <- r; return nil },
		func(u *events.Undecodable) error { bad <- u; return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	select {
	case u := <-bad:
		if u.Sequence != junk.Sequence || string(u.Data) != "{}" {
			t.Fatalf("undecodable seq %d data %q, want seq %d data {}", u.Sequence, u.Data, junk.Sequence)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the message at seq %d never reached undecodable", junk.Sequence)
	}
	for _, want := range appended[2:] {
		select {
		case r := <-got:
			if r.Sequence != want.Version || r.ID != want.Events[0].ID {
				t.Fatalf("got seq %d id %s, want seq %d id %s", r.Sequence, r.ID, want.Version, want.Events[0].ID)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event for seq %d", want.Version)
		}
	}
}

func testSubscriptionStops(t *testing.T, s *events.Store) {
	openTicket(t, s, "acme")
	boom := errors.New("boom")
	sub, err := s.Subscribe(ctx(t), 1, func(events.Raw) error { return boom }, func(*events.Undecodable) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.Done():
		if !errors.Is(sub.Err(), boom) {
			t.Fatalf("stopped with %v, want the callback's error", sub.Err())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a subscription whose callback failed did not stop")
	}
	stopped, err := s.Subscribe(ctx(t), 1, func(events.Raw) error { return nil }, func(*events.Undecodable) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	stopped.Stop()
	stopped.Stop() // twice is harmless
	if err := stopped.Err(); err != nil {
		t.Fatalf("a stopped subscription reports %v, want nil", err)
	}
}
