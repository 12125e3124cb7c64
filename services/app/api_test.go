package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/contracts"
	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/app"
	"github.com/ledgerdesk/ledgerdesk/services/contractsapi"
)

const token = "test-token"

// client talks to a real `ledgerdesk run` system over a real HTTP listener.
type client struct {
	t    *testing.T
	base string
	sys  *app.System
}

func startSystem(t *testing.T) *client {
	t.Helper()
	return startWith(t, app.RunConfig{})
}

// startWith starts a system with cfg on a temp data dir, free ports and the test token.
func startWith(t *testing.T, cfg app.RunConfig) *client {
	t.Helper()
	cfg.DataDir, cfg.HTTPAddr, cfg.NATSListen, cfg.AdminToken = t.TempDir(), "127.0.0.1:0", "127.0.0.1:-1", token
	sys, err := app.Start(context.Background(), cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Stop(context.Background()) })
	return &client{t: t, base: "http://" + sys.HTTPAddr.String(), sys: sys}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem decodes a problem+json response and checks its status and type.
func (r response) problem(t *testing.T, status int, kind string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	var p map[string]any
	r.json(t, &p)
	if p["type"] != "urn:ledgerdesk:problem:"+kind || int(p["status"].(float64)) != status {
		t.Fatalf("problem = %v, want type %s", p, kind)
	}
	return p
}

func (c *client) do(method, path, body string, headers ...string) response {
	c.t.Helper()
	return c.doAs(token, method, path, body, headers...)
}

// doAs sends a request with bearer token tok.
func (c *client) doAs(tok, method, path, body string, headers ...string) response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// streamMsgs is the number of events in TICKETS: proof that a refused request appended nothing.
func (c *client) streamMsgs() uint64 {
	c.t.Helper()
	s, err := c.sys.Store.JetStream().Stream(context.Background(), events.StreamName)
	if err != nil {
		c.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	return info.State.Msgs
}

const openBody = `{"tenant":"acme","type":"incident","title":"VPN down","description":"no tunnel",
"requester":{"name":"Ann","email":"ann@example.com"},"impact":"high","urgency":"high","category":"network","source":"email"}`

type ticket struct {
	ID       string `json:"id"`
	Tenant   string `json:"tenant"`
	State    string `json:"state"`
	Priority string `json:"priority"`
	Agent    string `json:"agent"`
	Version  uint64 `json:"version"`
}

func (c *client) open() (ticket, response) {
	c.t.Helper()
	r := c.do("POST", "/v1/tickets", openBody)
	if r.status != http.StatusCreated {
		c.t.Fatalf("open: %d %s", r.status, r.body)
	}
	var tk ticket
	r.json(c.t, &tk)
	return tk, r
}

func TestHealth(t *testing.T) {
	c := startSystem(t)
	for _, p := range []string{"/livez", "/readyz"} {
		if r := c.do("GET", p, "", "Authorization", ""); r.status != 200 {
			t.Fatalf("%s: %d", p, r.status)
		}
	}
}

func TestAuth(t *testing.T) {
	c := startSystem(t)
	c.do("POST", "/v1/tickets", openBody, "Authorization", "").problem(t, 401, "unauthorized")
	r := c.do("GET", "/v1/tickets/x", "", "Authorization", "Bearer wrong")
	r.problem(t, 401, "unauthorized")
	if r.header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	if n := c.streamMsgs(); n != 0 {
		t.Fatalf("unauthorized request appended %d events", n)
	}
}

func TestOpenGetAndHistory(t *testing.T) {
	c := startSystem(t)
	tk, r := c.open()
	if tk.State != "new" || tk.Priority != "P1" || tk.Tenant != "acme" || tk.Version == 0 {
		t.Fatalf("opened ticket = %+v", tk)
	}
	if r.header.Get("Location") != "/v1/tickets/"+tk.ID || r.header.Get("ETag") != fmt.Sprintf(`"%d"`, tk.Version) {
		t.Fatalf("Location %q ETag %q", r.header.Get("Location"), r.header.Get("ETag"))
	}
	if !strings.HasPrefix(tk.ID, "") || len(tk.ID) != 36 || tk.ID[14] != '7' {
		t.Fatalf("id %q is not a UUIDv7", tk.ID)
	}
	g := c.do("GET", "/v1/tickets/"+tk.ID, "")
	var got ticket
	g.json(t, &got)
	if g.status != 200 || got != tk || g.header.Get("ETag") != r.header.Get("ETag") {
		t.Fatalf("get = %d %+v, want %+v", g.status, got, tk)
	}
	c.do("GET", "/v1/tickets/0198c7d2-0000-7000-8000-000000000000", "").problem(t, 404, "not-found")

	a := c.do("POST", "/v1/tickets/"+tk.ID+"/assign", `{"agent":"bob"}`)
	if a.status != 200 {
		t.Fatalf("assign: %d %s", a.status, a.body)
	}
	h := c.do("GET", "/v1/tickets/"+tk.ID+"/events", "")
	var hist []map[string]any
	h.json(t, &hist)
	if len(hist) != 2 || hist[0]["type"] != events.TypeOpened || hist[1]["type"] != events.TypeAssigned {
		t.Fatalf("history = %s", h.body)
	}
	if hist[0]["specversion"] != "1.0" || hist[0]["subject"] != tk.ID || hist[1]["prevhash"] != hist[0]["hash"] ||
		hist[0]["sequence"].(float64) >= hist[1]["sequence"].(float64) {
		t.Fatalf("history envelope = %s", h.body)
	}
	if data := hist[1]["data"].(map[string]any); data["agent"] != "bob" {
		t.Fatalf("assigned data = %v", data)
	}
}

func TestIdempotencyKey(t *testing.T) {
	c := startSystem(t)
	first := c.do("POST", "/v1/tickets", openBody, "Idempotency-Key", "mail-4711")
	again := c.do("POST", "/v1/tickets", openBody, "Idempotency-Key", "mail-4711")
	var a, b ticket
	first.json(t, &a)
	again.json(t, &b)
	if first.status != 201 || again.status != 201 || a.ID != b.ID || a.Version != b.Version {
		t.Fatalf("repeat gave %d %+v, first %d %+v", again.status, b, first.status, a)
	}
	if n := c.streamMsgs(); n != 1 {
		t.Fatalf("stream has %d events after a repeated key, want 1", n)
	}
	other := strings.Replace(openBody, "VPN down", "Printer jam", 1)
	c.do("POST", "/v1/tickets", other, "Idempotency-Key", "mail-4711").problem(t, 422, "idempotency-key-reused")
	if n := c.streamMsgs(); n != 1 {
		t.Fatalf("stream has %d events after a reused key, want 1", n)
	}
}

func TestRequestErrors(t *testing.T) {
	c := startSystem(t)
	tk, _ := c.open()
	before := c.streamMsgs()
	big := `{"tenant":"acme","title":"` + strings.Repeat("x", 1<<20) + `"}`
	cases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		kind, field              string
	}{
		{"malformed", "POST", "/v1/tickets", `{"tenant":`, nil, 400, "malformed-json", ""},
		{"empty body", "POST", "/v1/tickets", ``, nil, 400, "malformed-json", ""},
		{"two values", "POST", "/v1/tickets", openBody + `{}`, nil, 400, "malformed-json", ""},
		{"unknown field", "POST", "/v1/tickets", strings.Replace(openBody, `"source"`, `"colour":"red","source"`, 1), nil, 400, "validation", "colour"},
		{"wrong json type", "POST", "/v1/tickets", strings.Replace(openBody, `"VPN down"`, `42`, 1), nil, 400, "validation", "title"},
		{"missing tenant", "POST", "/v1/tickets", strings.Replace(openBody, `"tenant":"acme",`, ``, 1), nil, 400, "validation", "tenant"},
		{"missing title", "POST", "/v1/tickets", strings.Replace(openBody, `"title":"VPN down",`, ``, 1), nil, 400, "validation", "title"},
		{"bad impact", "POST", "/v1/tickets", strings.Replace(openBody, `"impact":"high"`, `"impact":"huge"`, 1), nil, 400, "validation", "impact"},
		{"contradicting priority", "POST", "/v1/tickets", strings.Replace(openBody, `"impact"`, `"priority":"P5","impact"`, 1), nil, 400, "validation", "priority"},
		{"bad type", "POST", "/v1/tickets", strings.Replace(openBody, `"incident"`, `"outage"`, 1), nil, 400, "validation", "type"},
		{"bad email", "POST", "/v1/tickets", strings.Replace(openBody, `ann@example.com`, `ann`, 1), nil, 400, "validation", "requester.email"},
		{"too large", "POST", "/v1/tickets", big, nil, 413, "body-too-large", ""},
		{"too large command", "POST", "/v1/tickets/" + tk.ID + "/comment", `{"body":"` + strings.Repeat("y", 1<<20) + `"}`, nil, 413, "body-too-large", ""},
		{"unknown route", "GET", "/v1/nothing-here", ``, nil, 404, "not-found", ""},
		{"unknown top-level route", "GET", "/favicon.ico", ``, nil, 404, "not-found", ""},
		{"unknown command", "POST", "/v1/tickets/" + tk.ID + "/explode", `{}`, nil, 404, "unknown-command", ""},
		{"command on unknown ticket", "POST", "/v1/tickets/0198c7d2-0000-7000-8000-000000000000/assign", `{"agent":"a"}`, nil, 404, "not-found", ""},
		{"missing agent", "POST", "/v1/tickets/" + tk.ID + "/assign", `{}`, nil, 400, "validation", "agent"},
		{"refused transition", "POST", "/v1/tickets/" + tk.ID + "/close", `{}`, nil, 409, "invalid-transition", ""},
		{"stale If-Match", "POST", "/v1/tickets/" + tk.ID + "/assign", `{"agent":"a"}`, []string{"If-Match", `"1"`}, 412, "precondition-failed", ""},
		{"bad If-Match", "POST", "/v1/tickets/" + tk.ID + "/assign", `{"agent":"a"}`, []string{"If-Match", `"abc"`}, 400, "validation", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "stale If-Match" && tk.Version == 1 {
				tc.headers = []string{"If-Match", `"999"`}
			}
			p := c.do(tc.method, tc.path, tc.body, tc.headers...).problem(t, tc.status, tc.kind)
			if tc.field != "" && p["field"] != tc.field {
				t.Fatalf("field = %v, want %s (%v)", p["field"], tc.field, p)
			}
			if tc.kind == "invalid-transition" {
				allowed, _ := p["allowed"].([]any)
				if len(allowed) == 0 {
					t.Fatalf("409 does not name the allowed commands: %v", p)
				}
			}
		})
	}
	if n := c.streamMsgs(); n != before {
		t.Fatalf("refused requests appended: %d events, want %d", n, before)
	}
}

func TestIfMatchAndLifecycle(t *testing.T) {
	c := startSystem(t)
	tk, _ := c.open()
	steps := []struct{ cmd, body, state string }{
		{"assign", `{"agent":"bob"}`, "assigned"},
		{"respond", `{"message":"on it"}`, "in_progress"},
		{"hold", `{"reason":"awaiting_customer"}`, "on_hold"},
		{"resume", ``, "in_progress"},
		{"resolve", `{"code":"fixed"}`, "resolved"},
		{"close", ``, "closed"},
	}
	version := tk.Version
	for _, s := range steps {
		r := c.do("POST", "/v1/tickets/"+tk.ID+"/"+s.cmd, s.body, "If-Match", fmt.Sprintf(`"%d"`, version))
		var got ticket
		r.json(t, &got)
		if r.status != 200 || got.State != s.state || got.Version <= version {
			t.Fatalf("%s: %d %s", s.cmd, r.status, r.body)
		}
		version = got.Version
	}
	p := c.do("POST", "/v1/tickets/"+tk.ID+"/comment", `{"body":"late"}`).problem(t, 409, "invalid-transition")
	if a, ok := p["allowed"].([]any); !ok || len(a) != 0 {
		t.Fatalf("closed ticket allows %v", p["allowed"])
	}
}

// TestConcurrentConflictingCommands fires the same refusable command at one ticket from
// many clients at once: exactly one applies.
func TestConcurrentConflictingCommands(t *testing.T) {
	c := startSystem(t)
	tk, _ := c.open()
	for _, s := range []struct{ cmd, body string }{{"assign", `{"agent":"bob"}`}, {"respond", `{"message":"hi"}`}} {
		if r := c.do("POST", "/v1/tickets/"+tk.ID+"/"+s.cmd, s.body); r.status != 200 {
			t.Fatalf("%s: %d %s", s.cmd, r.status, r.body)
		}
	}
	const n = 16
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", c.base+"/v1/tickets/"+tk.ID+"/resolve", bytes.NewReader([]byte(`{}`)))
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			res.Body.Close()
			statuses[i] = res.StatusCode
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case 200:
			ok++
		case 409:
		default:
			t.Fatalf("unexpected status %d in %v", s, statuses)
		}
	}
	if ok != 1 {
		t.Fatalf("%d resolves applied, want exactly 1 (%v)", ok, statuses)
	}
	var hist []map[string]any
	c.do("GET", "/v1/tickets/"+tk.ID+"/events", "").json(t, &hist)
	resolved := 0
	for _, e := range hist {
		if e["type"] == events.TypeResolved {
			resolved++
		}
	}
	if resolved != 1 {
		t.Fatalf("%d resolved events in the log, want 1", resolved)
	}
}

// TestReadYourWrites: a ticket just opened is in the read models when read with min_seq
// set to its version.
func TestReadYourWrites(t *testing.T) {
	c := startSystem(t)
	tk, _ := c.open()
	r := c.do(http.MethodGet, "/v1/tickets/"+tk.ID+"/view?min_seq="+strconv.FormatUint(tk.Version, 10), "")
	var v struct {
		Ticket struct {
			ID      string `json:"id"`
			Version uint64 `json:"version"`
		} `json:"ticket"`
	}
	r.json(t, &v)
	if r.status != http.StatusOK || v.Ticket.ID != tk.ID || r.header.Get("X-Ledgerdesk-Seq") == "" {
		t.Fatalf("view right after open: %d %s", r.status, r.body)
	}
	r = c.do(http.MethodGet, "/v1/queues?tenant=acme", "", "Authorization", "")
	if r.status != http.StatusUnauthorized {
		t.Errorf("queues without a token: %d", r.status)
	}
}

// TestContracts: GET /v1/contracts lists every registered event type with its schema's
// path, each path serves the published schema, and anything else is a not-found problem.
func TestContracts(t *testing.T) {
	c := startSystem(t)
	c.do("GET", "/v1/contracts", "", "Authorization", "").problem(t, 401, "unauthorized")
	var index contractsapi.Index
	c.do("GET", "/v1/contracts", "").json(t, &index)
	var types []string
	for _, e := range index.Events {
		types = append(types, e.Type)
		if e.Derived != events.IsDerived(e.Type) || (e.Command == "") != e.Derived {
			t.Errorf("%s: command %q, derived %v", e.Type, e.Command, e.Derived)
		}
		r := c.do("GET", e.Schema, "")
		want, _ := contracts.EventSchema(e.Type)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/schema+json" || !bytes.Equal(r.body, want) {
			t.Errorf("GET %s: %d %s, %d bytes; want the published schema", e.Schema, r.status, r.header.Get("Content-Type"), len(r.body))
		}
	}
	if !slices.Equal(types, events.Types()) {
		t.Errorf("the index lists %v, want every registered type %v", types, events.Types())
	}
	var inbound []string
	for _, m := range index.Inbound {
		inbound = append(inbound, m.Type)
		if r := c.do("GET", m.Schema, ""); r.status != http.StatusOK || !strings.Contains(string(r.body), m.Type) {
			t.Errorf("GET %s: %d; want the published schema of %s", m.Schema, r.status, m.Type)
		}
	}
	if !slices.Equal(inbound, events.InboundTypeNames()) {
		t.Errorf("the index lists inbound types %v, want %v", inbound, events.InboundTypeNames())
	}
	want, err := contracts.AsyncAPI()
	if err != nil {
		t.Fatal(err)
	}
	if index.OpenAPI != contracts.OpenAPIPath {
		t.Errorf("the index names the OpenAPI document %q", index.OpenAPI)
	}
	if r := c.do("GET", index.AsyncAPI, ""); r.status != http.StatusOK || !bytes.Equal(r.body, want) {
		t.Errorf("GET %s: %d, %d bytes; want the AsyncAPI document", index.AsyncAPI, r.status, len(r.body))
	}
	for _, path := range []string{"/v1/contracts/events/ledgerdesk.ticket.nope.v1.schema.json",
		"/v1/contracts/events/" + events.TypeOpened, "/v1/contracts/events/..%2Fgolden%2Fx.schema.json", "/v1/contracts/other"} {
		c.do("GET", path, "").problem(t, 404, "not-found")
	}
}

// TestStartFailsCleanly: a listener that cannot be bound fails the start with the reason,
// after what was started is stopped again.
func TestStartFailsCleanly(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	sys, err := app.Start(context.Background(), app.RunConfig{DataDir: t.TempDir(), HTTPAddr: taken.Addr().String(),
		NATSListen: "127.0.0.1:-1", AdminToken: token}, zap.NewNop())
	if err == nil {
		sys.Stop(context.Background())
		t.Fatal("started on a taken HTTP address")
	}
	if !strings.Contains(err.Error(), "listen http") {
		t.Fatalf("start on a taken HTTP address: %v", err)
	}
}
