package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/app"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
	"github.com/ledgerdesk/ledgerdesk/services/inbox"
)

// startDemo starts a system with the demo tenants' configuration (acme, globex, initech).
func startDemo(t *testing.T) *client {
	t.Helper()
	return startWith(t, app.RunConfig{SeedConfigDir: filepath.Join("..", "..", "deploy", "demo-config"), Services: []string{}})
}

// integration is an integration's NATS connection with its own issued creds.
type integration struct {
	t        *testing.T
	js       jetstream.JetStream
	outcomes chan *nats.Msg
}

func connectIntegration(t *testing.T, c *client, name string, tenants ...string) *integration {
	t.Helper()
	creds, err := c.sys.Keys.IssueIntegration(name, tenants)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), name+".creds")
	if err := os.WriteFile(file, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	nc, err := nats.Connect(c.sys.NATS.ClientURL(), nats.UserCredentials(file),
		nats.CustomInboxPrefix(natsauth.IntegrationInboxPrefix(name)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	in := &integration{t: t, js: js, outcomes: make(chan *nats.Msg, 64)}
	for _, tenant := range tenants {
		if _, err := nc.ChanSubscribe("outcomes."+tenant+"."+name+".>", in.outcomes); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatalf("subscribe to its outcomes: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	return in
}

// publish publishes a binary-mode CloudEvent and waits for the inbox's ack.
func (in *integration) publish(subject, typ, id, data string) error {
	return in.publishWithin(5*time.Second, subject, typ, id, data)
}

func (in *integration) publishWithin(timeout time.Duration, subject, typ, id, data string) error {
	in.t.Helper()
	m := nats.NewMsg(subject)
	m.Header.Set("ce-specversion", "1.0")
	m.Header.Set("ce-id", id)
	m.Header.Set("ce-source", "//zabbix.acme.example")
	m.Header.Set("ce-type", typ)
	m.Header.Set("ce-datacontenttype", "application/json")
	m.Data = []byte(data)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := in.js.PublishMsg(ctx, m)
	return err
}

// outcome waits for the outcome of the message with ce-id id.
func (in *integration) outcome(id string) inbox.Outcome {
	in.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-in.outcomes:
			var o inbox.Outcome
			if err := json.Unmarshal(m.Data, &o); err != nil {
				in.t.Fatal(err)
			}
			if o.ID == id {
				return o
			}
		case <-deadline:
			in.t.Fatalf("no outcome of %s", id)
		}
	}
}

const alertOpen = `{"external_id":"zbx-1","type":"incident","title":"Disk full on db-01","requester":{"name":"Zabbix","email":"zabbix@acme.example"},
"impact":"medium","urgency":"high","category":"storage","labels":["host:db-01"]}`

// TestInboxOverNATS: an integration publishes with its own creds; every message gets its
// outcome on the integration's outcome subject; an open makes one ticket with the
// integration as actor, a later message addresses it by its external reference, a repeat
// of a ce-id is answered from its first outcome without a second effect, and a bad
// message is rejected with its reasons and appends nothing. The creds publish nowhere else.
func TestInboxOverNATS(t *testing.T) {
	c := startDemo(t)
	zbx := connectIntegration(t, c, "zabbix", "acme")

	if err := zbx.publish("inbox.acme.zabbix", events.TypeInboxOpen, "alert-1", alertOpen); err != nil {
		t.Fatal(err)
	}
	opened := zbx.outcome("alert-1")
	if opened.Status != inbox.StatusAccepted || opened.Ticket == "" || opened.Sequence == 0 {
		t.Fatalf("open: %+v", opened)
	}
	var tk ticket
	c.do("GET", "/v1/tickets/"+opened.Ticket, "").json(t, &tk)
	if tk.Tenant != "acme" || tk.Priority != "P2" || tk.Version != opened.Sequence {
		t.Fatalf("ticket %+v after outcome %+v", tk, opened)
	}
	var history []map[string]any
	c.do("GET", "/v1/tickets/"+opened.Ticket+"/events", "").json(t, &history)
	if history[0]["actor"] != "integration:zabbix" || history[0]["causationid"] != "alert-1" {
		t.Errorf("opened event %v: want actor integration:zabbix, caused by alert-1", history[0])
	}

	if err := zbx.publish("inbox.acme.zabbix", events.TypeInboxComment, "alert-1-again", `{"external_id":"zbx-1","body":"still firing"}`); err != nil {
		t.Fatal(err)
	}
	if o := zbx.outcome("alert-1-again"); o.Status != inbox.StatusAccepted || o.Ticket != opened.Ticket {
		t.Fatalf("comment by reference: %+v, want ticket %s", o, opened.Ticket)
	}
	before := c.streamMsgs()

	// A repeat of the open, by its reference and by its ce-id: no second ticket.
	if err := zbx.publish("inbox.acme.zabbix", events.TypeInboxOpen, "alert-1", alertOpen); err != nil {
		t.Fatal(err)
	}
	if o := zbx.outcome("alert-1"); !o.Replayed || o.Ticket != opened.Ticket || o.Sequence != opened.Sequence {
		t.Errorf("repeat of alert-1: %+v, want the first outcome replayed", o)
	}
	if err := zbx.publish("inbox.acme.zabbix", events.TypeInboxOpen, "alert-1b", alertOpen); err != nil {
		t.Fatal(err)
	}
	if o := zbx.outcome("alert-1b"); o.Status != inbox.StatusAccepted || !o.Existing || o.Ticket != opened.Ticket {
		t.Errorf("a new open of an open reference: %+v, want ticket %s, existing", o, opened.Ticket)
	}
	if err := zbx.publish("inbox.acme.zabbix", events.TypeInboxOpen, "alert-1", strings.Replace(alertOpen, "db-01", "db-02", 1)); err != nil {
		t.Fatal(err)
	}
	if o := zbx.outcome("alert-1"); o.Status != inbox.StatusRejected || o.Problem == nil || o.Problem.Type != "urn:ledgerdesk:problem:"+httpx.KindIDReused {
		t.Errorf("alert-1 with another body: %+v, want rejected as a reused ce-id", o)
	}

	// Rejections, each with its reasons; none appends anything.
	invalid := strings.NewReplacer(`"impact":"medium"`, `"impact":"none"`, `"title":"Disk full on db-01",`, ``).Replace(alertOpen)
	if err := zbx.publish("inbox.acme.zabbix", events.TypeInboxOpen, "bad-1", invalid); err != nil {
		t.Fatal(err)
	}
	bad := zbx.outcome("bad-1")
	if bad.Status != inbox.StatusRejected || bad.Problem.Type != "urn:ledgerdesk:problem:"+httpx.KindSchema || len(bad.Problem.Errors) != 2 {
		t.Fatalf("schema violations: %+v", bad)
	}
	for _, e := range bad.Problem.Errors {
		if !strings.HasPrefix(e.Schema, "/v1/contracts/events/"+events.TypeInboxOpen+".schema.json#/") || e.Reason == "" {
			t.Errorf("reason %+v: want the published schema's path", e)
		}
	}
	for id, msg := range map[string][2]string{
		"unknown-type": {"ledgerdesk.inbox.frobnicate.v1", `{}`},
		"no-ticket":    {events.TypeInboxComment, `{"body":"x"}`},
		"unknown-ref":  {events.TypeInboxResolve, `{"external_id":"nope"}`},
		"not-json":     {events.TypeInboxComment, `{"body":`},
	} {
		if err := zbx.publish("inbox.acme.zabbix", msg[0], id, msg[1]); err != nil {
			t.Fatal(err)
		}
		if o := zbx.outcome(id); o.Status != inbox.StatusRejected || o.Problem == nil || o.Problem.Detail == "" {
			t.Errorf("%s: %+v, want rejected with a reason", id, o)
		}
	}
	if after := c.streamMsgs(); after != before {
		t.Errorf("TICKETS went from %d to %d messages on repeats and rejections", before, after)
	}

	// A message too big for the inbox is refused at publish time, with the reason.
	if err := zbx.publish("inbox.acme.zabbix", events.TypeInboxComment, "big", `{"external_id":"zbx-1","body":"`+strings.Repeat("x", inbox.MaxMessage)+`"}`); err == nil {
		t.Error("a message over 1 MiB was taken")
	}
	// A tenant without configuration is unknown: rejected, nothing opened.
	nowhere := connectIntegration(t, c, "zabbix", "nowhere")
	if err := nowhere.publish("inbox.nowhere.zabbix", events.TypeInboxOpen, "lost-1", alertOpen); err != nil {
		t.Fatal(err)
	}
	if o := nowhere.outcome("lost-1"); o.Status != inbox.StatusRejected || o.Problem.Type != "urn:ledgerdesk:problem:"+httpx.KindUnknownTenant {
		t.Errorf("a tenant without configuration: %+v", o)
	}
	if after := c.streamMsgs(); after != before {
		t.Errorf("TICKETS went from %d to %d messages on an oversized message and an unknown tenant", before, after)
	}

	// The creds publish under their own name and tenants only.
	for _, subject := range []string{"inbox.globex.zabbix", "inbox.acme.nagios", "tickets.acme.x"} {
		// The server drops a refused publish: no ack comes.
		if err := zbx.publishWithin(time.Second, subject, events.TypeInboxOpen, "elsewhere", alertOpen); err == nil {
			t.Errorf("zabbix's creds published to %s", subject)
		}
	}
}

// TestInboxOverHTTP: POST /v1/events in binary, structured and batch mode with an
// integration token; each event's outcome in the answer, kept for GET /v1/events/outcome;
// a tenant outside the token's scope is rejected and its outcome kept nowhere.
func TestInboxOverHTTP(t *testing.T) {
	c := startDemo(t)
	g := c.grant("rmm", "integration", "acme")
	binary := c.doAs(g.Token, "POST", "/v1/events", alertOpen, "Content-Type", "application/json", "ce-specversion", "1.0",
		"ce-id", "rmm-1", "ce-source", "//rmm.acme.example", "ce-type", events.TypeInboxOpen)
	var o inbox.Outcome
	if binary.json(t, &o); binary.status != http.StatusOK || o.Status != inbox.StatusAccepted || o.Ticket == "" {
		t.Fatalf("binary mode: %d %s", binary.status, binary.body)
	}
	structured, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": "rmm-2", "source": "//rmm.acme.example",
		"type": events.TypeInboxComment, "datacontenttype": "application/json", "data": map[string]any{"external_id": "zbx-1", "body": "seen by rmm"}})
	r := c.doAs(g.Token, "POST", "/v1/events", string(structured), "Content-Type", "application/cloudevents+json")
	var o2 inbox.Outcome
	if r.json(t, &o2); r.status != http.StatusOK || o2.Ticket != o.Ticket {
		t.Fatalf("structured mode, by reference: %d %s, want ticket %s", r.status, r.body, o.Ticket)
	}
	before := c.streamMsgs()
	batch := `[{"specversion":"1.0","id":"rmm-3","source":"//rmm.acme.example","type":"` + events.TypeInboxComment + `","data":{"ticket":"` + o.Ticket + `","body":"one"}},
	 {"specversion":"1.0","id":"rmm-4","source":"//rmm.acme.example","type":"` + events.TypeInboxComment + `","data":{"ticket":"` + o.Ticket + `"}},
	 {"specversion":"1.0","id":"rmm-5","source":"//rmm.acme.example","type":"` + events.TypeInboxComment + `","tenant":"globex","data":{"ticket":"` + o.Ticket + `","body":"x"}}]`
	r = c.doAs(g.Token, "POST", "/v1/events", batch, "Content-Type", "application/cloudevents-batch+json")
	var outs []inbox.Outcome
	if r.json(t, &outs); r.status != http.StatusOK || len(outs) != 3 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	if outs[0].Status != inbox.StatusAccepted || outs[1].Status != inbox.StatusRejected || outs[2].Status != inbox.StatusRejected {
		t.Fatalf("batch outcomes %+v: want accepted, rejected (no body), rejected (globex)", outs)
	}
	if after := c.streamMsgs(); after != before+1 {
		t.Errorf("the batch appended %d events, want 1", after-before)
	}
	lookup := func(tok, id string) response {
		return c.doAs(tok, "GET", "/v1/events/outcome?source="+url.QueryEscape("//rmm.acme.example")+"&id="+id, "")
	}
	var kept inbox.Outcome
	r = lookup(g.Token, "rmm-3")
	if r.json(t, &kept); r.status != 200 || kept.Ticket != o.Ticket || kept.Status != inbox.StatusAccepted {
		t.Errorf("outcome of rmm-3: %d %s", r.status, r.body)
	}
	if r := lookup(g.Token, "rmm-4"); r.status != 200 || !strings.Contains(string(r.body), inbox.StatusRejected) {
		t.Errorf("outcome of rmm-4: %d %s", r.status, r.body)
	}
	lookup(g.Token, "rmm-5").problem(t, http.StatusNotFound, "not-found")
	other := c.grant("psa", "integration", "globex")
	if r := c.doAs(other.Token, "GET", "/v1/events/outcome?tenant=acme&integration=rmm&source=x&id=rmm-3", ""); r.status != http.StatusNotFound {
		t.Errorf("another tenant's integration read acme's outcome: %d %s", r.status, r.body)
	}
	c.doAs(g.Token, "POST", "/v1/events", "{", "Content-Type", "application/cloudevents+json").problem(t, http.StatusBadRequest, httpx.KindMalformedEvent)

	// One ce-id twice in a batch, with two bodies: the first applies, the second is refused.
	twice := `[{"specversion":"1.0","id":"rmm-6","source":"//rmm.acme.example","type":"` + events.TypeInboxComment + `","data":{"ticket":"` + o.Ticket + `","body":"first"}},
	 {"specversion":"1.0","id":"rmm-6","source":"//rmm.acme.example","type":"` + events.TypeInboxComment + `","data":{"ticket":"` + o.Ticket + `","body":"second"}}]`
	r = c.doAs(g.Token, "POST", "/v1/events", twice, "Content-Type", "application/cloudevents-batch+json")
	if r.json(t, &outs); len(outs) != 2 || outs[0].Status != inbox.StatusAccepted || outs[1].Problem == nil ||
		outs[1].Problem.Type != "urn:ledgerdesk:problem:"+httpx.KindIDReused {
		t.Errorf("one ce-id twice in a batch: %s", r.body)
	}
}

// TestSummaryHasTheEvidence: backup results and patch scans sent to POST /v1/events are
// in the monthly summary's backup and patch sections, in JSON, CSV and HTML.
func TestSummaryHasTheEvidence(t *testing.T) {
	c := startWith(t, app.RunConfig{SeedConfigDir: filepath.Join("..", "..", "deploy", "demo-config"), Services: []string{app.ReportingName}})
	send := func(typ, id, data string) {
		t.Helper()
		r := c.do("POST", "/v1/events?tenant=acme", data, "Content-Type", "application/json", "ce-specversion", "1.0",
			"ce-id", id, "ce-source", "//veeam.acme.example", "ce-type", typ)
		var o inbox.Outcome
		if r.json(t, &o); r.status != 200 || o.Status != inbox.StatusAccepted {
			t.Fatalf("%s: %d %s", id, r.status, r.body)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	started, finished := now.Add(-3*time.Hour).Format(time.RFC3339), now.Add(-2*time.Hour).Format(time.RFC3339)
	send(events.TypeInboxBackupResult, "b1", `{"system":"fs-01","job":"nightly","started":"`+started+`","finished":"`+finished+`","status":"success","bytes":10,"restore_tested":true}`)
	send(events.TypeInboxBackupResult, "b2", `{"system":"fs-01","job":"hourly","started":"`+started+`","finished":"`+finished+`","status":"failed","bytes":0,"restore_tested":false}`)
	send(events.TypeInboxPatchScan, "p1", `{"device":"ws-1","scanned_at":"`+finished+`","missing":{"critical":1,"important":0,"moderate":0,"low":0},"last_patched":"`+started+`"}`)
	period := "/v1/reports/summary?tenant=acme&from=" + now.AddDate(0, 0, -1).Format(time.DateOnly) + "&to=" + now.AddDate(0, 0, 2).Format(time.DateOnly)
	var s struct {
		Backups struct {
			Jobs    int
			Systems []struct {
				System              string
				Succeeded           int
				LastVerifiedRestore *time.Time `json:"last_verified_restore"`
			}
		}
		Patches struct {
			Devices     int
			OutOfPolicy []string `json:"out_of_policy"`
		}
	}
	c.do("GET", period, "").json(t, &s)
	if s.Backups.Jobs != 2 || len(s.Backups.Systems) != 1 || s.Backups.Systems[0].Succeeded != 1 || s.Backups.Systems[0].LastVerifiedRestore == nil {
		t.Errorf("backup section %+v", s.Backups)
	}
	if s.Patches.Devices != 1 || len(s.Patches.OutOfPolicy) != 1 || s.Patches.OutOfPolicy[0] != "ws-1" {
		t.Errorf("patch section %+v", s.Patches)
	}
	if r := c.do("GET", period, "", "Accept", "text/csv"); !strings.Contains(string(r.body), "backup_system_last_verified_restore,fs-01,") ||
		!strings.Contains(string(r.body), "patch_out_of_policy,ws-1,1 critical missing") {
		t.Errorf("CSV:\n%s", r.body)
	}
	if r := c.do("GET", period+"&format=html", ""); !strings.Contains(string(r.body), "<h2>Backups</h2>") || !strings.Contains(string(r.body), "ws-1") {
		t.Errorf("HTML lacks the evidence sections")
	}
}
