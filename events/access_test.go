package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// The persisted encoding of a grant. NB: must not change; a new shape is a new event type.
func TestAccessGrantEncodingStable(t *testing.T) {
	g := events.AccessGrant{ID: "p1", Name: "bob", Role: "agent", Tenants: []string{"acme"}, TokenHash: "ab12"}
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":"p1","name":"bob","role":"agent","tenants":["acme"],"token_hash":"ab12"}`
	if string(b) != want {
		t.Fatalf("grant encodes as %s, want %s", b, want)
	}
}

func TestAccessGrantRevokeSubscribe(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	seq, err := s.GrantAccess(ctx, events.AccessGrant{ID: "p1", Name: "bob", Role: "agent", Tenants: []string{"acme"}, TokenHash: "ab12"}, "admin:admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GrantAccess(ctx, events.AccessGrant{ID: "p1", Name: "eve"}, "admin:admin"); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("second grant of one id: %v, want ErrConflict", err)
	}
	if _, err := s.RevokeAccess(ctx, "p1", seq, "admin:admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeAccess(ctx, "p1", seq, "admin:admin"); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("second revocation: %v, want ErrConflict", err)
	}
	got := make(chan events.AccessEvent, 4)
	sub, err := s.SubscribeAccess(ctx, func(e events.AccessEvent) error { got <- e; return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	for _, want := range []string{events.TypeAccessGranted, events.TypeAccessRevoked} {
		select {
		case e := <-got:
			if e.Type != want || e.Actor != "admin:admin" || e.Time.IsZero() {
				t.Fatalf("got %+v, want a %s by admin:admin", e, want)
			}
			if want == events.TypeAccessGranted && (e.Grant.Name != "bob" || e.Grant.TokenHash != "ab12") {
				t.Fatalf("grant read back as %+v", e.Grant)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s delivered", want)
		}
	}
	stream, err := s.JetStream().Stream(ctx, events.AccessStreamName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	if !cfg.DenyDelete || !cfg.DenyPurge || cfg.Storage != jetstream.FileStorage || cfg.MaxAge != 0 {
		t.Fatalf("ACCESS stream config %+v: want file storage, deny delete and purge, no age limit", cfg)
	}
	if last, err := s.AccessLastSequence(ctx); err != nil || last != 2 {
		t.Fatalf("AccessLastSequence = %d, %v; want 2", last, err)
	}
}
