package events_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// sealed builds a ticket's event linked to prev, at stream sequence seq.
func sealed(t *testing.T, tenant, ticket string, seq uint64, prev string, p events.Payload) events.Raw {
	t.Helper()
	r, err := events.Seal(events.Event{ID: ticket + "-" + string(rune('a'+seq)), Source: "/test", Tenant: tenant, TicketID: ticket,
		Time: time.Date(2026, 3, 2, 9, 0, int(seq), 0, time.UTC), Data: p}, prev)
	if err != nil {
		t.Fatal(err)
	}
	r.Sequence = seq
	return r
}

func rejectedReason(t *testing.T, err error) string {
	t.Helper()
	var re *events.RejectedError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a *RejectedError", err)
	}
	return re.Reason
}

// forgedLog is one ticket's history with every kind of refused event in it: an altered
// one, one built on it, one of another tenant, and honest events around them.
func forgedLog(t *testing.T) (log []events.Raw, honest []uint64) {
	opened := sealed(t, "acme", "T1", 1, "", events.Opened{Title: "vpn"})
	assigned := sealed(t, "acme", "T1", 2, opened.Hash, events.Assigned{Agent: "bob"})
	altered := sealed(t, "acme", "T1", 4, assigned.Hash, events.Resolved{})
	altered.RawData = []byte(`{"note":"forged"}`)
	onAltered := sealed(t, "acme", "T1", 5, altered.Hash, events.Closed{})
	otherTenant := sealed(t, "evil", "T1", 6, assigned.Hash, events.Commented{Body: "x"})
	unhashed := sealed(t, "acme", "T1", 7, assigned.Hash, events.Commented{Body: "y"})
	unhashed.Hash = ""
	comment := sealed(t, "acme", "T1", 8, assigned.Hash, events.Commented{Body: "honest"})
	return []events.Raw{opened, assigned, altered, onAltered, otherTenant, unhashed, comment}, []uint64{1, 2, 8}
}

func TestTrustedKeepsTheHonestChain(t *testing.T) {
	log, honest := forgedLog(t)
	trusted, head, rejected := events.Trusted(log)
	var got []uint64
	for _, r := range trusted {
		got = append(got, r.Sequence)
	}
	if len(got) != len(honest) || got[0] != honest[0] || got[1] != honest[1] || got[2] != honest[2] {
		t.Fatalf("trusted sequences %v, want %v", got, honest)
	}
	if head.Sequence != 8 || head.Hash != log[6].Hash || head.Tenant != "acme" {
		t.Fatalf("head %+v, want seq 8 of acme", head)
	}
	wantReasons := []string{"altered or forged", "built on a rejected event", "belongs to \"acme\"", "altered or forged"}
	if len(rejected) != len(wantReasons) {
		t.Fatalf("%d rejected, want %d: %v", len(rejected), len(wantReasons), rejected)
	}
	for i, err := range rejected {
		if reason := rejectedReason(t, err); !strings.Contains(reason, wantReasons[i]) {
			t.Errorf("rejection %d: %q, want it to say %q", i, reason, wantReasons[i])
		}
	}
}

func TestFirstEventMustStartTheChain(t *testing.T) {
	r := sealed(t, "acme", "T2", 1, "0123456789abcdef", events.Opened{Title: "x"})
	if _, err := (events.ChainHead{}).Link(r); !strings.Contains(rejectedReason(t, err), "does not have") {
		t.Fatalf("a first event with a prevhash: %v", err)
	}
}

// TestVerifierFollowsTheLog feeds the forged log to verifiers that hold every head, that
// hold one head only (so they reload), and that start mid-log, and checks each accepts
// exactly the honest events; a redelivered event is accepted again.
func TestVerifierFollowsTheLog(t *testing.T) {
	log, honest := forgedLog(t)
	// Another ticket between them, so that a verifier holding one head evicts T1's.
	other := sealed(t, "acme", "T9", 3, "", events.Opened{Title: "other"})
	log = append(log[:2], append([]events.Raw{other}, log[2:]...)...)
	honest = []uint64{1, 2, 3, 8}
	loads := 0
	load := func(_ context.Context, ticket string) ([]events.Raw, error) {
		loads++
		var out []events.Raw
		for _, r := range log {
			if r.TicketID == ticket {
				out = append(out, r)
			}
		}
		return out, nil
	}
	first := func(_ context.Context, ticket string) (uint64, error) {
		for _, r := range log {
			if r.TicketID == ticket {
				return r.Sequence, nil
			}
		}
		return 0, events.ErrNotFound
	}
	for _, tc := range []struct {
		name      string
		cfg       events.VerifierConfig
		from      int
		wantLoads bool
	}{
		{"from start", events.VerifierConfig{Load: load, FromStart: true}, 0, false},
		{"one head", events.VerifierConfig{Load: load, FromStart: true, Heads: 1}, 0, true},
		{"mid-log", events.VerifierConfig{Load: load}, 1, true},
		{"first sequences known", events.VerifierConfig{Load: load, FirstSequence: first}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loads = 0
			v, err := events.NewVerifier(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var accepted []uint64
			for _, r := range log[tc.from:] {
				err := v.Check(context.Background(), r)
				if err == nil {
					accepted = append(accepted, r.Sequence)
				} else {
					rejectedReason(t, err)
				}
			}
			want := honest
			if tc.from > 0 {
				want = honest[1:]
			}
			if len(accepted) != len(want) {
				t.Fatalf("accepted %v, want %v", accepted, want)
			}
			for i := range want {
				if accepted[i] != want[i] {
					t.Fatalf("accepted %v, want %v", accepted, want)
				}
			}
			if (loads > 0) != tc.wantLoads {
				t.Errorf("%d loads; want loads: %v", loads, tc.wantLoads)
			}
			if err := v.Check(context.Background(), log[1]); err != nil {
				t.Errorf("redelivered honest event: %v", err)
			}
			if err := v.Check(context.Background(), log[3]); err == nil { // the altered one
				t.Error("redelivered forged event accepted")
			}
		})
	}
}

// TestVerifierRefusesASecondStart: an event that claims to start a ticket which has
// events already is refused, whether the verifier holds the ticket's head or not.
func TestVerifierRefusesASecondStart(t *testing.T) {
	log, _ := forgedLog(t)
	restart := sealed(t, "acme", "T1", 9, "", events.Opened{Title: "again"})
	load := func(context.Context, string) ([]events.Raw, error) { return log, nil }
	first := func(context.Context, string) (uint64, error) { return 1, nil }
	v, err := events.NewVerifier(events.VerifierConfig{Load: load, FirstSequence: first})
	if err != nil {
		t.Fatal(err)
	}
	if reason := rejectedReason(t, v.Check(context.Background(), restart)); !strings.Contains(reason, "last accepted event (seq 8)") {
		t.Errorf("a second opened event without a head: %q", reason)
	}
	if err := v.Check(context.Background(), log[len(log)-1]); err != nil {
		t.Fatal(err)
	}
	if reason := rejectedReason(t, v.Check(context.Background(), restart)); !strings.Contains(reason, "last accepted event (seq 8)") {
		t.Errorf("a second opened event after the head: %q", reason)
	}
}

// TestVerifierFromStartLoadsOnlyEvictedTickets: a reader from the log's start holding
// two heads loads no history for the first event of each new ticket, however many heads
// it evicted before, and loads the history of an evicted ticket, whose second start it
// refuses.
func TestVerifierFromStartLoadsOnlyEvictedTickets(t *testing.T) {
	var log []events.Raw
	loaded := map[string]int{}
	load := func(_ context.Context, ticket string) ([]events.Raw, error) {
		loaded[ticket]++
		var out []events.Raw
		for _, r := range log {
			if r.TicketID == ticket {
				out = append(out, r)
			}
		}
		return out, nil
	}
	v, err := events.NewVerifier(events.VerifierConfig{Load: load, FromStart: true, Heads: 2})
	if err != nil {
		t.Fatal(err)
	}
	check := func(r events.Raw) error {
		log = append(log, r)
		return v.Check(context.Background(), r)
	}
	for i := range 10 {
		id := fmt.Sprintf("T%d", i)
		if err := check(sealed(t, "acme", id, uint64(i+1), "", events.Opened{Title: id})); err != nil {
			t.Fatalf("opening of %s: %v", id, err)
		}
	}
	if len(loaded) != 0 {
		t.Fatalf("loads for new tickets: %v", loaded)
	}
	if reason := rejectedReason(t, check(sealed(t, "acme", "T0", 11, "", events.Opened{Title: "again"}))); !strings.Contains(reason, "last accepted event (seq 1)") {
		t.Errorf("a second start of an evicted ticket: %q", reason)
	}
	if loaded["T0"] != 1 || len(loaded) != 1 {
		t.Errorf("loads %v, want one of T0's history", loaded)
	}
}
