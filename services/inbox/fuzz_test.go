package inbox

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// FuzzAlertWebhooks: any body sent to either alert webhook is refused with a reason or
// becomes one alert message per alert, each a valid CloudEvent whose data is decoded or
// refused with a reason, never a panic. Seeded from the golden notifications.
func FuzzAlertWebhooks(f *testing.F) {
	for _, name := range []string{"alertmanager", "grafana"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "contracts", "golden", "webhooks", name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(name == "grafana", b)
	}
	s, err := compileSchemas()
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, grafana bool, body []byte) {
		hook := alertmanagerHook
		if grafana {
			hook = grafanaHook
		}
		n, pr := hook.decode(bytes.NewReader(body))
		if pr != nil {
			if pr.Detail == "" {
				t.Fatal("refused without a reason")
			}
			return
		}
		for _, a := range n.Alerts {
			e := hook.event(a, n.ExternalURL, now, 5*time.Minute)
			if err := e.Validate(); err != nil {
				t.Fatalf("alert message is no valid CloudEvent: %v", err)
			}
			if in, pr := s.decode(e.Type(), e.Data()); pr == nil && in.InboundType() != events.TypeInboxAlert {
				t.Fatalf("decoded as %s", in.InboundType())
			} else if pr != nil && pr.Detail == "" {
				t.Fatal("alert refused without a reason")
			}
		}
	})
}
