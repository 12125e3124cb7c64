package app_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/contracts"
	"github.com/ledgerdesk/ledgerdesk/services/contractsapi"
)

var writeOpenAPI = flag.Bool("write-openapi", false, "write contracts/openapi.json from the routes the server registers")

// TestOpenAPIIsTheRoutes: the published OpenAPI document (contracts/openapi.json, served
// at /v1/contracts/openapi.json) is the one made of every route the server registers, and
// every path and method in it is served by its route, not by the catch-all not-found.
func TestOpenAPIIsTheRoutes(t *testing.T) {
	c := startSystem(t)
	want, err := contractsapi.OpenAPI(c.sys.Routes())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("..", "..", "contracts", "openapi.json")
	if *writeOpenAPI {
		if err := os.WriteFile(file, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("contracts/openapi.json is not the document of the routes the server registers: "+
			"write it with go test ./app -run TestOpenAPIIsTheRoutes -write-openapi (in services/)\nthe routes give:\n%s", want)
	}
	if r := c.do("GET", contracts.OpenAPIPath, ""); r.status != 200 || !bytes.Equal(r.body, contracts.OpenAPI()) || !bytes.Equal(r.body, got) && !*writeOpenAPI {
		t.Errorf("GET %s: %d, %d bytes; want the published document", contracts.OpenAPIPath, r.status, len(r.body))
	}

	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(want, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || len(doc.Paths) < 20 {
		t.Fatalf("openapi %q with %d paths", doc.OpenAPI, len(doc.Paths))
	}
	// notRouted reports whether the catch-all answered: no route matched.
	notRouted := func(r response) bool {
		return r.status == 405 || r.status == 404 && strings.Contains(string(r.body), `"no route for `)
	}
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	samples := map[string]string{"{tenant}": "acme", "{file}": "ledgerdesk.ticket.opened.v1.schema.json", "{command}": "assign"}
	for path, methods := range doc.Paths {
		concrete := param.ReplaceAllStringFunc(path, func(p string) string {
			if s, ok := samples[p]; ok {
				return s
			}
			return "x"
		})
		for method := range methods {
			if r := c.do(strings.ToUpper(method), concrete, "{}"); notRouted(r) {
				t.Errorf("%s %s (documented as %s) is not served: %d %s", strings.ToUpper(method), concrete, path, r.status, r.body)
			}
		}
	}
	if r := c.do("GET", "/v1/undocumented", ""); !notRouted(r) {
		t.Errorf("the catch-all check cannot fail: GET /v1/undocumented answered %d %s", r.status, r.body)
	}
}
