package configapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/access/accesstest"
	"github.com/ledgerdesk/ledgerdesk/services/configapi"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
	"github.com/ledgerdesk/ledgerdesk/services/reactor/reactortest"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

const valid = `
tenant: acme
sla_policies:
  - id: p1
    match: { priorities: [P1] }
    response: 15m
    resolution: 4h
groups:
  - id: desk
    tier: 1
    agents: [{ id: ann }]
default_group: desk
`

// invalid has three problems: a response that is no duration, an unknown group, and an
// escalation rule without actions.
const invalid = `
tenant: acme
sla_policies:
  - { id: p1, response: 0s, resolution: 4h }
groups:
  - { id: desk, tier: 1, agents: [{ id: ann }] }
default_group: nowhere
escalation_rules:
  - { id: r1, on: { event: breach } }
`

func setup(t *testing.T) (*httptest.Server, *events.Store) {
	t.Helper()
	env := reactortest.New(t)
	return serve(t, env.Store, accesstest.Admin), env.Store
}

// serve is the configuration API on store as principal p had authenticated.
func serve(t *testing.T, store *events.Store, p access.Principal) *httptest.Server {
	t.Helper()
	h, err := configapi.NewHandler(store, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(accesstest.As(p, h))
	t.Cleanup(srv.Close)
	return srv
}

// Webhook secrets are an admin's to see: an auditor reads the document with them redacted.
func TestWebhookSecretsRedactedForNonAdmins(t *testing.T) {
	admin, store := setup(t)
	auditor := serve(t, store, access.Principal{Name: "kim", Role: access.RoleAuditor, Tenants: []string{"acme"}})
	doc := valid + "webhooks:\n  - { id: w1, url: \"https://hooks.example/acme\", secret: s3cr3t-0123456789abcdef }\n"
	if status, _, body := call(t, admin, http.MethodPut, "acme", "application/yaml", doc); status != http.StatusOK {
		t.Fatalf("PUT: %d %s", status, body)
	}
	_, _, body := call(t, admin, http.MethodGet, "acme", "", "")
	if _, d := version(t, body); len(d.Webhooks) != 1 || d.Webhooks[0].Secret != "s3cr3t-0123456789abcdef" {
		t.Fatalf("admin GET: %s, want the secret", body)
	}
	status, _, body := call(t, auditor, http.MethodGet, "acme", "", "")
	if _, d := version(t, body); status != http.StatusOK || strings.Contains(string(body), "s3cr3t") ||
		len(d.Webhooks) != 1 || d.Webhooks[0].Secret != configapi.Redacted || d.Webhooks[0].URL != "https://hooks.example/acme" {
		t.Fatalf("auditor GET: %d %s, want the webhook with its secret redacted", status, body)
	}
}

func call(t *testing.T, srv *httptest.Server, method, tenant, contentType, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+"/v1/tenants/"+tenant+"/config", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, b
}

func version(t *testing.T, body []byte) (events.ConfigVersion, tenantconfig.Document) {
	t.Helper()
	var v events.ConfigVersion
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	var doc tenantconfig.Document
	if err := json.Unmarshal(v.Document, &doc); err != nil {
		t.Fatalf("document %s: %v", v.Document, err)
	}
	return v, doc
}

func TestPutAndGet(t *testing.T) {
	srv, _ := setup(t)
	status, h, body := call(t, srv, http.MethodPut, "acme", "application/yaml", valid)
	if v, doc := version(t, body); status != http.StatusOK || v.Version != 1 || v.Actor != "admin:test-admin" || h.Get("ETag") != `"1"` ||
		doc.SLAPolicies[0].Calendar != "24x7" || !slices.Equal(doc.SLAPolicies[0].Warnings, []int{50, 75, 90}) {
		t.Fatalf("first PUT: %d %s %s (want version 1 with the defaults filled in)", status, h.Get("ETag"), body)
	}
	noTenant := strings.Replace(strings.Replace(valid, "response: 15m", "response: 10m", 1), "tenant: acme", "", 1) // the path's tenant
	status, _, body = call(t, srv, http.MethodPut, "acme", "application/yaml", noTenant)
	if v, doc := version(t, body); status != http.StatusOK || v.Version != 2 || doc.Tenant != "acme" {
		t.Fatalf("second PUT: %d %s", status, body)
	}
	status, h, body = call(t, srv, http.MethodGet, "acme", "", "")
	v, doc := version(t, body)
	if status != http.StatusOK || v.Version != 2 || h.Get("ETag") != `"2"` || h.Get("Content-Type") != "application/json" ||
		doc.Tenant != "acme" || doc.SLAPolicies[0].Response != tenantconfig.Duration(10*time.Minute) {
		t.Errorf("GET: %d %s, want version 2 with the 10m response", status, body)
	}

	// JSON is accepted as well; a changed document is a new version, never an overwrite.
	asJSON := `{"tenant":"acme","groups":[{"id":"desk","tier":1,"strategy":"least_loaded","agents":[{"id":"ann"},{"id":"bob"}]}],"default_group":"desk"}`
	status, _, body = call(t, srv, http.MethodPut, "acme", "application/json", asJSON)
	if v, doc := version(t, body); status != http.StatusOK || v.Version != 3 || len(doc.Groups[0].Agents) != 2 || len(doc.SLAPolicies) != 0 {
		t.Fatalf("JSON PUT: %d %s", status, body)
	}
	status, h, body = call(t, srv, http.MethodGet, "acme", "", "")
	if v, doc := version(t, body); status != http.StatusOK || v.Version != 3 || h.Get("ETag") != `"3"` || doc.Groups[0].Strategy != tenantconfig.LeastLoaded {
		t.Errorf("GET after the JSON PUT: %d %s, want version 3", status, body)
	}
}

func problemOf(t *testing.T, h http.Header, body []byte) httpx.Problem {
	t.Helper()
	if ct := h.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q, want application/problem+json", ct)
	}
	var p httpx.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return p
}

// TestInvalidDocumentsChangeNothing: every problem is listed and nothing is applied.
func TestInvalidDocumentsChangeNothing(t *testing.T) {
	srv, store := setup(t)
	if status, _, body := call(t, srv, http.MethodPut, "acme", "application/yaml", valid); status != http.StatusOK {
		t.Fatalf("PUT: %d %s", status, body)
	}

	status, h, body := call(t, srv, http.MethodPut, "acme", "application/yaml", invalid)
	p := problemOf(t, h, body)
	var fields []string
	for _, e := range p.Errors {
		fields = append(fields, e.Field)
	}
	slices.Sort(fields)
	want := []string{"default_group", "escalation_rules[0].actions", "sla_policies[0].response"}
	if status != http.StatusUnprocessableEntity || p.Status != status || p.Type != "urn:ledgerdesk:problem:invalid-config" || !slices.Equal(fields, want) {
		t.Errorf("invalid PUT: %d %s, problems at %v, want 422 invalid-config at %v\n%s", status, p.Type, fields, want, body)
	}
	// GET still answers the version before the refused document.
	status, _, body = call(t, srv, http.MethodGet, "acme", "", "")
	if v, doc := version(t, body); status != http.StatusOK || v.Version != 1 || doc.DefaultGroup != "desk" {
		t.Errorf("GET after the refused PUT: %d %s, want version 1", status, body)
	}

	status, h, body = call(t, srv, http.MethodPut, "acme", "application/yaml", "tenant: acme\ngroups: [{id: desk, tier: one, agentz: []}]\n")
	p = problemOf(t, h, body)
	if status != http.StatusBadRequest || p.Type != "urn:ledgerdesk:problem:malformed-json" || len(p.Errors) != 2 ||
		p.Errors[0].Field != "groups[0].agentz" || p.Errors[1].Field != "groups[0].tier" {
		t.Errorf("unparsable PUT: %d %s, want 400 naming groups[0].agentz and groups[0].tier", status, body)
	}

	status, h, body = call(t, srv, http.MethodPut, "globex", "application/yaml", valid)
	if p := problemOf(t, h, body); status != http.StatusBadRequest || p.Field != "tenant" || !strings.Contains(p.Detail, `"acme" is not "globex"`) {
		t.Errorf("PUT of acme's document to globex: %d %s", status, body)
	}
	status, h, body = call(t, srv, http.MethodPut, "acme", "application/yaml", "")
	if p := problemOf(t, h, body); status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Reason != "the document is empty" {
		t.Errorf("empty PUT: %d %s", status, body)
	}

	if v, err := store.CurrentConfig(context.Background(), "acme"); err != nil || v.Version != 1 {
		t.Errorf("after the refused documents acme is at version %d (%v), want 1", v.Version, err)
	}
	if _, err := store.CurrentConfig(context.Background(), "globex"); err == nil {
		t.Error("globex got a configuration")
	}
	status, h, body = call(t, srv, http.MethodGet, "globex", "", "")
	if problemOf(t, h, body); status != http.StatusNotFound {
		t.Errorf("GET of a tenant without configuration: %d %s", status, body)
	}
	status, h, body = call(t, srv, http.MethodDelete, "acme", "", "")
	if problemOf(t, h, body); status != http.StatusNotFound {
		t.Errorf("DELETE of a configuration: %d %s, want a not-found problem", status, body)
	}
}

// TestSeed applies the demo documents to an empty store, and nothing the second time.
func TestSeed(t *testing.T) {
	_, store := setup(t)
	ctx := context.Background()
	seeded, err := configapi.Seed(ctx, store, "../../deploy/demo-config", "seed")
	if err != nil || !slices.Equal(seeded, []string{"acme", "globex", "initech"}) {
		t.Fatalf("seeded %v, %v", seeded, err)
	}
	again, err := configapi.Seed(ctx, store, "../../deploy/demo-config", "seed")
	if err != nil || len(again) != 0 {
		t.Errorf("second seed: %v, %v; want nothing", again, err)
	}
	if v, err := store.CurrentConfig(ctx, "initech"); err != nil || v.Version != 1 || v.Actor != "seed" {
		t.Errorf("initech: %+v, %v", v, err)
	}
}
