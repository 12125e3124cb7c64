package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/test/internal/ldproc"
)

// alertsFile holds the alert rules, relative to the repository root.
const alertsFile = "deploy/prometheus/alerts.yml"

// prometheusOwn are the series Prometheus makes itself for every target, which rules may
// name beside ledgerdesk's, with the labels it gives them.
var prometheusOwn = []string{"up"}

// targetLabels are the labels Prometheus adds to every series of a target.
var targetLabels = []string{"job", "instance"}

// checkAlerts parses the rules with Prometheus's own rule parser (what `promtool check
// rules` runs: the format, every expression, every template), then checks every metric a
// rule names against a running ledgerdesk: the family is exported, each label it matches
// or groups by is one of the family's, and each value it requires is one some sample has.
func checkAlerts(t *testing.T, d *deployment) {
	promql := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile(filepath.Join(d.root, alertsFile), false, model.LegacyValidation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("%s: %v", alertsFile, err)
	}
	if len(errs) > 0 {
		return
	}
	exported := scrapeRunningSystem(t, d)
	var rules int
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			rules++
			expr, err := promql.ParseExpr(r.Expr)
			if err != nil { // rulefmt parsed it already
				t.Fatalf("%s: %s: %v", alertsFile, r.Alert, err)
			}
			exported.check(t, alertsFile+": "+r.Alert+r.Record, expr)
		}
	}
	if rules == 0 {
		t.Errorf("%s: no rules", alertsFile)
	}
}

// family is an exported metric family: its type and, for each label, the values its
// samples have.
type family struct {
	typ    dto.MetricType
	labels map[string][]string
}

type exposition map[string]family

// scrapeRunningSystem runs `ledgerdesk run` with the demo configuration, opens a ticket
// (routed, assigned, SLA-attached: every consumer handles something), and scrapes its
// /metrics once every family is there.
func scrapeRunningSystem(t *testing.T, d *deployment) exposition {
	t.Helper()
	p := ldproc.Start(t, d.bin, t.TempDir(), "alerts-test-token", "--seed-config", filepath.Join(d.root, "deploy", "demo-config"))
	c := ldproc.NewClient(p, 1, 10*time.Second)
	defer c.Close()
	ctx := context.Background()
	if created, err := c.Create(ctx, "", ldproc.NewTicketBody("alert rules")); err != nil || created.Status != http.StatusCreated {
		t.Fatalf("open a ticket: %d %v", created.Status, err)
	}
	var exp exposition
	// Present once the ticket went through: the handlers' latencies, and the gauges read
	// from the server at the scrape.
	want := []string{"ledgerdesk_consumer_handle_duration_seconds", "ledgerdesk_sla_timers_pending", "ledgerdesk_projector_checkpoint_lag_events"}
	eventstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		var err error
		if exp, err = scrape(p.URL + "/metrics"); err != nil {
			return err
		}
		for _, name := range want {
			if _, ok := exp[name]; !ok {
				return fmt.Errorf("no family %s yet", name)
			}
		}
		return nil
	})
	return exp
}

func scrape(url string) (exposition, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	text := expfmt.NewTextParser(model.UTF8Validation)
	families, err := text.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	exp := exposition{}
	for name, mf := range families {
		f := family{typ: mf.GetType(), labels: map[string][]string{}}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(f.labels[l.GetName()], l.GetValue()) {
					f.labels[l.GetName()] = append(f.labels[l.GetName()], l.GetValue())
				}
			}
		}
		exp[name] = f
	}
	return exp, nil
}

// series is what a selector's metric name stands for: the family and the labels its
// series have beyond the family's (le of a histogram's buckets).
func (exp exposition) series(name string) (family, []string, bool) {
	if f, ok := exp[name]; ok {
		return f, nil, true
	}
	if slices.Contains(prometheusOwn, name) {
		return family{labels: map[string][]string{}}, nil, true
	}
	for suffix, extra := range map[string][]string{"_bucket": {"le"}, "_count": nil, "_sum": nil} {
		if f, ok := exp[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) &&
			(f.typ == dto.MetricType_HISTOGRAM || f.typ == dto.MetricType_SUMMARY) {
			return f, extra, true
		}
	}
	return family{}, nil, false
}

// check checks every selector of expr, and every label an aggregation in it groups by.
func (exp exposition) check(t *testing.T, where string, expr parser.Expr) {
	t.Helper()
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			exp.checkSelector(t, where, n)
		case *parser.AggregateExpr:
			if n.Without {
				break
			}
			parser.Inspect(n.Expr, func(inner parser.Node, _ []parser.Node) error {
				if vs, ok := inner.(*parser.VectorSelector); ok {
					for _, l := range n.Grouping {
						if !exp.hasLabel(vs.Name, l) {
							t.Errorf("%s: groups %s by %s, a label it does not have", where, vs.Name, l)
						}
					}
				}
				return nil
			})
		}
		return nil
	})
}

func (exp exposition) checkSelector(t *testing.T, where string, vs *parser.VectorSelector) {
	t.Helper()
	f, _, ok := exp.series(vs.Name)
	if vs.Name == "" || !ok {
		t.Errorf("%s: names %q, which ledgerdesk does not export", where, vs.String())
		return
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName {
			continue
		}
		if !exp.hasLabel(vs.Name, m.Name) {
			t.Errorf("%s: matches %s on %s, a label it does not have", where, vs.Name, m.Name)
			continue
		}
		if m.Type == labels.MatchEqual && m.Value != "" && !slices.Contains(targetLabels, m.Name) && !slices.Contains(f.labels[m.Name], m.Value) {
			t.Errorf("%s: wants %s{%s}, a value none of its samples has (%s)", where, vs.Name, m, strings.Join(f.labels[m.Name], ", "))
		}
	}
}

// hasLabel reports whether the series of the metric name have the label.
func (exp exposition) hasLabel(name, label string) bool {
	f, extra, _ := exp.series(name)
	_, ok := f.labels[label]
	return ok || slices.Contains(extra, label) || slices.Contains(targetLabels, label)
}
