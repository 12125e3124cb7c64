package contracts_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// TestGoldenPayloads checks that every registered event type has a golden payload, that
// every golden payload belongs to a registered type, and that decoding and re-encoding a
// golden payload gives back the same JSON: no field renamed, dropped or added.
func TestGoldenPayloads(t *testing.T) {
	golden := typesIn(t, "golden", ".json")
	types := events.Types()
	if !slices.Equal(golden, types) {
		t.Fatalf("golden payloads %v\nregistered types %v", golden, types)
	}
	for _, typ := range types {
		t.Run(typ, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("golden", typ+".json"))
			if err != nil {
				t.Fatal(err)
			}
			p, err := events.DecodePayload(typ, raw)
			if err != nil {
				t.Fatal(err)
			}
			if p.EventType() != typ {
				t.Fatalf("payload type %s, want %s", p.EventType(), typ)
			}
			again, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if want, got := canonical(t, raw), canonical(t, again); !bytes.Equal(want, got) {
				t.Fatalf("round trip changed the payload:\n golden %s\n   code %s", want, got)
			}
		})
	}
}

// TestGoldenInboundMessages: every inbound message type has a golden message under
// golden/inbox/ and nothing else is there; each decodes and re-encodes to the same JSON
// and is valid against its type's published schema.
func TestGoldenInboundMessages(t *testing.T) {
	if golden, types := typesIn(t, filepath.Join("golden", "inbox"), ".json"), events.InboundTypeNames(); !slices.Equal(golden, slices.Sorted(slices.Values(types))) {
		t.Fatalf("golden inbound messages %v\nregistered types %v", golden, types)
	}
	schemas := compiled(t)
	for _, typ := range events.InboundTypeNames() {
		t.Run(typ, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("golden", "inbox", typ+".json"))
			if err != nil {
				t.Fatal(err)
			}
			in, err := events.DecodeInbound(typ, raw)
			if err != nil {
				t.Fatal(err)
			}
			again, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			if want, got := canonical(t, raw), canonical(t, again); !bytes.Equal(want, got) {
				t.Fatalf("round trip changed the message:\n golden %s\n   code %s", want, got)
			}
			if err := schemas[typ].Validate(instance(t, raw)); err != nil {
				t.Errorf("golden %s: %v", typ, err)
			}
		})
	}
}

// typesIn lists the event types of dir's files named <type><suffix>, sorted.
func typesIn(t *testing.T, dir, suffix string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		out = append(out, strings.TrimSuffix(filepath.Base(f), suffix))
	}
	return out
}

// canonical re-encodes JSON with sorted keys.
func canonical(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
