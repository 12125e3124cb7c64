package reporting_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/projections"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/access/accesstest"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
	"github.com/ledgerdesk/ledgerdesk/services/reactor/reactortest"
	"github.com/ledgerdesk/ledgerdesk/services/reporting"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

type env struct {
	t     *testing.T
	srv   *httptest.Server // as accesstest.Admin
	h     http.Handler
	store *events.Store
	proj  *projections.Projector
	heads map[string]events.Event // ticket → last event
}

// now is the clock of the API: mid-April 2026 in Berlin, so the default report is March.
var now = time.Date(2026, 4, 15, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T) *env {
	t.Helper()
	re := reactortest.New(t)
	re.ApplyConfig(t, tenantconfig.Document{Tenant: "acme", TimeZone: "Europe/Berlin", DefaultGroup: "desk",
		Groups: []tenantconfig.Group{{ID: "desk", Tier: 1, Agents: []tenantconfig.Agent{{ID: "ann"}}}}})
	p, err := projections.Open("rm", projections.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, re.Store) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = p.Close()
	})
	h, err := reporting.NewHandler(reporting.Config{Projector: p, Store: re.Store, Logger: zap.NewNop(),
		MaxWait: 300 * time.Millisecond, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h, store: re.Store, proj: p, heads: map[string]events.Event{}}
	e.srv = e.as(accesstest.Admin)
	return e
}

// as serves the API to principal p.
func (e *env) as(p access.Principal) *httptest.Server {
	srv := httptest.NewServer(accesstest.As(p, e.h))
	e.t.Cleanup(srv.Close)
	return srv
}

// add appends events to a ticket (its first must be opened) at a time in March 2026.
func (e *env) add(ticket, when string, ps ...events.Payload) uint64 {
	e.t.Helper()
	at, err := time.Parse("01-02 15:04", when)
	if err != nil {
		e.t.Fatal(err)
	}
	at = at.AddDate(2026, 0, 0)
	a := events.Append{Tenant: "acme", TicketID: ticket}
	if head, ok := e.heads[ticket]; ok {
		a.ExpectedVersion, a.PrevHash = head.Sequence, head.Hash
	}
	for _, p := range ps {
		a.Events = append(a.Events, events.Event{Time: at, Data: p})
	}
	res, err := e.store.Append(context.Background(), a)
	if err != nil {
		e.t.Fatal(err)
	}
	e.heads[ticket] = res.Events[len(res.Events)-1]
	return e.heads[ticket].Sequence
}

func (e *env) get(path string, header ...string) (int, http.Header, []byte) {
	e.t.Helper()
	return e.getFrom(e.srv, path, header...)
}

func (e *env) getFrom(srv *httptest.Server, path string, header ...string) (int, http.Header, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, body
}

func opened(title string, p events.Priority, category string) events.Opened {
	o := eventstest.OpenedFixture(title)
	o.Priority, o.Category = p, category
	return o
}

func due(d string) *time.Time {
	t, _ := time.Parse(time.RFC3339, d)
	return &t
}

func (e *env) fixture() uint64 {
	e.add("t1", "03-02 09:00", opened("mail down", "P2", "email"), events.Routed{Group: "desk", Tier: 1}, events.Assigned{Agent: "ann"},
		events.SLAAttached{PolicyID: "p", Targets: []events.SLATarget{{Clock: "response", TargetMS: 1, Due: due("2026-05-01T10:00:00Z")}}})
	e.add("t2", "03-02 10:00", opened("vpn slow", "P1", "vpn"), events.Routed{Group: "desk", Tier: 1}, events.Assigned{Agent: "ann"},
		events.SLAAttached{PolicyID: "p", Targets: []events.SLATarget{{Clock: "response", TargetMS: 1, Due: due("2026-05-01T09:00:00Z")}}})
	e.add("t3", "03-03 10:00", opened("new laptop", "P4", "endpoint"), events.Routed{Group: "desk", Tier: 1})
	e.add("t2", "03-02 11:00", events.SLAWarning{Clock: "response", Percent: 50})
	e.add("t3", "03-04 10:00", events.Assigned{Agent: "ann"}, events.Responded{Message: "ordered"})
	return e.add("t3", "03-05 10:00", events.Resolved{})
}

func problem(t *testing.T, h http.Header, body []byte) httpx.Problem {
	t.Helper()
	if h.Get("Content-Type") != "application/problem+json" {
		t.Errorf("content type %q for %s", h.Get("Content-Type"), body)
	}
	var p httpx.Problem
	_ = json.Unmarshal(body, &p)
	return p
}

func TestQueuesAndViews(t *testing.T) {
	e := setup(t)
	last := e.fixture()
	// min_seq: read-your-writes after the last append.
	status, h, body := e.get("/v1/queues?tenant=acme&group=desk&limit=1&min_seq=" + strconv.FormatUint(last, 10))
	var pg reporting.PageJSON
	if err := json.Unmarshal(body, &pg); err != nil || status != http.StatusOK {
		t.Fatalf("queue: %d %s", status, body)
	}
	if h.Get(reporting.HeaderSeq) != strconv.FormatUint(last, 10) || pg.Seq != last {
		t.Errorf("seq header %q body %d, want %d", h.Get(reporting.HeaderSeq), pg.Seq, last)
	}
	if pg.Total != 2 || len(pg.Tickets) != 1 || pg.Tickets[0].Ticket.ID != "t2" || pg.NextCursor == "" || pg.Tickets[0].SLABoard != "at_risk" {
		t.Fatalf("first page %s", body)
	}
	_, _, body = e.get("/v1/queues?tenant=acme&group=desk&limit=1&cursor=" + pg.NextCursor)
	pg = reporting.PageJSON{}
	_ = json.Unmarshal(body, &pg)
	if len(pg.Tickets) != 1 || pg.Tickets[0].Ticket.ID != "t1" || pg.NextCursor != "" {
		t.Errorf("second page %s", body)
	}
	status, _, body = e.get("/v1/sla/board?tenant=acme&status=at_risk")
	pg = reporting.PageJSON{}
	if _ = json.Unmarshal(body, &pg); status != http.StatusOK || pg.Total != 1 || pg.Tickets[0].Ticket.ID != "t2" {
		t.Errorf("board: %d %s", status, body)
	}
	status, _, body = e.get("/v1/tickets/t1/view")
	var v reporting.ViewJSON
	if err := json.Unmarshal(body, &v); err != nil || status != http.StatusOK || v.Ticket.Agent != "ann" || v.NextDue == nil || v.SLA.PolicyID != "p" {
		t.Errorf("view: %d %s", status, body)
	}

	for path, field := range map[string]string{
		"/v1/queues?group=desk":                                      "tenant",
		"/v1/queues?tenant=acme&tier=7":                              "tier",
		"/v1/queues?tenant=acme&limit=0":                             "limit",
		"/v1/queues?tenant=acme&cursor=%21%21":                       "cursor",
		"/v1/queues?tenant=acme&min_seq=x":                           "min_seq",
		"/v1/sla/board?tenant=acme&status=late":                      "status",
		"/v1/reports/summary?tenant=acme&from=2026-03-01":            "from",
		"/v1/reports/summary?tenant=acme&as_of=2099-01-01T00:00:00Z": "as_of",
	} {
		status, h, body := e.get(path)
		if p := problem(t, h, body); status != http.StatusBadRequest || p.Field != field {
			t.Errorf("%s: %d %s, want 400 naming %s", path, status, body, field)
		}
	}
	status, h, body = e.get("/v1/tickets/nope/view")
	if problem(t, h, body); status != http.StatusNotFound {
		t.Errorf("unknown ticket: %d %s", status, body)
	}
	status, h, body = e.get("/v1/queues?tenant=acme&min_seq=" + strconv.FormatUint(last+100, 10))
	if problem(t, h, body); status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("min_seq ahead of the log: %d %s (Retry-After %q)", status, body, h.Get("Retry-After"))
	}
	status, h, body = e.get("/v1/reports/nothing")
	if problem(t, h, body); status != http.StatusNotFound {
		t.Errorf("unknown route: %d", status)
	}
}

// A principal of one tenant reads it without tenant=; another tenant's queue, board,
// reports and tickets answer 404 as if they did not exist.
func TestTenantScope(t *testing.T) {
	e := setup(t)
	last := e.fixture()
	acme := e.as(access.Principal{Name: "bob", Role: access.RoleAgent, Tenants: []string{"acme"}})
	globex := e.as(access.Principal{Name: "eve", Role: access.RoleAgent, Tenants: []string{"globex"}})
	both := e.as(access.Principal{Name: "kim", Role: access.RoleAuditor, Tenants: []string{"acme", "globex"}})
	status, _, body := e.getFrom(acme, "/v1/queues?group=desk&min_seq="+strconv.FormatUint(last, 10))
	var pg reporting.PageJSON
	if _ = json.Unmarshal(body, &pg); status != http.StatusOK || pg.Total != 2 {
		t.Errorf("acme agent's queue without tenant=: %d %s, want acme's two tickets", status, body)
	}
	for _, path := range []string{"/v1/queues?tenant=acme&group=desk", "/v1/sla/board?tenant=acme&status=at_risk",
		"/v1/reports/summary?tenant=acme", "/v1/reports/trends?tenant=acme", "/v1/tickets/t1/view"} {
		if status, h, body := e.getFrom(globex, path); status != http.StatusNotFound || problem(t, h, body).Type != "urn:ledgerdesk:problem:not-found" {
			t.Errorf("globex agent %s: %d %s, want 404 not-found", path, status, body)
		}
		if status, _, body := e.getFrom(both, path); status != http.StatusOK {
			t.Errorf("acme+globex auditor %s: %d %s, want 200", path, status, body)
		}
	}
	if status, h, body := e.getFrom(both, "/v1/queues?group=desk"); status != http.StatusBadRequest || problem(t, h, body).Field != "tenant" {
		t.Errorf("two-tenant principal without tenant=: %d %s, want 400 naming tenant", status, body)
	}
}

func TestReports(t *testing.T) {
	e := setup(t)
	last := e.fixture()
	minSeq := "&min_seq=" + strconv.FormatUint(last, 10)
	status, h, body := e.get("/v1/reports/summary?tenant=acme" + minSeq)
	var s reporting.SummaryJSON
	if err := json.Unmarshal(body, &s); err != nil || status != http.StatusOK {
		t.Fatalf("summary: %d %s", status, body)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if !s.From.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, berlin)) || !s.To.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, berlin)) || s.TimeZone != "Europe/Berlin" {
		t.Errorf("default period %s – %s %s, want March in Berlin", s.From, s.To, s.TimeZone)
	}
	if s.Opened != 3 || s.Resolved != 1 || s.MTTAMS != (24*time.Hour).Milliseconds() || s.BacklogTotal != 2 || h.Get(reporting.HeaderSeq) == "" {
		t.Errorf("summary figures %s", body)
	}
	status, h, body = e.get("/v1/reports/summary?tenant=acme"+minSeq, "Accept", "text/csv")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || !strings.Contains(string(body), "opened,,3\n") ||
		!strings.Contains(string(body), "by_category,vpn,1\n") {
		t.Errorf("csv: %d %s\n%s", status, h.Get("Content-Type"), body)
	}
	status, h, body = e.get("/v1/reports/summary?tenant=acme&format=html" + minSeq)
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "<svg") ||
		!strings.Contains(string(body), "1 Mar 2026 – 31 Mar 2026") {
		t.Errorf("html: %d %s", status, body)
	}
	// as_of before t3's resolution: one ticket fewer resolved, one more open.
	status, _, body = e.get("/v1/reports/summary?tenant=acme&from=2026-03-01&to=2026-04-01&as_of=2026-03-04T12:00:00Z")
	s = reporting.SummaryJSON{}
	if _ = json.Unmarshal(body, &s); status != http.StatusOK || s.Resolved != 0 || s.BacklogTotal != 3 || s.Opened != 3 {
		t.Errorf("as_of summary: %d %s", status, body)
	}
	status, _, body = e.get("/v1/reports/trends?tenant=acme&from=2026-03-01&to=2026-04-01&min_tickets=2&min_share=0.6" + minSeq)
	var tr reporting.TrendsJSON
	if err := json.Unmarshal(body, &tr); err != nil || status != http.StatusOK || tr.MinTickets != 2 || tr.Candidates == nil {
		t.Errorf("trends: %d %s", status, body)
	}
	// Three tickets of three categories on two days: nothing recurs twice in one category.
	if len(tr.Candidates) != 0 {
		t.Errorf("trends found %s", fmt.Sprint(tr.Candidates))
	}
}
