package inbox

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// goldenInbound is every golden inbound message's data (contracts/golden/inbox), the seeds
// of the fuzz tests.
func goldenInbound(f *testing.F) map[string][]byte {
	f.Helper()
	out := map[string][]byte{}
	for _, typ := range events.InboundTypeNames() {
		b, err := os.ReadFile(filepath.Join("..", "..", "contracts", "golden", "inbox", typ+".json"))
		if err != nil {
			f.Fatal(err)
		}
		out[typ] = b
	}
	return out
}

// FuzzFromNATS: any headers and body decode to a message or an error, never a panic, and
// a decoded message's data is what was sent (binary mode) — what the processor validates.
func FuzzFromNATS(f *testing.F) {
	for typ, data := range goldenInbound(f) {
		f.Add("inbox.acme.zabbix", "1.0", "id-1", "//zabbix", typ, "application/json", "", data)
		f.Add("inbox.acme.zabbix", "", "", "", "", "", "application/cloudevents+json",
			[]byte(`{"specversion":"1.0","id":"x","source":"//s","type":"`+typ+`","data":`+string(data)+`}`))
	}
	f.Add("inbox.acme", "1.0", "", "", "", "", "", []byte("{"))
	f.Fuzz(func(t *testing.T, subject, spec, id, source, typ, dataCT, ct string, body []byte) {
		h := nats.Header{}
		for k, v := range map[string]string{"ce-specversion": spec, "ce-id": id, "ce-source": source, "ce-type": typ,
			"ce-datacontenttype": dataCT, "Content-Type": ct} {
			if v != "" {
				h.Set(k, v)
			}
		}
		m := FromNATS(subject, h, body)
		if m.Err == nil && m.Event == nil {
			t.Fatal("no event and no error")
		}
		if m.Err == nil && spec != "" && string(m.Event.Data()) != string(body) {
			t.Fatalf("binary mode: data %q, sent %q", m.Event.Data(), body)
		}
	})
}

// FuzzDecodeData: any data of any inbound type is decoded or refused with a problem that
// says why, never a panic; what decodes is valid against the published schema, which
// decoding checks first.
func FuzzDecodeData(f *testing.F) {
	for typ, data := range goldenInbound(f) {
		f.Add(typ, data)
	}
	f.Add(events.TypeInboxOpen, []byte(`{"type":"incident","title":1}`))
	s, err := compileSchemas()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		if !s.known(typ) {
			return
		}
		in, pr := s.decode(typ, data)
		switch {
		case pr == nil && in == nil:
			t.Fatal("neither decoded nor refused")
		case pr != nil && (pr.Detail == "" || pr.Status < 400 || pr.Status >= 500):
			t.Fatalf("refusal without a reason or with status %d: %+v", pr.Status, pr)
		case pr == nil && in.InboundType() != typ:
			t.Fatalf("decoded as %s, sent as %s", in.InboundType(), typ)
		}
	})
}
