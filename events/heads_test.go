package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
)

// TestStarted: a new ticket's first event, appended alone or in an atomic batch, carries
// the server's check that no tenant's subject held its id (OpensTicket: it starts its
// ticket with no request), and the store refuses to open an id another tenant holds. An
// opening event checked on its own subject only (as appended before the store asked for
// the whole id) opens its subject, and Started holds for it when no other tenant's
// subject holds the id. A later event, an opening event published without the check, one
// checked against another subject, and one whose id another tenant held first do not
// start their ticket; a forger who asks for the store's check gets it only for an unused id.
func TestStarted(t *testing.T) {
	s, nc := newStoreN(t, 4)
	ctx := context.Background()
	open := func(tenant, id string) events.Append {
		return events.Append{Tenant: tenant, TicketID: id, Events: []events.Event{{Data: eventstest.OpenedFixture("x")}}}
	}
	stored := func(seq uint64) events.Raw {
		t.Helper()
		r, err := s.Get(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	alone, shared := eventstest.NewTicketID(t), eventstest.NewTicketID(t)
	a, err := s.Append(ctx, open("acme", alone))
	if err != nil {
		t.Fatal(err)
	}
	// Two events make the group an atomic batch (a few single events go as plain publishes).
	batched := open("acme", eventstest.NewTicketID(t))
	batched.Events = append(batched.Events, events.Event{Data: events.Commented{Body: "in the same batch"}})
	results := s.AppendBatch(ctx, []events.Append{batched, open("globex", shared)})
	for _, r := range results {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	next, err := s.Append(ctx, events.Append{Tenant: "acme", TicketID: alone, ExpectedVersion: a.Version,
		PrevHash: a.Events[0].Hash, Events: []events.Event{{Data: events.Commented{Body: "later"}}}})
	if err != nil {
		t.Fatal(err)
	}
	// The same ticket id under another tenant: the store refuses to open it, and a writer
	// that checks the event's own subject only (as Store.Append did before it checked the
	// ticket id under every tenant) opens that subject.
	if _, err := s.Append(ctx, open("acme", shared)); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("opening a ticket id another tenant holds: %v, want ErrConflict", err)
	}
	crossed := openOnOwnSubject(t, nc, "acme", shared)
	ownChecked := openOnOwnSubject(t, nc, "acme", eventstest.NewTicketID(t))

	// Forgeries with publish rights: an opening event without the check, one checked
	// against a subject of the forger's choosing, and one asking for the store's check.
	forge := func(id string, header map[string]string) uint64 { return publishOpener(t, nc, "acme", id, header) }
	unchecked := forge(eventstest.NewTicketID(t), nil)
	overridden := forge(eventstest.NewTicketID(t), map[string]string{
		jetstream.ExpectedLastSubjSeqHeader:     "0",
		jetstream.ExpectedLastSubjSeqSubjHeader: "tickets.0.nobody.none",
	})

	provedID := eventstest.NewTicketID(t)
	proved := forge(provedID, map[string]string{
		jetstream.ExpectedLastSubjSeqHeader:     "0",
		jetstream.ExpectedLastSubjSeqSubjHeader: events.TicketFilter(provedID),
	})

	cases := []struct {
		name               string
		seq                uint64
		opens, opensTicket bool
		want               bool
	}{
		{"appended alone", a.Version, true, true, true},
		{"appended in an atomic batch", results[0].Events[0].Sequence, true, true, true},
		{"the id was taken after, by a writer checking its own subject", results[1].Version, true, true, true},
		{"another tenant holds the id", crossed, true, false, false},
		{"checked on its own subject only", ownChecked, true, false, true},
		{"published without the check", unchecked, false, false, false},
		{"checked against another subject", overridden, false, false, false},
		{"checked against its ticket id under every tenant", proved, true, true, true},
	}
	var claims []events.Raw
	for _, c := range cases {
		r := stored(c.seq)
		if r.OpensSubject != c.opens || r.OpensTicket != c.opensTicket || r.StartsTicket() != c.opensTicket {
			t.Errorf("%s: OpensSubject = %v, OpensTicket = %v, StartsTicket = %v, want %v, %v, %v", c.name,
				r.OpensSubject, r.OpensTicket, r.StartsTicket(), c.opens, c.opensTicket, c.opensTicket)
		}
		claims = append(claims, r)
	}
	if stored(next.Version).OpensSubject {
		t.Error("a later event of a ticket: OpensSubject = true")
	}
	var ids []string
	for _, r := range claims {
		ids = append(ids, r.TicketID)
	}
	subjects, err := s.SubjectsOf(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if got := subjects.Started(claims[i]); got != c.want {
			t.Errorf("%s: Started = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestOwnOnly: a ticket whose messages are all under its own tenant's subject is
// told so, and its trail read on that subject is the one read whole; a ticket id another
// tenant's subject holds too, and one without messages, are not.
func TestOwnOnly(t *testing.T) {
	const n = 4
	s, nc := newStoreN(t, n)
	ctx := context.Background()
	alone, shared, none := eventstest.NewTicketID(t), eventstest.NewTicketID(t), eventstest.NewTicketID(t)
	a, err := s.Append(ctx, events.Append{Tenant: "acme", TicketID: alone, Events: []events.Event{{Data: eventstest.OpenedFixture("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, events.Append{Tenant: "acme", TicketID: alone, ExpectedVersion: a.Version, PrevHash: a.Events[0].Hash,
		Events: []events.Event{{Data: events.Commented{Body: "more"}}}}); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"acme", "globex"} {
		openOnOwnSubject(t, nc, tenant, shared)
	}
	p := partitionOf("acme", alone, n)
	subjects, err := s.SubjectsOf(ctx, []string{alone, shared, none})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{alone, shared, none} {
		if got := subjects.OwnOnly(partitionOf("acme", id, n), "acme", id); got != (id == alone) {
			t.Errorf("OwnOnly(%s) = %v, want %v (subjects %v)", id, got, id == alone, subjects[id])
		}
	}
	own, err := s.FollowOwnTrail(ctx, p, "acme", alone)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := s.FollowTrail(ctx, alone)
	if err != nil {
		t.Fatal(err)
	}
	if len(own.Raws) != 2 || len(own.Raws) != len(whole.Raws) || own.Version != whole.Version || own.Head != whole.Head || own.Seen() != whole.Seen() {
		t.Fatalf("own-subject trail %d events at version %d, seen %d; whole %d at %d, seen %d",
			len(own.Raws), own.Version, own.Seen(), len(whole.Raws), whole.Version, whole.Seen())
	}
}

// TestLastMessagesNeverTruncate: a request whose filters match more subjects than the
// server answers at once fails instead of leaving some out (a subject left out could be
// another tenant's of a ticket id), so callers read the tickets whole.
func TestLastMessagesNeverTruncate(t *testing.T) {
	const n = 4
	s, _ := newStoreN(t, n)
	ctx := context.Background()
	var ids []string
	var appends []events.Append
	for range 1025 {
		id := eventstest.NewTicketID(t)
		ids = append(ids, id)
		appends = append(appends, events.Append{Tenant: "acme", TicketID: id, Events: []events.Event{{Data: eventstest.OpenedFixture("x")}}})
	}
	for i := 0; i < len(appends); i += 500 {
		for _, r := range s.AppendBatch(ctx, appends[i:min(i+500, len(appends))]) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	if got, err := s.SubjectsOf(ctx, ids); err == nil {
		t.Fatalf("1,025 subjects in one request: %d answers and no error", len(got))
	}
	if _, err := s.SubjectsOf(ctx, ids[1:]); err != nil {
		t.Fatalf("1,024 subjects in one request: %v", err)
	}
}

// TestSubjectsOfSeesEveryTenant: another tenant's subject of a ticket id counts
// however many subjects the other ids of the request have.
func TestSubjectsOfSeesEveryTenant(t *testing.T) {
	const n = 4
	s, nc := newStoreN(t, n)
	ctx := context.Background()
	x, y := eventstest.NewTicketID(t), eventstest.NewTicketID(t)
	for _, k := range []struct{ tenant, id string }{{"acme", x}, {"acme", y}, {"globex", y}, {"initech", y}, {"umbrella", y}, {"globex", x}} {
		openOnOwnSubject(t, nc, k.tenant, k.id)
	}
	subjects, err := s.SubjectsOf(ctx, []string{x, y})
	if err != nil {
		t.Fatal(err)
	}
	if subjects.OwnOnly(partitionOf("acme", x, n), "acme", x) || subjects.OwnOnly(partitionOf("acme", y, n), "acme", y) {
		t.Fatalf("OwnOnly true for ids other tenants hold too: %v", subjects)
	}
}

// publishOpener publishes a sealed opening event of tenant's ticket id straight to the
// log, with the given headers beside its envelope, as anyone with publish rights can, and
// returns its stream sequence.
func publishOpener(t *testing.T, nc *nats.Conn, tenant, id string, header map[string]string) uint64 {
	t.Helper()
	r, err := events.Seal(events.Event{ID: id + "-" + tenant, Source: "/test", Tenant: tenant, TicketID: id,
		Time: time.Now(), Data: eventstest.OpenedFixture("published")}, "")
	if err != nil {
		t.Fatal(err)
	}
	m := &nats.Msg{Subject: events.Subject(tenant, id), Header: r.Header(), Data: r.RawData}
	for k, v := range header {
		m.Header.Set(k, v)
	}
	js, _ := jetstream.New(nc)
	ack, err := js.PublishMsg(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// openOnOwnSubject opens a ticket as writers did before Store.Append checked the ticket
// id under every tenant: checked against its own stored subject only, so that an id
// another tenant's subject holds is stored too.
func openOnOwnSubject(t *testing.T, nc *nats.Conn, tenant, id string) uint64 {
	t.Helper()
	return publishOpener(t, nc, tenant, id, map[string]string{jetstream.ExpectedLastSubjSeqHeader: "0"})
}
