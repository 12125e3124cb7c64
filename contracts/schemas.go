package contracts

import (
	"embed"
	"strings"
)

// The published JSON Schemas (2020-12) of the event types' data, one file a type under
// schemas/, generated from the registry (events.PayloadTypes) by schemagen.Reflect and
// written once: a released type's schema never changes (TestSchemasAreTheRegistrys), a new
// shape is a new type version.
//
//go:embed schemas
var schemaFiles embed.FS

// OpenAPIPath is where the HTTP API serves its OpenAPI document.
const OpenAPIPath = "/v1/contracts/openapi.json"

// The OpenAPI 3.1 document of the HTTP API, generated from the routes the server registers
// (services/contractsapi.OpenAPI; services/app's test checks it is current: every route
// documented, every documented path served).
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI document.
func OpenAPI() []byte { return openAPIDoc }

// SchemaPath is where the HTTP API serves an event type's data schema, also its $id.
func SchemaPath(eventType string) string { return "/v1/contracts/events/" + eventType + ".schema.json" }

// EventSchema returns the published schema of an event type's data; false for a type that
// is not registered.
func EventSchema(eventType string) ([]byte, bool) {
	if strings.Contains(eventType, "/") {
		return nil, false
	}
	b, err := schemaFiles.ReadFile("schemas/" + eventType + ".schema.json") // refuses "..", so nothing else is read
	return b, err == nil
}
