package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/app"
)

// grant creates a principal through POST /v1/tokens as the bootstrap admin.
func (c *client) grant(name, role string, tenants ...string) access.Granted {
	c.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "role": role, "tenants": tenants})
	r := c.do(http.MethodPost, "/v1/tokens", string(body))
	if r.status != http.StatusCreated {
		c.t.Fatalf("grant %s: %d %s", name, r.status, r.body)
	}
	var g access.Granted
	r.json(c.t, &g)
	return g
}

// lastSeqs is the last sequence of TICKETS, CONFIG and ACCESS: what a refused request must
// leave alone.
func (c *client) lastSeqs() [3]uint64 {
	c.t.Helper()
	var out [3]uint64
	for i, name := range []string{events.StreamName, events.ConfigStreamName, events.AccessStreamName} {
		s, err := c.sys.Store.JetStream().Stream(context.Background(), name)
		if err != nil {
			c.t.Fatal(err)
		}
		info, err := s.Info(context.Background())
		if err != nil {
			c.t.Fatal(err)
		}
		out[i] = info.State.LastSeq
	}
	return out
}

func configBody(tenant string) string {
	return `{"tenant":"` + tenant + `","groups":[{"id":"desk","tier":1,"agents":[{"id":"ann"}]}],"default_group":"desk"}`
}

func openBodyFor(tenant string) string {
	return strings.Replace(openBody, `"tenant":"acme"`, `"tenant":"`+tenant+`"`, 1)
}

// TestRolesAndTenantScopes runs every role against every kind of endpoint, on its own
// tenant and on another: each answers what the policy says, and a refused request appends
// nothing to any stream.
func TestRolesAndTenantScopes(t *testing.T) {
	c := startWith(t, app.RunConfig{Services: []string{app.ReportingName}}) // nothing appends behind our back
	for _, tenant := range []string{"acme", "globex"} {
		if r := c.do(http.MethodPut, "/v1/tenants/"+tenant+"/config", configBody(tenant)); r.status != http.StatusOK {
			t.Fatalf("config %s: %d %s", tenant, r.status, r.body)
		}
	}
	tickets := map[string]string{}
	for _, tenant := range []string{"acme", "globex"} {
		r := c.do(http.MethodPost, "/v1/tickets", openBodyFor(tenant))
		var tk ticket
		r.json(t, &tk)
		tickets[tenant] = tk.ID
	}
	principals := map[string]string{ // name → token
		"admin":  token,
		"ops":    c.grant("ops", "admin", "acme").Token, // a tenant-scoped admin
		"bob":    c.grant("bob", "agent", "acme").Token,
		"nagios": c.grant("nagios", "integration", "acme").Token,
		"kim":    c.grant("kim", "auditor", "acme").Token,
	}
	// allowed is the policy as the API documents it, written out independently of the code.
	allowed := map[string][]string{
		"admin":  {"open", "read", "command", "comment", "queue", "report", "config.read", "config.write", "token.read", "token.manage"},
		"ops":    {"open", "read", "command", "comment", "queue", "report", "config.read", "config.write", "token.read", "token.manage"},
		"bob":    {"open", "read", "command", "comment", "queue", "report"},
		"nagios": {"open", "comment"},
		"kim":    {"read", "queue", "report", "config.read", "token.read"},
	}
	type endpoint struct {
		op, method, path, body string
		ok                     int
	}
	endpoints := func(tenant string, n int) []endpoint {
		id := tickets[tenant]
		seq := strconv.FormatUint(c.lastSeqs()[0], 10)
		return []endpoint{
			{"open", "POST", "/v1/tickets", openBodyFor(tenant), 201},
			{"read", "GET", "/v1/tickets/" + id, "", 200},
			{"read", "GET", "/v1/tickets/" + id + "/events", "", 200},
			{"read", "GET", "/v1/tickets/" + id + "/view?min_seq=" + seq, "", 200},
			{"command", "POST", "/v1/tickets/" + id + "/recategorize", fmt.Sprintf(`{"category":"c%d"}`, n), 200},
			{"comment", "POST", "/v1/tickets/" + id + "/comment", `{"body":"seen"}`, 200},
			{"queue", "GET", "/v1/queues?tenant=" + tenant + "&min_seq=" + seq, "", 200},
			{"queue", "GET", "/v1/sla/board?status=breached&tenant=" + tenant, "", 200},
			{"report", "GET", "/v1/reports/summary?tenant=" + tenant, "", 200},
			{"report", "GET", "/v1/reports/trends?tenant=" + tenant, "", 200},
			{"config.read", "GET", "/v1/tenants/" + tenant + "/config", "", 200},
			{"config.write", "PUT", "/v1/tenants/" + tenant + "/config", configBody(tenant), 200},
			{"token.manage", "POST", "/v1/tokens", fmt.Sprintf(`{"name":"t%d","role":"agent","tenants":[%q]}`, n, tenant), 201},
		}
	}
	n := 0
	for name, tok := range principals {
		for _, tenant := range []string{"acme", "globex"} {
			for _, e := range endpoints(tenant, n) {
				n++
				want := e.ok
				switch {
				case !contains(allowed[name], e.op):
					want = http.StatusForbidden
				case tenant == "globex" && name != "admin":
					want = http.StatusNotFound
				}
				before := c.lastSeqs()
				r := c.doAs(tok, e.method, e.path, e.body)
				if r.status != want {
					t.Errorf("%s %s %s: %d %s, want %d", name, e.method, e.path, r.status, r.body, want)
					continue
				}
				switch want {
				case http.StatusForbidden:
					if p := r.problem(t, 403, "forbidden"); !strings.Contains(p["detail"].(string), "role "+roleOf(name)) {
						t.Errorf("%s %s: forbidden problem %v does not name the role", name, e.path, p)
					}
				case http.StatusNotFound:
					r.problem(t, 404, "not-found")
				}
				if want >= 400 && c.lastSeqs() != before {
					t.Errorf("%s %s %s refused with %d but the streams moved %v → %v", name, e.method, e.path, want, before, c.lastSeqs())
				}
			}
		}
		// No tenant= and one tenant held: the endpoint reads that tenant.
		if contains(allowed[name], "queue") && name == "bob" {
			if r := c.doAs(tok, "GET", "/v1/queues", ""); r.status != http.StatusOK {
				t.Errorf("bob's queue without tenant=: %d %s", r.status, r.body)
			}
		}
		if r := c.doAs(tok, "GET", "/v1/contracts", ""); r.status != http.StatusOK { // every role, whatever its tenants
			t.Errorf("%s GET /v1/contracts: %d %s", name, r.status, r.body)
		}
		if r := c.doAs(tok, "GET", "/v1/tokens", ""); (r.status == 200) != contains(allowed[name], "token.read") {
			t.Errorf("%s GET /v1/tokens: %d", name, r.status)
		}
		if r := c.doAs(tok, "DELETE", "/v1/tokens/nope", ""); r.status != map[bool]int{true: 404, false: 403}[contains(allowed[name], "token.manage")] {
			t.Errorf("%s DELETE /v1/tokens/nope: %d", name, r.status)
		}
	}
	// A tenant-scoped admin neither sees nor revokes a principal outside its scope.
	var list struct{ Tokens []access.Principal }
	c.doAs(principals["ops"], "GET", "/v1/tokens", "").json(t, &list)
	for _, p := range list.Tokens {
		if !slicesEqual(p.Tenants, []string{"acme"}) {
			t.Errorf("ops lists %+v, outside its scope", p)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func slicesEqual(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func roleOf(name string) string {
	return map[string]string{"admin": "admin", "ops": "admin", "bob": "agent", "nagios": "integration", "kim": "auditor"}[name]
}

// TestPrincipalIsTheActor: events record the principal as <role>:<name>.
func TestPrincipalIsTheActor(t *testing.T) {
	c := startWith(t, app.RunConfig{Services: []string{}})
	bob := c.grant("bob", "agent", "acme")
	if bob.GrantedBy != "admin:admin" || bob.Role != access.RoleAgent || bob.CreatedAt.IsZero() {
		t.Fatalf("granted %+v", bob)
	}
	r := c.doAs(bob.Token, "POST", "/v1/tickets", openBody)
	var tk ticket
	r.json(t, &tk)
	c.doAs(bob.Token, "POST", "/v1/tickets/"+tk.ID+"/comment", `{"body":"on it"}`)
	c.do("POST", "/v1/tickets/"+tk.ID+"/assign", `{"agent":"ann"}`)
	var evs []events.Structured
	c.do("GET", "/v1/tickets/"+tk.ID+"/events", "").json(t, &evs)
	var actors []string
	for _, e := range evs {
		actors = append(actors, e.Actor)
	}
	if got := strings.Join(actors, " "); got != "agent:bob agent:bob admin:admin" {
		t.Fatalf("actors %q, want agent:bob agent:bob admin:admin", got)
	}
	c.do("PUT", "/v1/tenants/acme/config", configBody("acme"))
	var v events.ConfigVersion
	c.do("GET", "/v1/tenants/acme/config", "").json(t, &v)
	if v.Actor != "admin:admin" {
		t.Errorf("config applied by %q, want admin:admin", v.Actor)
	}
}

// TestRevocation: a revoked token answers 401 at once on this replica and within a
// second on another registry following the same stream; its secret is stored nowhere.
func TestRevocation(t *testing.T) {
	c := startWith(t, app.RunConfig{Services: []string{}})
	other, err := access.NewRegistry(context.Background(), c.sys.Store, token)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	bob := c.grant("bob", "agent", "acme")
	eventstest.CheckFor(t, time.Second, 10*time.Millisecond, func() error {
		if _, ok := other.Authenticate(bob.Token); !ok {
			return fmt.Errorf("the other registry does not know bob yet")
		}
		return nil
	})
	if r := c.doAs(bob.Token, "GET", "/v1/tickets/nope", ""); r.status != http.StatusNotFound {
		t.Fatalf("bob before revocation: %d %s, want 404 (authenticated)", r.status, r.body)
	}
	r := c.do("GET", "/v1/tokens", "")
	if r.status != 200 || strings.Contains(string(r.body), bob.Token) || !strings.Contains(string(r.body), bob.ID) {
		t.Fatalf("GET /v1/tokens: %d %s: want bob listed without his secret", r.status, r.body)
	}
	c.revoke(bob, other)
	c.do("DELETE", "/v1/tokens/"+bob.ID, "").problem(t, 404, "not-found")
	if c.sys.AuthFailures() == 0 {
		t.Error("the refused revoked token was not counted as a failed authentication")
	}

	// ACCESS holds the grant with the token's hash and the revocation, never the token.
	stream, err := c.sys.Store.JetStream().Stream(context.Background(), events.AccessStreamName)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(bob.Token))
	var stored []string
	for seq := uint64(1); ; seq++ {
		m, err := stream.GetMsg(context.Background(), seq)
		if err == jetstream.ErrMsgNotFound {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, fmt.Sprint(m.Header)+string(m.Data))
	}
	all := strings.Join(stored, "\n")
	if len(stored) != 2 || strings.Contains(all, bob.Token) || !strings.Contains(all, hex.EncodeToString(sum[:])) ||
		!strings.Contains(all, events.TypeAccessRevoked) {
		t.Fatalf("ACCESS holds %d messages:\n%s\nwant the grant with the token's hash and the revocation, not the token", len(stored), all)
	}
}

func TestTokenRequestValidation(t *testing.T) {
	c := startWith(t, app.RunConfig{Services: []string{}})
	before := c.lastSeqs()
	for body, field := range map[string]string{
		`{"name":"","role":"agent","tenants":["acme"]}`:          "name",
		`{"name":"bob smith","role":"agent","tenants":["acme"]}`: "name",
		`{"name":"admin","role":"agent","tenants":["acme"]}`:     "name",
		`{"name":"bob","role":"root","tenants":["acme"]}`:        "role",
		`{"name":"bob","role":"agent","tenants":[]}`:             "tenants",
		`{"name":"bob","role":"agent"}`:                          "tenants",
		`{"name":"bob","role":"agent","tenants":["*","acme"]}`:   "tenants[0]",
		`{"name":"bob","role":"agent","tenants":["ac.me"]}`:      "tenants[0]",
		`{"name":"bob","role":"agent","tenants":["acme"],"x":1}`: "x",
	} {
		if p := c.do("POST", "/v1/tokens", body).problem(t, 400, "validation"); p["field"] != field {
			t.Errorf("%s: problem %v, want field %s", body, p, field)
		}
	}
	c.do("POST", "/v1/tokens", `{"name":`).problem(t, 400, "malformed-json")
	if after := c.lastSeqs(); after != before {
		t.Fatalf("refused grants moved the streams %v → %v", before, after)
	}
	c.grant("bob", "agent", "acme")
	c.do("POST", "/v1/tokens", `{"name":"bob","role":"auditor","tenants":["*"]}`).problem(t, 409, "conflict")
}

func TestRateLimit(t *testing.T) {
	c := startWith(t, app.RunConfig{Services: []string{}, RateLimit: 1, RateBurst: 3})
	bob := c.grant("bob", "agent", "acme").Token
	var last response
	for range 4 {
		last = c.do("GET", "/v1/tokens", "")
	}
	last.problem(t, 429, "rate-limited")
	if ra, err := strconv.Atoi(last.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q, want whole seconds", last.header.Get("Retry-After"))
	}
	// The bucket is per principal: another one is not held back.
	if r := c.doAs(bob, "GET", "/v1/tickets/nope", ""); r.status != http.StatusNotFound {
		t.Fatalf("bob after the admin's burst: %d %s, want 404 (not throttled)", r.status, r.body)
	}
}

// Every problem of a grant request is listed, the first one in field.
func TestTokenRequestListsEveryProblem(t *testing.T) {
	c := startWith(t, app.RunConfig{Services: []string{}})
	r := c.do("POST", "/v1/tokens", `{"name":"","role":"root","tenants":[]}`)
	var p struct {
		Field  string                   `json:"field"`
		Errors []struct{ Field string } `json:"errors"`
	}
	r.problem(t, 400, "validation")
	r.json(t, &p)
	if p.Field != "name" || len(p.Errors) != 3 || p.Errors[1].Field != "role" || p.Errors[2].Field != "tenants" {
		t.Fatalf("problem %s, want name, role and tenants listed", r.body)
	}
}

// TestJunkInAccessStopsNoRevocation: a message on ACCESS that is no grant or revocation
// (published with the admin credentials) neither stops the registries following the
// stream nor keeps a new one from starting; a revocation after it takes effect.
func TestJunkInAccessStopsNoRevocation(t *testing.T) {
	c := startWith(t, app.RunConfig{Services: []string{}})
	bob := c.grant("bob", "agent", "acme")
	if _, err := c.adminJetStream().Publish(context.Background(), "access.junk", []byte("not a grant")); err != nil {
		t.Fatal(err)
	}
	later, err := access.NewRegistry(context.Background(), c.sys.Store, token)
	if err != nil {
		t.Fatalf("a registry starting after the junk: %v", err)
	}
	defer later.Close()
	if _, ok := later.Authenticate(bob.Token); !ok {
		t.Fatal("the registry started after the junk does not know bob")
	}
	c.revoke(bob, later)
}

// revoke revokes g's token and checks that it answers 401 at once here and is refused by
// other (a registry following the same stream) within a second.
func (c *client) revoke(g access.Granted, other *access.Registry) {
	c.t.Helper()
	if r := c.do("DELETE", "/v1/tokens/"+g.ID, ""); r.status != http.StatusNoContent {
		c.t.Fatalf("revoke %s: %d %s", g.ID, r.status, r.body)
	}
	c.doAs(g.Token, "GET", "/v1/tickets/nope", "").problem(c.t, 401, "unauthorized")
	eventstest.CheckFor(c.t, time.Second, 10*time.Millisecond, func() error {
		if _, ok := other.Authenticate(g.Token); ok {
			return fmt.Errorf("the other registry still lets %s in", g.Name)
		}
		return nil
	})
}

// TestFailedAuthenticationsAreLimited: a flood of bad tokens from one address is answered
// 429 once past the burst (and stops being logged line by line); a valid token from the
// same address is not held back, and every failure is still counted.
func TestFailedAuthenticationsAreLimited(t *testing.T) {
	c := startWith(t, app.RunConfig{Services: []string{}})
	statuses := map[int]int{}
	for i := range 40 {
		r := c.doAs(fmt.Sprintf("ldk_guess-%d", i), "GET", "/v1/tickets/nope", "")
		statuses[r.status]++
		if r.status == http.StatusTooManyRequests {
			r.problem(t, 429, "rate-limited")
		}
	}
	if statuses[http.StatusUnauthorized] < 20 || statuses[http.StatusTooManyRequests] == 0 ||
		statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != 40 {
		t.Fatalf("40 guesses answered %v, want 401 for the burst of 20, then 429", statuses)
	}
	if r := c.do("GET", "/v1/tickets/nope", ""); r.status != http.StatusNotFound {
		t.Fatalf("the admin token from the same address: %d %s, want 404 (authenticated)", r.status, r.body)
	}
	if n := c.sys.AuthFailures(); n != 40 {
		t.Errorf("%d failed authentications counted, want 40", n)
	}
}
