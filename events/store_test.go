package events_test

import (
	"context"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
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
