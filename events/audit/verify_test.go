package audit_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
)

// sealedLog is a sound log of three tickets of two tenants, interleaved, in stream order.
func sealedLog(t *testing.T) []events.Raw {
	t.Helper()
	heads := map[string]string{}
	var log []events.Raw
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	add := func(tenant, ticket string, p events.Payload) {
		r, err := events.Seal(events.Event{ID: fmt.Sprintf("e%d", len(log)+1), Source: "/test", Tenant: tenant, TicketID: ticket,
			Time: at.Add(time.Duration(len(log)) * time.Minute), Actor: "agent:ann", Data: p}, heads[ticket])
		if err != nil {
			t.Fatal(err)
		}
		r.Sequence, r.Partition = uint64(len(log)+1), 1
		heads[ticket] = r.Hash
		log = append(log, r)
	}
	for _, tk := range []struct{ tenant, id string }{{"acme", "t1"}, {"acme", "t2"}, {"globex", "t3"}} {
		add(tk.tenant, tk.id, events.Opened{Type: events.Incident, Title: "down " + tk.id, Impact: events.High, Urgency: events.High, Priority: "P1",
			Requester: events.Requester{Name: "Ann", Email: "ann@example.com"}})
	}
	for i := range 4 {
		for _, id := range []string{"t1", "t2", "t3"} {
			tenant := map[string]string{"t1": "acme", "t2": "acme", "t3": "globex"}[id]
			add(tenant, id, events.Commented{Body: fmt.Sprintf("comment %d", i)})
		}
	}
	return log
}

// signedAt signs the tree of the log's first sizes.
func signedAt(t *testing.T, key *audit.Key, log []events.Raw, sizes ...int) []audit.Stored {
	t.Helper()
	tree := audit.NewMemoryTree()
	var out []audit.Stored
	for i, r := range log {
		tree.Append(events.EntryOf(r).Leaf)
		if slices.Contains(sizes, i+1) {
			root, _ := tree.Root()
			cp, err := key.Sign(uint64(i+1), root)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, audit.Stored{Seq: uint64(len(out) + 1), Note: cp.Note})
		}
	}
	return out
}

func verify(t *testing.T, key *audit.Key, log []events.Raw, stored []audit.Stored, tenant string) audit.Report {
	t.Helper()
	v, err := audit.NewVerifier(audit.VerifyOptions{Key: key.Verifier, Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stored {
		v.AddStored(s)
	}
	for _, r := range log {
		v.Add(events.EntryOf(r))
	}
	return v.Finish()
}

func kinds(r audit.Report) string {
	var out []string
	for _, p := range r.Problems {
		s := fmt.Sprintf("%s@%d", p.Kind, p.Seq)
		if p.CheckpointSize != 0 {
			s += fmt.Sprintf("#%d", p.CheckpointSize)
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestVerifySoundLog(t *testing.T) {
	key, _ := audit.LoadOrCreateKey(t.TempDir())
	log := sealedLog(t)
	r := verify(t, key, log, signedAt(t, key, log, 3, 9, len(log)), "")
	if !r.OK() || r.Messages != uint64(len(log)) || r.Tickets != 3 || r.Checkpoints != 3 || r.TreeSize != uint64(len(log)) {
		t.Fatalf("a sound log: %+v", r)
	}
}

// TestVerifyNamesEveryTampering: each way of changing the log is named, with the event,
// its ticket and the hashes, once; the checkpoints of the sound log then fail from the
// size that covers the change on.
func TestVerifyNamesEveryTampering(t *testing.T) {
	key, _ := audit.LoadOrCreateKey(t.TempDir())
	sound := sealedLog(t) // 15 events: t1 at 1,4,7,10,13; t2 at 2,5,8,11,14; t3 at 3,6,9,12,15
	stored := signedAt(t, key, sound, 3, 9, len(sound))
	renumber := func(log []events.Raw) []events.Raw { // as a careful attacker rewriting the store would
		for i := range log {
			log[i].Sequence = uint64(i + 1)
		}
		return log
	}
	for _, tc := range []struct {
		name   string
		change func([]events.Raw) []events.Raw
		want   string
	}{
		{"payload altered", func(l []events.Raw) []events.Raw {
			l[6].RawData = []byte(strings.Replace(string(l[6].RawData), "comment 1", "comment X", 1))
			return l
		}, "checkpoint@4#9 checkpoint@4#15 altered@7"},
		{"altered and rehashed", func(l []events.Raw) []events.Raw {
			r, _ := events.Seal(events.Event{ID: l[6].ID, Source: l[6].Source, Tenant: "acme", TicketID: "t1", Time: l[6].Time, Data: events.Commented{Body: "forged"}}, l[3].Hash)
			r.Sequence, r.Partition = 7, 1
			l[6] = r
			return l
		}, "checkpoint@4#9 checkpoint@4#15 broken_link@10"},
		{"an event removed", func(l []events.Raw) []events.Raw { return append(l[:4:4], l[5:]...) },
			"checkpoint@4#9 gap@5 broken_link@8 truncated@15#15"},
		{"an event removed, renumbered", func(l []events.Raw) []events.Raw { return renumber(append(l[:4:4], l[5:]...)) },
			"checkpoint@4#9 broken_link@7 truncated@15#15"},
		{"two events swapped", func(l []events.Raw) []events.Raw {
			l[3], l[6] = l[6], l[3]
			return renumber(l)
		}, "broken_link@4 checkpoint@4#9 checkpoint@4#15 broken_link@7 broken_link@10"},
		{"a ticket removed", func(l []events.Raw) []events.Raw {
			return slices.DeleteFunc(l, func(r events.Raw) bool { return r.TicketID == "t3" })
		}, "checkpoint@1#3 checkpoint@1#9 gap@3 gap@6 gap@9 truncated@11#15 gap@12"},
		{"the tail cut", func(l []events.Raw) []events.Raw { return l[:10] }, "truncated@11#15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := kinds(verify(t, key, tc.change(sealedLog(t)), stored, ""))
			if got != tc.want {
				t.Errorf("problems %q, want %q", got, tc.want)
			}
		})
	}
}

func TestVerifyAlteredNamesTheHashes(t *testing.T) {
	key, _ := audit.LoadOrCreateKey(t.TempDir())
	log := sealedLog(t)
	log[6].RawData = []byte(`{"body":"comment X"}`)
	r := verify(t, key, log, nil, "")
	if len(r.Problems) != 1 {
		t.Fatalf("problems %v", r.Problems)
	}
	p := r.Problems[0]
	if p.Kind != audit.ProblemAltered || p.Seq != 7 || p.TicketID != "t1" || p.EventID != "e7" || p.Expected != log[6].Hash ||
		p.Actual != events.ComputeHash(log[6].Event, log[6].RawData) {
		t.Fatalf("altered event named as %+v", p)
	}
}

func TestVerifyForgedAndMisorderedCheckpoints(t *testing.T) {
	key, _ := audit.LoadOrCreateKey(t.TempDir())
	forger, _ := audit.LoadOrCreateKey(t.TempDir())
	log := sealedLog(t)
	stored := append(signedAt(t, key, log, 9, 12), signedAt(t, forger, log, 15)...)
	stored = append(stored, signedAt(t, key, log, 6)...)
	got := kinds(verify(t, key, log, stored, ""))
	if got != "signature@0 checkpoint_order@0#6" {
		t.Fatalf("problems %q, want the forged checkpoint's signature and the smaller one stored last", got)
	}
}

// TestVerifyOneTenant: a tenant's verification names its own events' problems only, and
// the checkpoints of the whole log all the same.
func TestVerifyOneTenant(t *testing.T) {
	key, _ := audit.LoadOrCreateKey(t.TempDir())
	stored := signedAt(t, key, sealedLog(t), 15)
	log := sealedLog(t)
	log[2].RawData = []byte(`{"type":"incident"}`) // globex's t3
	if got := kinds(verify(t, key, log, stored, "acme")); got != "checkpoint@1#15" {
		t.Fatalf("acme's verification: %q, want the checkpoint only", got)
	}
	if r := verify(t, key, log, stored, "acme"); r.Tickets != 2 {
		t.Fatalf("acme has 2 tickets, %d checked", r.Tickets)
	}
	if got := kinds(verify(t, key, log, stored, "globex")); got != "checkpoint@1#15 altered@3" {
		t.Fatalf("globex's verification: %q", got)
	}
}
