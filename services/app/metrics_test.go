package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/services/app"
	"github.com/ledgerdesk/ledgerdesk/services/sla"
)

// TestMetrics runs the whole system with the demo configuration, opens tickets (P1
// incidents of acme: routed, assigned, SLA-attached with a timer each) and sends a
// request no route serves, then scrapes /metrics as Prometheus would: the official
// linter (promlint, what `promtool check metrics` runs) finds no problem, and every
// family is there with what happened in it.
func TestMetrics(t *testing.T) {
	const tickets = 5
	c := startWith(t, app.RunConfig{SeedConfigDir: filepath.Join("..", "..", "deploy", "demo-config")})
	var ids []string
	for range tickets {
		tk, _ := c.open()
		ids = append(ids, tk.ID)
	}
	c.do("GET", "/v1/no-such-route", "", "Authorization", "") // 401 before any route: still labelled unmatched
	for _, id := range ids {
		waitForTypes(t, c, id, events.TypeAssigned, events.TypeSLAAttached)
	}
	// Every ticket's timer is scheduled (the SLA service schedules it right after
	// attaching), as an admin counts them: what the gauge must say.
	js := c.adminJetStream()
	eventstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		s, err := js.Stream(context.Background(), sla.TimersStream)
		if err != nil {
			return err
		}
		info, err := s.Info(context.Background(), jetstream.WithSubjectFilter("sla.schedule.>"))
		if err != nil {
			return err
		}
		if n := len(info.State.Subjects); n != tickets {
			return fmt.Errorf("%d SLA schedules, want %d", n, tickets)
		}
		return nil
	})

	r := c.do("GET", "/metrics", "", "Authorization", "")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", r.status, r.header.Get("Content-Type"))
	}
	problems, err := promlint.New(bytes.NewReader(r.body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	s := scrape(families)

	partitions := c.sys.Store.Partitions()
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "ledgerdesk_commit_group_duration_seconds",
		"ledgerdesk_consumer_handle_duration_seconds", "ledgerdesk_projector_checkpoint_lag_events"} {
		if families[name] == nil {
			t.Errorf("no family %s", name)
		}
	}
	checks := []struct {
		what string
		got  float64
		ok   func(float64) bool
	}{
		{"tickets opened (requests by route and status)", s.sum("ledgerdesk_http_requests_total", "method", "post", "route", "/v1/tickets", "code", "201"), eq(tickets)},
		{"their latencies", s.count("ledgerdesk_http_request_duration_seconds", "method", "post", "route", "/v1/tickets"), eq(tickets)},
		{"the request no route serves", s.sum("ledgerdesk_http_requests_total", "route", "unmatched", "code", "401"), eq(1)},
		{"events group-committed", s.histogramSum("ledgerdesk_commit_group_events"), atLeast(3 * tickets)}, // opened, routed, assigned, sla_attached
		{"appends stored", s.sum("ledgerdesk_commit_appends_total", "outcome", "stored"), atLeast(3 * tickets)},
		{"appends failed", s.sum("ledgerdesk_commit_appends_total", "outcome", "failed"), eq(0)},
		{"opened events routing handled", s.sum("ledgerdesk_consumer_handled_messages_total", "consumer", "routing-tickets-"), atLeast(tickets)},
		{"routing's partition consumers with a lag", s.series("ledgerdesk_consumer_pending_messages", "consumer", "routing-tickets-"), eq(float64(partitions))},
		{"the inbox consumer's lag", s.series("ledgerdesk_consumer_pending_messages", "consumer", "intake-inbox"), eq(1)},
		{"the SLA timers consumer's lag", s.series("ledgerdesk_consumer_ack_pending_messages", "consumer", "sla-timers"), eq(1)},
		{"redeliveries", s.sum("ledgerdesk_consumer_redeliveries_total"), eq(0)},
		{"dead letters of each handler", s.series("ledgerdesk_dead_letters_total", "handler", ""), eq(5)}, // routing, sla (2), escalation, projector
		{"dead letters", s.sum("ledgerdesk_dead_letters_total"), eq(0)},
		{"webhook delivery outcomes", s.series("ledgerdesk_webhook_deliveries_total", "outcome", ""), eq(2)},
		{"SLA timers pending", s.sum("ledgerdesk_sla_timers_pending"), eq(tickets)},
	}
	for _, ch := range checks {
		if !ch.ok(ch.got) {
			t.Errorf("%s: %g", ch.what, ch.got)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", r.body)
	}
}

// waitForTypes waits until the ticket's history holds an event of each type.
func waitForTypes(t *testing.T, c *client, id string, types ...string) {
	t.Helper()
	eventstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		var hist []struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(c.do("GET", "/v1/tickets/"+id+"/events", "").body, &hist); err != nil {
			return err
		}
		for _, typ := range types {
			if !slices.ContainsFunc(hist, func(e struct {
				Type string `json:"type"`
			}) bool {
				return e.Type == typ
			}) {
				return fmt.Errorf("ticket %s has no %s yet", id, typ)
			}
		}
		return nil
	})
}

func eq(want float64) func(float64) bool      { return func(v float64) bool { return v == want } }
func atLeast(want float64) func(float64) bool { return func(v float64) bool { return v >= want } }

// scrape is a scraped exposition, by family name.
type scrape map[string]*dto.MetricFamily

// matching yields the samples of a family whose labels have the given values (pairs of
// name and value; a value "" only requires the label, a value ending in "-" is a prefix).
func (s scrape) matching(name string, labels ...string) []*dto.Metric {
	mf := s[name]
	if mf == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			v, found := have[labels[i]]
			want := labels[i+1]
			switch {
			case !found:
				ok = false
			case want == "":
			case strings.HasSuffix(want, "-"):
				ok = ok && strings.HasPrefix(v, want)
			default:
				ok = ok && v == want
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

// sum adds up the matching counters' and gauges' values.
func (s scrape) sum(name string, labels ...string) float64 {
	total := 0.0
	for _, m := range s.matching(name, labels...) {
		total += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
	}
	return total
}

// series counts the matching samples.
func (s scrape) series(name string, labels ...string) float64 {
	return float64(len(s.matching(name, labels...)))
}

// count adds up the matching histograms' observation counts.
func (s scrape) count(name string, labels ...string) float64 {
	total := 0.0
	for _, m := range s.matching(name, labels...) {
		total += float64(m.GetHistogram().GetSampleCount())
	}
	return total
}

// histogramSum adds up the matching histograms' sums.
func (s scrape) histogramSum(name string, labels ...string) float64 {
	total := 0.0
	for _, m := range s.matching(name, labels...) {
		total += m.GetHistogram().GetSampleSum()
	}
	return total
}
