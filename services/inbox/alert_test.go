package inbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/app"
	"github.com/ledgerdesk/ledgerdesk/services/configapi"
	"github.com/ledgerdesk/ledgerdesk/services/inbox"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
)

// desk is a processor on a real embedded JetStream, with a clock the test moves, behind
// the inbox's HTTP handler as an integration principal of acme and beta.
type desk struct {
	t         *testing.T
	store     *events.Store
	processor *inbox.Processor
	url       string
	mu        sync.Mutex
	now       time.Time
}

// beta's alert policy: resolved alerts only comment; critical is a P5 there.
const betaConfig = `tenant: beta
groups: [{id: noc, tier: 1, agents: [{id: n1}]}]
default_group: noc
evidence:
  backup_window: 24h
alerts:
  on_resolved: comment
  comment_interval: 10m
  severities:
    critical: {impact: low, urgency: low}
`

func newDesk(t *testing.T) *desk {
	t.Helper()
	ctx := context.Background()
	srv, admin := eventstest.RunJetStream(t)
	_ = srv
	if _, err := app.Provision(ctx, admin, app.ProvisionConfig{}); err != nil {
		t.Fatal(err)
	}
	store, err := events.OpenStore(ctx, admin, events.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	acme, err := os.ReadFile(filepath.Join("..", "..", "deploy", "demo-config", "acme.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string][]byte{"acme.yaml": acme, "beta.yaml": []byte(betaConfig)} {
		if err := os.WriteFile(filepath.Join(dir, name), doc, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := configapi.Seed(ctx, store, dir, "admin:admin"); err != nil {
		t.Fatal(err)
	}
	configs, err := reactor.FollowConfigs(ctx, store, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(configs.Close)
	committer := events.NewCommitter(store, 1, nil)
	t.Cleanup(committer.Close)
	d := &desk{t: t, store: store, now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	p, err := inbox.NewProcessor(ctx, inbox.Config{Store: store, Committer: committer, Configs: configs, Logger: zap.NewNop(),
		Now: func() time.Time { d.mu.Lock(); defer d.mu.Unlock(); return d.now }})
	if err != nil {
		t.Fatal(err)
	}
	d.processor = p
	h := inbox.NewHandler(p, zap.NewNop())
	principal := access.Principal{ID: "p1", Name: "prometheus", Role: access.RoleIntegration, Tenants: []string{"acme", "beta"}}
	srvHTTP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), principal)))
	}))
	t.Cleanup(srvHTTP.Close)
	d.url = srvHTTP.URL
	return d
}

func (d *desk) advance(by time.Duration) { d.mu.Lock(); d.now = d.now.Add(by); d.mu.Unlock() }

// notify posts a notification to a webhook and returns its outcomes.
func (d *desk) notify(path, body string) []inbox.Outcome {
	d.t.Helper()
	resp, err := http.Post(d.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Outcomes []inbox.Outcome }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		d.t.Fatalf("POST %s: %d %v", path, resp.StatusCode, err)
	}
	return out.Outcomes
}

func (d *desk) ticket(id string) (events.Ticket, []events.Event) {
	d.t.Helper()
	tr, err := d.store.LoadTrail(context.Background(), id)
	if err != nil {
		d.t.Fatal(err)
	}
	return tr.Ticket(), tr.Events()
}

// amAlert is a one-alert Alertmanager notification.
func amAlert(status, fingerprint, startsAt string) string {
	return `{"version":"4","status":"` + status + `","receiver":"ledgerdesk","alerts":[{"status":"` + status + `",
	"labels":{"alertname":"DiskFull","instance":"db-01","severity":"critical"},"annotations":{"summary":"Disk full on db-01"},
	"startsAt":"` + startsAt + `","fingerprint":"` + fingerprint + `"}]}`
}

// TestAlertLifecycle: an alert's incident through its life under the default policy:
// opened once; repeats within the comment interval add nothing, one after it comments;
// resolved resolves it auto_resolved; firing again reopens it within the reopen window,
// and after it opens a new incident linked to the old one.
func TestAlertLifecycle(t *testing.T) {
	d := newDesk(t)
	const hook = "/v1/integrations/alertmanager?tenant=acme"
	first := d.notify(hook, amAlert("firing", "fp1", "2026-12-01T08:59:00Z"))[0]
	if first.Status != inbox.StatusAccepted || first.Existing || first.ExternalID != "fp1" {
		t.Fatalf("first firing: %+v", first)
	}
	tk, _ := d.ticket(first.Ticket)
	if tk.Title != "Disk full on db-01" || tk.Priority != "P1" || tk.Source != "alertmanager" || tk.Category != "monitoring" ||
		!strings.Contains(strings.Join(tk.Labels, ","), "instance=db-01") {
		t.Fatalf("incident %+v", tk)
	}
	d.advance(time.Minute)
	if o := d.notify(hook, amAlert("firing", "fp1", "2026-12-01T08:59:00Z"))[0]; !o.Replayed || o.Ticket != first.Ticket {
		t.Errorf("a repeat within the interval: %+v", o)
	}
	d.advance(5 * time.Minute)
	if o := d.notify(hook, amAlert("firing", "fp1", "2026-12-01T08:59:00Z"))[0]; o.Replayed || !o.Existing || o.Ticket != first.Ticket {
		t.Errorf("a repeat after the interval: %+v", o)
	}
	if _, evs := d.ticket(first.Ticket); len(evs) != 2 || evs[1].Type != events.TypeCommented {
		t.Fatalf("after two repeats: %d events, want opened and one comment", len(evs))
	}
	d.advance(time.Minute)
	if o := d.notify(hook, amAlert("resolved", "fp1", "2026-12-01T08:59:00Z"))[0]; o.Status != inbox.StatusAccepted || o.Ticket != first.Ticket {
		t.Errorf("resolved: %+v", o)
	}
	if tk, evs := d.ticket(first.Ticket); tk.State != events.StateResolved || evs[len(evs)-1].Data.(events.Resolved).Code != inbox.AutoResolved {
		t.Fatalf("after resolved: %s", tk.State)
	}
	d.advance(time.Hour)
	if o := d.notify(hook, amAlert("firing", "fp1", "2026-12-01T10:00:00Z"))[0]; o.Ticket != first.Ticket {
		t.Errorf("firing again within the reopen window: %+v", o)
	}
	if tk, _ := d.ticket(first.Ticket); tk.State != events.StateInProgress {
		t.Fatalf("after firing again: %s, want reopened", tk.State)
	}
	d.advance(time.Minute)
	d.notify(hook, amAlert("resolved", "fp1", "2026-12-01T10:00:00Z"))
	d.advance(8 * 24 * time.Hour)
	again := d.notify(hook, amAlert("firing", "fp1", "2026-12-09T11:00:00Z"))[0]
	if again.Status != inbox.StatusAccepted || again.Ticket == first.Ticket || again.Existing {
		t.Fatalf("firing after the reopen window: %+v, want a new incident", again)
	}
	if tk, _ := d.ticket(again.Ticket); len(tk.Links) != 1 || tk.Links[0].Target != first.Ticket {
		t.Errorf("the new incident's links %+v, want the old one", tk.Links)
	}
	if o := d.notify(hook, amAlert("resolved", "nope", "2026-12-09T11:00:00Z"))[0]; o.Status != inbox.StatusRejected {
		t.Errorf("resolved without an incident: %+v", o)
	}
}

// TestAlertPolicyPerTenant: beta's policy maps critical to P5 and only comments when an
// alert resolves; the same fingerprint for two tenants is two incidents.
func TestAlertPolicyPerTenant(t *testing.T) {
	d := newDesk(t)
	acme := d.notify("/v1/integrations/alertmanager?tenant=acme", amAlert("firing", "fp1", "2026-12-01T08:59:00Z"))[0]
	beta := d.notify("/v1/integrations/alertmanager?tenant=beta", amAlert("firing", "fp1", "2026-12-01T08:59:00Z"))[0]
	if acme.Ticket == beta.Ticket {
		t.Fatal("one incident for two tenants")
	}
	if tk, _ := d.ticket(beta.Ticket); tk.Priority != "P5" || tk.Tenant != "beta" {
		t.Fatalf("beta's incident %+v", tk)
	}
	d.advance(time.Minute)
	d.notify("/v1/integrations/alertmanager?tenant=beta", amAlert("resolved", "fp1", "2026-12-01T08:59:00Z"))
	if tk, evs := d.ticket(beta.Ticket); tk.State != events.StateNew || evs[len(evs)-1].Type != events.TypeCommented {
		t.Errorf("beta after resolved: %s, last %s; want a comment only", tk.State, evs[len(evs)-1].Type)
	}
	resp, err := http.Post(d.url+"/v1/integrations/alertmanager?tenant=globex", "application/json",
		strings.NewReader(amAlert("firing", "fp1", "2026-12-01T08:59:00Z")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a tenant outside the token's scope: %d", resp.StatusCode)
	}
}

// TestGoldenNotifications: the documented payloads of Alertmanager (version 4) and
// Grafana (version 1) under contracts/golden/webhooks each open their incidents, keyed by
// fingerprint; the title falls back to the alert name.
func TestGoldenNotifications(t *testing.T) {
	d := newDesk(t)
	for path, want := range map[string][]string{
		"alertmanager": {"Disk /var on db-01 is 95% full", "DiskFull"},
		"grafana":      {"CPU on web-01 above 90% for 10 minutes"},
	} {
		body, err := os.ReadFile(filepath.Join("..", "..", "contracts", "golden", "webhooks", path+".json"))
		if err != nil {
			t.Fatal(err)
		}
		outs := d.notify("/v1/integrations/"+path+"?tenant=acme", string(body))
		if len(outs) != len(want) {
			t.Fatalf("%s: %d outcomes, want %d", path, len(outs), len(want))
		}
		for i, o := range outs {
			if o.Status != inbox.StatusAccepted || o.ExternalID == "" {
				t.Fatalf("%s alert %d: %+v", path, i, o)
			}
			if tk, _ := d.ticket(o.Ticket); tk.Title != want[i] || tk.Source != path {
				t.Errorf("%s alert %d: incident %q from %s, want %q", path, i, tk.Title, tk.Source, want[i])
			}
		}
	}
	resp, err := http.Post(d.url+"/v1/integrations/grafana?tenant=acme", "application/json", strings.NewReader(`{"version":"4","alerts":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an Alertmanager payload to the Grafana webhook: %d", resp.StatusCode)
	}
}

// publish posts one binary-mode CloudEvent to POST /v1/events for acme.
func (d *desk) publish(typ, id, data string) inbox.Outcome {
	d.t.Helper()
	return d.publishFor("acme", typ, id, data)
}

func (d *desk) publishFor(tenant, typ, id, data string) inbox.Outcome {
	d.t.Helper()
	req, _ := http.NewRequest("POST", d.url+"/v1/events?tenant="+tenant, strings.NewReader(data))
	for k, v := range map[string]string{"Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": id,
		"ce-source": "//veeam.acme.example", "ce-type": typ} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var o inbox.Outcome
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
		d.t.Fatal(err)
	}
	return o
}

func (d *desk) evidenceCount() uint64 {
	d.t.Helper()
	s, err := d.store.JetStream().Stream(context.Background(), inbox.EvidenceStream)
	if err != nil {
		d.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	if !info.Config.DenyDelete || !info.Config.DenyPurge {
		d.t.Errorf("EVIDENCE allows delete or purge")
	}
	return info.State.Msgs
}

// TestEvidence: backup results and patch scans are recorded in EVIDENCE, once each (a
// repeat is replayed); a failed backup opens one incident per system and day, a second
// failure that day addresses it; evidence with bad data is rejected and recorded nowhere.
func TestEvidence(t *testing.T) {
	d := newDesk(t)
	backup := func(status, finished string) string {
		return `{"system":"fs-01.acme.local","job":"nightly","started":"2026-12-01T01:00:00Z","finished":"` + finished +
			`","status":"` + status + `","bytes":1024,"restore_tested":false}`
	}
	ok := d.publish(events.TypeInboxBackupResult, "b1", backup("success", "2026-12-01T02:00:00Z"))
	if ok.Status != inbox.StatusAccepted || ok.Evidence == 0 || ok.Ticket != "" {
		t.Fatalf("a successful backup: %+v", ok)
	}
	failed := d.publish(events.TypeInboxBackupResult, "b2", backup("failed", "2026-12-01T03:00:00Z"))
	if failed.Status != inbox.StatusAccepted || failed.Evidence <= ok.Evidence || failed.Ticket == "" {
		t.Fatalf("a failed backup: %+v", failed)
	}
	tk, _ := d.ticket(failed.Ticket)
	if tk.Type != events.Incident || !strings.Contains(tk.Title, "fs-01.acme.local") || tk.Priority != "P2" {
		t.Errorf("the failed backup's incident %+v", tk)
	}
	again := d.publish(events.TypeInboxBackupResult, "b3", backup("partial", "2026-12-01T04:00:00Z"))
	if again.Ticket != failed.Ticket || !again.Existing {
		t.Errorf("a second failure the same day: %+v, want ticket %s", again, failed.Ticket)
	}
	scan := d.publish(events.TypeInboxPatchScan, "p1", `{"device":"ws-1","scanned_at":"2026-12-01T06:00:00Z",
		"missing":{"critical":1,"important":0,"moderate":0,"low":2},"last_patched":"2026-11-20T00:00:00Z"}`)
	if scan.Status != inbox.StatusAccepted || scan.Evidence == 0 {
		t.Fatalf("a patch scan: %+v", scan)
	}
	before := d.evidenceCount()
	if before != 4 {
		t.Errorf("EVIDENCE holds %d messages, want 4", before)
	}
	if r := d.publish(events.TypeInboxBackupResult, "b1", backup("success", "2026-12-01T02:00:00Z")); !r.Replayed || r.Evidence != ok.Evidence {
		t.Errorf("a repeat: %+v", r)
	}
	if r := d.publish(events.TypeInboxBackupResult, "b4", backup("exploded", "2026-12-01T02:00:00Z")); r.Status != inbox.StatusRejected {
		t.Errorf("a backup of status exploded: %+v", r)
	}
	if r := d.publish(events.TypeInboxBackupResult, "b5", backup("success", "2026-11-30T02:00:00Z")); r.Status != inbox.StatusRejected {
		t.Errorf("a backup finished before it started: %+v", r)
	}
	if after := d.evidenceCount(); after != before {
		t.Errorf("EVIDENCE went from %d to %d on a repeat and rejections", before, after)
	}
}

// TestBackupWatch: under beta's backup window of 24 h, a system whose last success is
// older gets one incident a day, and its failure that day is the same incident; acme,
// without a window, is not watched.
func TestBackupWatch(t *testing.T) {
	d := newDesk(t)
	backup := func(status, finished string) string {
		return `{"system":"db-01","job":"nightly","started":"2026-12-01T00:00:00Z","finished":"` + finished +
			`","status":"` + status + `","bytes":1,"restore_tested":true}`
	}
	for _, tenant := range []string{"acme", "beta"} {
		if o := d.publishFor(tenant, events.TypeInboxBackupResult, "ok-"+tenant, backup("success", "2026-12-01T01:00:00Z")); o.Status != inbox.StatusAccepted {
			t.Fatalf("%s: %+v", tenant, o)
		}
	}
	if rs := d.processor.CheckBackups(context.Background()); len(rs) != 0 {
		t.Fatalf("within the window: %d incidents", len(rs))
	}
	d.advance(26 * time.Hour) // 2026-12-02 11:00, 34 h after the success
	rs := d.processor.CheckBackups(context.Background())
	if len(rs) != 1 || rs[0].Err != nil || rs[0].Outcome.Tenant != "beta" || rs[0].Outcome.Ticket == "" {
		t.Fatalf("past beta's window: %+v", rs)
	}
	incident := rs[0].Outcome.Ticket
	tk, _ := d.ticket(incident)
	if !strings.Contains(tk.Title, "No successful backup of db-01") || tk.Source != "evidence" {
		t.Errorf("incident %+v", tk)
	}
	if again := d.processor.CheckBackups(context.Background()); len(again) != 1 || !again[0].Outcome.Replayed || again[0].Outcome.Ticket != incident {
		t.Errorf("a second look the same day: %+v", again)
	}
	failed := d.publishFor("beta", events.TypeInboxBackupResult, "failed-beta", backup("failed", "2026-12-02T10:30:00Z"))
	if failed.Ticket != incident {
		t.Errorf("the same day's failure: %+v, want incident %s", failed, incident)
	}
}
