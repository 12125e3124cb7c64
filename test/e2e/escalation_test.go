// Package e2e runs the whole system as a user sees it: `ledgerdesk run` as a process,
// driven over HTTP, with a webhook receiver in the test.
package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/test/internal/ldproc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "e2e-webhook-secret-0123456789abcdef"

// receiver is a webhook endpoint that checks each delivery's signature the way the
// README documents it: X-Ledgerdesk-Signature = "sha256=" + hex HMAC-SHA256 over
// X-Ledgerdesk-Timestamp + "." + body.
type receiver struct {
	mu        sync.Mutex
	verified  []map[string]any
	rejected  int
	srv       *httptest.Server
	deliverID []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ts := req.Header.Get("X-Ledgerdesk-Timestamp")
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "."))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		sec, err := strconv.ParseInt(ts, 10, 64)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute ||
			!hmac.Equal([]byte(req.Header.Get("X-Ledgerdesk-Signature")), []byte(want)) {
			r.rejected++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var payload map[string]any
		_ = json.Unmarshal(body, &payload)
		r.verified = append(r.verified, payload)
		r.deliverID = append(r.deliverID, req.Header.Get("X-Ledgerdesk-Delivery"))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// config is the tenant's document: a P1 response target of 2s and resolution of 6s
// around the clock; a breach of the response target escalates functionally and
// notifies the group lead through the webhook.
func config(url string) string {
	return fmt.Sprintf(`
tenant: e2e
sla_policies:
  - id: p1-fast
    match: {types: [incident], priorities: [P1]}
    response: 2s
    resolution: 6s
    calendar: 24x7
groups:
  - id: desk
    tier: 1
    lead: {name: Lena Lead, email: lena@msp.example}
    agents:
      - {id: alice, name: Alice, email: alice@msp.example, manager: mona}
  - id: engineers
    tier: 2
    strategy: least_loaded
    lead: {name: Erik Lead, email: erik@msp.example}
    agents:
      - {id: bob, name: Bob, email: bob@msp.example}
default_group: desk
routing_rules:
  - id: incidents
    match: {types: [incident]}
    group: desk
managers:
  - {id: mona, name: Mona, email: mona@msp.example}
escalation_rules:
  - id: response-breach
    on: {event: breach, target: response}
    match: {priorities: [P1]}
    actions:
      - escalate: functional
      - notify: group_lead
webhooks:
  - id: pager
    url: %s
    secret: %s
`, url, secret)
}

func TestP1IncidentEscalatesOnItsOwn(t *testing.T) {
	bin := ldproc.Build(t)
	p := ldproc.Start(t, bin, t.TempDir(), "e2e-token-0123456789")
	c := ldproc.NewClient(p, 4, 10*time.Second)
	defer c.Close()
	ctx := context.Background()
	hook := newReceiver(t)

	status, body, err := c.Send(ctx, http.MethodPut, "/v1/tenants/e2e/config", "application/yaml", []byte(config(hook.srv.URL)))
	if err != nil || status != http.StatusOK {
		t.Fatalf("PUT config: %d %s %v", status, body, err)
	}
	status, body, err = c.Send(ctx, http.MethodPost, "/v1/tickets", "application/json", []byte(`{
		"tenant": "e2e", "type": "incident", "title": "core switch down", "description": "site offline",
		"requester": {"name": "Ann", "email": "ann@customer.example"},
		"impact": "high", "urgency": "high", "category": "network", "source": "monitoring"}`))
	if err != nil || status != http.StatusCreated {
		t.Fatalf("POST ticket: %d %s %v", status, body, err)
	}
	var created struct {
		ID       string `json:"id"`
		Priority string `json:"priority"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.Priority != "P1" {
		t.Fatalf("created %s: %v", body, err)
	}
	id := created.ID

	// Without touching the ticket: the log fills in on its own.
	var log []events.Structured
	eventstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		_, evs, err := c.Events(ctx, id)
		if err != nil {
			return err
		}
		log = evs
		if find(log, events.TypeNotificationDelivered, 0) == nil || count(log, events.TypeAssigned) < 2 {
			return fmt.Errorf("log so far: %v", types(log))
		}
		return nil
	})
	opened := must(t, log, events.TypeOpened, 0)
	routed := must(t, log, events.TypeRouted, 0)
	assigned := must(t, log, events.TypeAssigned, 0)
	attached := must(t, log, events.TypeSLAAttached, 0)
	breached := must(t, log, events.TypeSLABreached, 0)
	escalated := must(t, log, events.TypeEscalated, 0)
	rerouted := must(t, log, events.TypeRouted, 1)
	reassigned := must(t, log, events.TypeAssigned, 1)
	requested := must(t, log, events.TypeNotificationRequested, 0)
	delivered := must(t, log, events.TypeNotificationDelivered, 0)
	causedBy(t, routed, opened)
	causedBy(t, assigned, opened)
	causedBy(t, attached, opened)
	for i := range 3 {
		w := must(t, log, events.TypeSLAWarning, i)
		causedBy(t, w, attached)
	}
	percents := map[string]bool{}
	for i := range count(log, events.TypeSLAWarning) {
		var w events.SLAWarning
		decode(t, must(t, log, events.TypeSLAWarning, i), &w)
		percents[fmt.Sprintf("%s/%d", w.Clock, w.Percent)] = true
	}
	for _, want := range []string{"response/50", "response/75", "response/90"} {
		if !percents[want] {
			t.Errorf("no %s warning; warnings: %v", want, percents)
		}
	}
	causedBy(t, breached, attached)
	causedBy(t, escalated, breached)
	causedBy(t, rerouted, escalated)
	causedBy(t, reassigned, escalated)
	causedBy(t, requested, breached)
	causedBy(t, delivered, requested)
	var r1, r2 events.Routed
	decode(t, routed, &r1)
	decode(t, rerouted, &r2)
	var esc events.Escalated
	decode(t, escalated, &esc)
	if r1.Group != "desk" || r1.Tier != 1 || r1.RuleID != "incidents" || r1.RuleVersion != 1 {
		t.Errorf("first routing %+v", r1)
	}
	if esc.Tier != 2 || esc.RuleID != "response-breach" || r2.Group != "engineers" || r2.Tier != 2 {
		t.Errorf("escalated %+v, re-routed %+v", esc, r2)
	}
	var req events.NotificationRequested
	decode(t, requested, &req)
	if req.Role != "group_lead" || req.Email != "lena@msp.example" || req.RuleID != "response-breach" {
		t.Errorf("notification %+v", req)
	}
	for _, e := range log {
		if e.CorrelationID != opened.CorrelationID {
			t.Errorf("%s has correlation id %q, want the opening request's %q", e.Type, e.CorrelationID, opened.CorrelationID)
		}
	}
	hook.mu.Lock()
	if hook.rejected != 0 || len(hook.verified) != 1 || hook.deliverID[0] != requested.ID || hook.verified[0]["ticket"] != id {
		t.Errorf("receiver: %d rejected, verified %v (delivery ids %v)", hook.rejected, hook.verified, hook.deliverID)
	}
	hook.mu.Unlock()

	// Work it: respond, hold for the customer, resume, resolve.
	for _, step := range []struct{ cmd, body string }{
		{"respond", `{"message": "on it"}`},
		{"hold", `{"reason": "awaiting_customer"}`},
		{"", ""}, // the hold lasts
		{"resume", `{}`},
		{"resolve", `{"code": "fixed"}`},
	} {
		if step.cmd == "" {
			time.Sleep(4 * time.Second)
			continue
		}
		status, body, err := c.Send(ctx, http.MethodPost, "/v1/tickets/"+id+"/"+step.cmd, "application/json", []byte(step.body))
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s: %d %s %v", step.cmd, status, body, err)
		}
	}
	eventstest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		_, evs, err := c.Events(ctx, id)
		if err != nil {
			return err
		}
		log = evs
		if count(log, events.TypeSLACompleted) < 2 {
			return fmt.Errorf("log so far: %v", types(log))
		}
		return nil
	})
	held, resumed, resolved := must(t, log, events.TypeHeld, 0), must(t, log, events.TypeResumed, 0), must(t, log, events.TypeResolved, 0)
	causedBy(t, must(t, log, events.TypeSLAPaused, 0), held)
	causedBy(t, must(t, log, events.TypeSLAResumed, 0), resumed)
	verdicts := map[string]events.SLACompleted{}
	for i := range 2 {
		e := must(t, log, events.TypeSLACompleted, i)
		var v events.SLACompleted
		decode(t, e, &v)
		verdicts[v.Clock] = v
		if v.Clock == events.ClockResolution {
			causedBy(t, e, resolved)
		}
	}
	if v := verdicts[events.ClockResponse]; v.Outcome != events.OutcomeMissed {
		t.Errorf("response verdict %+v, want missed (the response came after the breach)", v)
	}
	wall := at(t, resolved).Sub(at(t, opened))
	hold := at(t, resumed).Sub(at(t, held))
	v := verdicts[events.ClockResolution]
	want := (wall - hold).Milliseconds()
	if diff := v.UsedMS - want; diff < -1 || diff > 1 {
		t.Errorf("resolution used %d ms, want %d ms (wall %s minus hold %s)", v.UsedMS, want, wall, hold)
	}
	wantOutcome := events.OutcomeMet
	if time.Duration(v.UsedMS)*time.Millisecond > 6*time.Second {
		wantOutcome = events.OutcomeMissed
	}
	if v.Outcome != wantOutcome || wall <= 6*time.Second {
		t.Errorf("resolution verdict %+v after %s wall time with a %s hold, want %s (and a wall time above the 6s target, which only the hold keeps met)", v, wall, hold, wantOutcome)
	}
}

func find(log []events.Structured, typ string, nth int) *events.Structured {
	for i := range log {
		if log[i].Type == typ {
			if nth == 0 {
				return &log[i]
			}
			nth--
		}
	}
	return nil
}

func must(t *testing.T, log []events.Structured, typ string, nth int) events.Structured {
	t.Helper()
	e := find(log, typ, nth)
	if e == nil {
		t.Fatalf("no %s #%d in the log: %v", typ, nth+1, types(log))
	}
	return *e
}

func count(log []events.Structured, typ string) int {
	n := 0
	for _, e := range log {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func types(log []events.Structured) []string {
	var out []string
	for _, e := range log {
		out = append(out, e.Type[len("ledgerdesk.ticket."):len(e.Type)-len(".v1")])
	}
	return out
}

func causedBy(t *testing.T, effect, cause events.Structured) {
	t.Helper()
	if effect.CausationID != cause.ID {
		t.Errorf("%s (seq %d) caused by %q, want %s %s", effect.Type, effect.Sequence, effect.CausationID, cause.Type, cause.ID)
	}
}

func decode(t *testing.T, e events.Structured, into any) {
	t.Helper()
	if err := json.Unmarshal(e.Data, into); err != nil {
		t.Fatalf("decode %s: %v", e.Type, err)
	}
}

func at(t *testing.T, e events.Structured) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, e.Time)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}
