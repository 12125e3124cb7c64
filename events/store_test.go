package events_test

import (
	"context"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
)

func newStore(t *testing.T) *events.Store {
	_, nc := eventstest.RunJetStream(t)
	s, err := events.NewStore(context.Background(), nc, events.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreConformance(t *testing.T) {
	eventstest.RunStoreSuite(t, newStore)
}

func TestStreamDeniesDeleteAndPurge(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	id := eventstest.NewTicketID(t)
	ap, err := s.Append(ctx, events.Append{Tenant: "acme", TicketID: id, Events: []events.Event{{Data: eventstest.OpenedFixture("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := s.JetStream().Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info := stream.CachedInfo()
	if !info.Config.DenyDelete || !info.Config.DenyPurge || !info.Config.AllowAtomicPublish || info.Config.Storage.String() != "File" {
		t.Fatalf("stream config = %+v", info.Config)
	}
	if err := stream.Purge(ctx); err == nil {
		t.Fatal("purge succeeded on TICKETS")
	}
	if err := stream.DeleteMsg(ctx, ap.Version); err == nil {
		t.Fatal("delete succeeded on TICKETS")
	}
	if _, _, err := s.Load(ctx, id); err != nil {
		t.Fatalf("event gone after refused delete: %v", err)
	}
}

// With StoreConfig.Reads the store reads and follows the log on that connection and
// appends on its own: closing the read connection fails reads, not appends.
func TestStoreReadsOnItsReadConnection(t *testing.T) {
	srv, nc := eventstest.RunJetStream(t)
	ctx := context.Background()
	if _, err := events.NewStore(ctx, nc, events.StoreConfig{}); err != nil {
		t.Fatal(err)
	}
	reads := eventstest.Connect(t, srv, natsauth.RoleAdmin)
	s, err := events.OpenStore(ctx, nc, events.StoreConfig{Reads: reads})
	if err != nil {
		t.Fatal(err)
	}
	id := eventstest.NewTicketID(t)
	ap, err := s.Append(ctx, events.Append{Tenant: "acme", TicketID: id, Events: []events.Event{{Data: eventstest.OpenedFixture("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	raws, _, err := s.Load(ctx, id)
	if err != nil || len(raws) != 1 {
		t.Fatalf("load on the read connection: %d events, %v", len(raws), err)
	}
	reads.Close()
	head := ap.Events[0]
	if _, err := s.Append(ctx, events.Append{Tenant: "acme", TicketID: id, ExpectedVersion: head.Sequence, PrevHash: head.Hash,
		Events: []events.Event{{Data: events.Commented{Body: "still appending"}}}}); err != nil {
		t.Fatalf("append with the read connection closed: %v", err)
	}
	if _, _, err := s.Load(ctx, id); err == nil {
		t.Fatal("load succeeded with the read connection closed")
	}
	if _, err := s.Heads(ctx, raws[0].Partition, map[string]string{id: "acme"}); err == nil {
		t.Fatal("heads read with the read connection closed")
	}
	if _, err := s.Get(ctx, head.Sequence); err == nil {
		t.Fatal("direct get with the read connection closed")
	}
	if _, err := s.Subscribe(ctx, 1, func(events.Raw) error { return nil }, func(*events.Undecodable) error { return nil }); err == nil {
		t.Fatal("subscribed with the read connection closed")
	}
}
