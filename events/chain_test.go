package events_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
)

// history appends an open, an assign and a comment and returns the stored history.
func history(t *testing.T, s *events.Store) []events.Raw {
	t.Helper()
	ctx := context.Background()
	id := eventstest.NewTicketID(t)
	ap, err := s.Append(ctx, events.Append{Tenant: "acme", TicketID: id, Events: []events.Event{{Data: eventstest.OpenedFixture("vpn down")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, events.Append{Tenant: "acme", TicketID: id, ExpectedVersion: ap.Version, PrevHash: ap.Events[0].Hash,
		Events: []events.Event{{Data: events.Assigned{Agent: "bob"}}, {Data: events.Commented{Body: "looking"}}}}); err != nil {
		t.Fatal(err)
	}
	h, _, err := s.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.VerifyChain(h); err != nil {
		t.Fatalf("intact history fails verification: %v", err)
	}
	return h
}

func chainError(t *testing.T, err error) *events.ChainError {
	t.Helper()
	var ce *events.ChainError
	if !errors.As(err, &ce) {
		t.Fatalf("verify: %v, want a *ChainError", err)
	}
	return ce
}

// TestForgedCopyIsExposed re-publishes the stored history through a second stream with
// the assignment forged (agent changed, headers kept) and verifies what comes back.
func TestForgedCopyIsExposed(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	h := history(t, s)
	forged, err := s.JetStream().CreateStream(ctx, jetstream.StreamConfig{Name: "FORGED", Subjects: []string{"forged.>"}})
	if err != nil {
		t.Fatal(err)
	}
	tickets, err := s.JetStream().Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range h {
		stored, err := tickets.GetMsg(ctx, r.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		m := nats.NewMsg("forged." + r.Tenant + "." + r.TicketID)
		m.Header = stored.Header
		for k := range m.Header { // publish bookkeeping (batch, expected sequence), not event attributes
			if strings.HasPrefix(k, "Nats-") {
				m.Header.Del(k)
			}
		}
		m.Data = r.RawData
		if i == 1 {
			m.Data = []byte(strings.Replace(string(r.RawData), `"bob"`, `"mallory"`, 1))
		}
		if _, err := s.JetStream().PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	var copied []events.Raw
	for seq := uint64(1); seq <= uint64(len(h)); seq++ {
		m, err := forged.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		r, err := events.FromMsg("", m.Header, m.Data, m.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		copied = append(copied, r)
	}
	if copied[1].Data.(events.Assigned).Agent != "mallory" {
		t.Fatal("forgery did not take")
	}
	ce := chainError(t, events.VerifyChain(copied))
	if ce.Index != 1 || ce.EventID != h[1].ID || !strings.Contains(ce.Reason, "altered") {
		t.Fatalf("chain error = %v, want event 1 (%s) named as altered", ce, h[1].ID)
	}
}

func TestEditedHistoryIsExposed(t *testing.T) {
	s := newStore(t)
	h := history(t, s)

	missing := append([]events.Raw{h[0]}, h[2:]...)
	if ce := chainError(t, events.VerifyChain(missing)); ce.Index != 1 || ce.EventID != h[2].ID || !strings.Contains(ce.Reason, "missing") {
		t.Fatalf("missing event: %v", ce)
	}

	reordered := []events.Raw{h[0], h[2], h[1]}
	if ce := chainError(t, events.VerifyChain(reordered)); ce.Index != 1 {
		t.Fatalf("reordered: %v", ce)
	}

	inserted := append([]events.Raw{}, h...)
	extra := h[2]
	extra.ID = "inserted"
	extra.PrevHash = h[2].Hash
	inserted = append(inserted[:2], append([]events.Raw{extra}, inserted[2:]...)...)
	if ce := chainError(t, events.VerifyChain(inserted)); ce.Index != 2 {
		t.Fatalf("inserted: %v", ce)
	}

	altered := append([]events.Raw{}, h...)
	altered[2].Actor = "someone-else" // an envelope attribute, not the data
	if ce := chainError(t, events.VerifyChain(altered)); ce.Index != 2 || ce.Sequence != h[2].Sequence {
		t.Fatalf("altered attribute: %v", ce)
	}
}

// TestComputeHashIsPinned: the chain's hash is a persisted format (every stored event
// carries it): SHA-256 of the length-prefixed version and attributes, in their fixed
// order, then the data's length and the data. NB: This must not change.
func TestComputeHashIsPinned(t *testing.T) {
	at := time.Date(2026, 12, 6, 1, 2, 3, 456789000, time.FixedZone("CET", 3600))
	e := events.Event{ID: "01a248ec-b4e4-7a0d", Source: "/ledgerdesk/intake", Type: "ledgerdesk.ticket.opened.v1", Tenant: "acme",
		TicketID: "t1", Time: at, Actor: "admin:ann", CorrelationID: "c1", CausationID: "k1", PrevHash: "ab12"}
	data := []byte(`{"title":"vpn down"}`)
	var rec []byte
	for _, s := range []string{"ledgerdesk-chain-v1", "1.0", e.ID, e.Source, e.Type, e.Tenant, e.TicketID,
		"2026-12-06T00:02:03.456789Z", "application/json", e.Actor, e.CorrelationID, e.CausationID, e.PrevHash, string(data)} {
		rec = binary.BigEndian.AppendUint64(rec, uint64(len(s)))
		rec = append(rec, s...)
	}
	want := sha256.Sum256(rec)
	if got := events.ComputeHash(e, data); got != hex.EncodeToString(want[:]) {
		t.Fatalf("hash %s, want %x", got, want)
	}
	big := bytes.Repeat([]byte("x"), 5000) // beyond the record's buffer on the stack
	rec = append(rec[:len(rec)-len(data)-8], binary.BigEndian.AppendUint64(nil, uint64(len(big)))...)
	want = sha256.Sum256(append(rec, big...))
	if got := events.ComputeHash(e, big); got != hex.EncodeToString(want[:]) {
		t.Fatalf("hash of a large event %s, want %x", got, want)
	}
}
