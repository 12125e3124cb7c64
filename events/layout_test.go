package events_test

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
)

// partitionOf is nats-server's partition(n,1,2) of the stream's transform: FNV-1a of the
// tenant and ticket tokens, modulo n. A server that hashed otherwise would move the new
// events of existing tickets to other subjects.
func partitionOf(tenant, ticketID string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(tenant + ticketID))
	return int(h.Sum32() % uint32(n))
}

func newStoreN(t *testing.T, n int) (*events.Store, *nats.Conn) {
	t.Helper()
	_, nc := eventstest.RunJetStream(t)
	s, err := events.NewStore(context.Background(), nc, events.StoreConfig{Partitions: n})
	if err != nil {
		t.Fatal(err)
	}
	return s, nc
}

// TestLogLayout: the stream records layout 2 and its partition count; an event published
// on tickets.<tenant>.<ticket> is stored on tickets.<p>.<tenant>.<ticket> in the ticket's
// partition, which Raw.Partition tells; a ticket's version is the last sequence of its
// stored subject; the partition, tenant and ticket filters select what they name.
func TestLogLayout(t *testing.T) {
	const n = 4
	s, _ := newStoreN(t, n)
	ctx := context.Background()
	if s.Partitions() != n {
		t.Fatalf("Partitions() = %d, want %d", s.Partitions(), n)
	}
	stream, err := s.JetStream().Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	if cfg.Metadata[events.MetadataLogLayout] != "2" || cfg.Metadata[events.MetadataPartitions] != "4" ||
		!slices.Equal(cfg.Subjects, []string{"tickets.*.*"}) || cfg.SubjectTransform == nil ||
		cfg.SubjectTransform.Destination != "tickets.{{partition(4,1,2)}}.{{wildcard(1)}}.{{wildcard(2)}}" {
		t.Fatalf("stream layout: subjects %v, transform %+v, metadata %v", cfg.Subjects, cfg.SubjectTransform, cfg.Metadata)
	}

	type ticket struct {
		tenant, id string
		version    uint64
	}
	var tickets []ticket
	seen := map[int]bool{}
	for i := 0; len(seen) < n || i < 8; i++ {
		tenant := []string{"acme", "globex"}[i%2]
		id := eventstest.NewTicketID(t)
		ap, err := s.Append(ctx, events.Append{Tenant: tenant, TicketID: id, Events: []events.Event{{Data: eventstest.OpenedFixture("x")}}})
		if err != nil {
			t.Fatal(err)
		}
		tickets = append(tickets, ticket{tenant, id, ap.Version})
		seen[partitionOf(tenant, id, n)] = true
	}
	for _, tk := range tickets {
		p := partitionOf(tk.tenant, tk.id, n)
		m, err := stream.GetMsg(ctx, tk.version)
		if err != nil {
			t.Fatal(err)
		}
		if want := events.StoredSubject(p, tk.tenant, tk.id); m.Subject != want {
			t.Fatalf("stored on %q, want %q", m.Subject, want)
		}
		last, err := stream.GetLastMsgForSubject(ctx, "tickets.*."+tk.tenant+"."+tk.id)
		if err != nil || last.Sequence != tk.version {
			t.Fatalf("last message of tickets.*.%s.%s: %v, %v; want seq %d", tk.tenant, tk.id, last, err, tk.version)
		}
		raws, version, err := s.Load(ctx, tk.id)
		if err != nil || len(raws) != 1 || version != tk.version || raws[0].Partition != p {
			t.Fatalf("load %s: %d events, version %d, partition %d, %v; want 1, %d, %d", tk.id, len(raws), version, raws[0].Partition, err, tk.version, p)
		}
		trail, err := s.LoadTrail(ctx, tk.id)
		if err != nil || trail.Version != tk.version {
			t.Fatalf("trail of %s: version %d, %v; want %d", tk.id, trail.Version, err, tk.version)
		}
		got, err := s.Get(ctx, tk.version)
		if err != nil || got.Partition != p {
			t.Fatalf("get seq %d: partition %d, %v; want %d", tk.version, got.Partition, err, p)
		}
	}

	filtered := func(filter string) []string {
		t.Helper()
		c, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
		if err != nil {
			t.Fatal(err)
		}
		var subjects []string
		batch, err := c.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			subjects = append(subjects, m.Subject())
		}
		return subjects
	}
	for p := range n {
		var want []string
		for _, tk := range tickets {
			if partitionOf(tk.tenant, tk.id, n) == p {
				want = append(want, events.StoredSubject(p, tk.tenant, tk.id))
			}
		}
		if got := filtered(events.PartitionFilter(p)); !slices.Equal(got, want) {
			t.Errorf("partition %d (%s): %v, want %v", p, events.PartitionFilter(p), got, want)
		}
	}
	for _, got := range filtered(events.TenantFilter("globex")) {
		if _, tenant, _, err := events.ParseStoredSubject(got); err != nil || tenant != "globex" {
			t.Errorf("%s: %s", events.TenantFilter("globex"), got)
		}
	}
	if got := filtered(events.TicketFilter(tickets[0].id)); len(got) != 1 {
		t.Errorf("%s: %v, want the one event", events.TicketFilter(tickets[0].id), got)
	}
}

// TestLogLayoutConcurrencyAndBatches: the expected last sequence of an append is checked
// on the ticket's stored subject, alone and in an atomic batch across partitions.
func TestLogLayoutConcurrencyAndBatches(t *testing.T) {
	s, _ := newStoreN(t, 4)
	ctx := context.Background()
	var appends []events.Append
	for range 6 {
		appends = append(appends, events.Append{Tenant: "acme", TicketID: eventstest.NewTicketID(t),
			Events: []events.Event{{Data: eventstest.OpenedFixture("x")}, {Data: events.Commented{Body: "b"}}}})
	}
	heads := map[string]uint64{}
	for i, r := range s.AppendBatch(ctx, appends) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		heads[appends[i].TicketID] = r.Version
	}
	stale := appends[2].TicketID
	var next []events.Append
	for _, a := range appends {
		v := heads[a.TicketID]
		if a.TicketID == stale {
			v--
		}
		next = append(next, events.Append{Tenant: "acme", TicketID: a.TicketID, ExpectedVersion: v,
			Events: []events.Event{{Data: events.Commented{Body: "c"}}, {Data: events.Commented{Body: "d"}}}})
	}
	for i, r := range s.AppendBatch(ctx, next) {
		switch id := next[i].TicketID; {
		case id == stale && !errors.Is(r.Err, events.ErrConflict):
			t.Errorf("stale expected version: %v, want ErrConflict", r.Err)
		case id != stale && r.Err != nil:
			t.Errorf("append at the head of %s: %v", id, r.Err)
		}
	}
}

// TestLogRefusesStoredSubjects: a message published straight to a stored subject
// (tickets.<p>.<tenant>.<ticket>) is no subject of the stream and is not stored.
func TestLogRefusesStoredSubjects(t *testing.T) {
	s, admin := newStoreN(t, 0)
	ctx := context.Background()
	before, err := s.LastSequence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.JetStream().Publish(ctx, "tickets.0.acme.x", []byte("{}")); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("publish to tickets.0.acme.x: %v, want no stream to answer", err)
	}
	if err := admin.Publish("tickets.0.acme.x", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := admin.Flush(); err != nil {
		t.Fatal(err)
	}
	if after, err := s.LastSequence(ctx); err != nil || after != before {
		t.Fatalf("last sequence %d after publishing to a stored subject, want %d (%v)", after, before, err)
	}
}

// TestLogLayoutRefusals: a TICKETS stream of layout 1 (a release before partitions) is
// refused by Provision and OpenStore with what to do; a partition count other than the
// stream's is refused; 0 takes the stream's.
func TestLogLayoutRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("layout 1", func(t *testing.T) {
		_, nc := eventstest.RunJetStream(t)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		old := events.StreamConfig(events.StoreConfig{})
		old.SubjectTransform, old.Metadata = nil, nil
		if _, err := js.CreateStream(ctx, old); err != nil {
			t.Fatal(err)
		}
		for what, err := range map[string]error{
			"provision":  events.Provision(ctx, js, events.StoreConfig{}),
			"open store": func() error { _, err := events.OpenStore(ctx, nc, events.StoreConfig{}); return err }(),
		} {
			if !errors.Is(err, events.ErrLayout) || !strings.Contains(err.Error(), "layout 1 (one subject per ticket") ||
				!strings.Contains(err.Error(), "this release reads and writes layout 2") || !strings.Contains(err.Error(), "fresh data directory") {
				t.Errorf("%s of a layout 1 log: %v", what, err)
			}
		}
		if _, err := js.Stream(ctx, events.ConfigStreamName); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("a refused provision made stream CONFIG: %v", err)
		}
	})
	t.Run("partitions", func(t *testing.T) {
		s, nc := newStoreN(t, 4)
		js := s.JetStream()
		err := events.Provision(ctx, js, events.StoreConfig{Partitions: 8})
		if !errors.Is(err, events.ErrLayout) || !strings.Contains(err.Error(), "stream TICKETS has 4 partitions, the setting asks for 8") {
			t.Errorf("provision with another partition count: %v", err)
		}
		if _, err := events.OpenStore(ctx, nc, events.StoreConfig{Partitions: 8}); !errors.Is(err, events.ErrLayout) {
			t.Errorf("open store with another partition count: %v", err)
		}
		if err := events.Provision(ctx, js, events.StoreConfig{}); err != nil {
			t.Errorf("provision with the stream's partition count: %v", err)
		}
		if n, err := events.LogPartitions(ctx, js); n != 4 || err != nil {
			t.Errorf("partitions after provisioning with 0: %d, %v; want the stream's 4", n, err)
		}
		for _, bad := range []int{-1, events.MaxPartitions + 1} {
			if err := events.Provision(ctx, js, events.StoreConfig{Partitions: bad}); err == nil || !strings.Contains(err.Error(), "must be from 1 to") {
				t.Errorf("provision with %d partitions: %v", bad, err)
			}
		}
	})
}

func TestStoredSubjects(t *testing.T) {
	if got := events.StoredSubject(7, "acme", "t1"); got != "tickets.7.acme.t1" {
		t.Errorf("StoredSubject = %q", got)
	}
	for filter, want := range map[string]string{
		events.PartitionFilter(3):                       "tickets.3.>",
		events.TenantFilter("acme"):                     "tickets.*.acme.>",
		events.TicketFilter("t1"):                       "tickets.*.*.t1",
		events.PartitionConsumer("routing-tickets", 0):  "routing-tickets-00",
		events.PartitionConsumer("routing-tickets", 15): "routing-tickets-15",
	} {
		if filter != want {
			t.Errorf("%q, want %q", filter, want)
		}
	}
	if p, tenant, id, err := events.ParseStoredSubject("tickets.12.acme.t1"); p != 12 || tenant != "acme" || id != "t1" || err != nil {
		t.Errorf("parse tickets.12.acme.t1: %d %q %q %v", p, tenant, id, err)
	}
	for _, bad := range []string{"tickets.acme.t1", "tickets.x.acme.t1", "tickets.-1.acme.t1", "tickets.01.acme.t1",
		"tickets.100.acme.t1", "config.1.acme.t1", "tickets.1.acme.t1.x"} {
		if _, _, _, err := events.ParseStoredSubject(bad); err == nil {
			t.Errorf("parse %q: no error", bad)
		}
	}
}

// TestFromMsgChecksTheStoredSubject: the stored subject's tenant and ticket must be the
// event's; a published (three-token) subject is no stored subject.
func TestFromMsgChecksTheStoredSubject(t *testing.T) {
	r, err := events.Seal(events.Event{ID: "e1", Source: "/t", Tenant: "acme", TicketID: "t1", Time: time.Now().UTC(),
		Data: eventstest.OpenedFixture("x")}, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := events.FromMsg("tickets.5.acme.t1", r.Header(), r.RawData, 9)
	if err != nil || got.Partition != 5 || got.Sequence != 9 {
		t.Fatalf("FromMsg on its stored subject: partition %d, seq %d, %v", got.Partition, got.Sequence, err)
	}
	for _, subject := range []string{"tickets.5.globex.t1", "tickets.5.acme.t2", "tickets.acme.t1"} {
		if _, err := events.FromMsg(subject, r.Header(), r.RawData, 9); err == nil {
			t.Errorf("FromMsg on %s accepted an event of acme/t1", subject)
		}
	}
}

// TestPartitionsArePinned: where the server stores a ticket is a persisted format (a
// ticket's events must stay on one subject across server upgrades): these never change.
func TestPartitionsArePinned(t *testing.T) {
	s, nc := newStoreN(t, 16)
	ctx := context.Background()
	stream, err := s.JetStream().Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tickets.0.acme.t1", "tickets.9.acme.t2", "tickets.13.globex.t1"} {
		_, tenant, id, _ := events.ParseStoredSubject(want)
		seq := openOnOwnSubject(t, nc, tenant, id) // t1 under two tenants: Store.Append refuses the second
		if m, err := stream.GetMsg(ctx, seq); err != nil || m.Subject != want {
			t.Errorf("%s/%s stored on %v (%v), want %s", tenant, id, m, err, want)
		}
	}
}
