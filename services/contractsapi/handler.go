// Package contractsapi serves the published contracts (contracts/) over HTTP, for
// integrators to code against: GET /v1/contracts lists them,
// GET /v1/contracts/events/<type>.schema.json is the JSON Schema (2020-12) of an event
// type's or inbound message type's data, and GET /v1/contracts/asyncapi.json the AsyncAPI 3.0 document of the NATS
// channels, GET /v1/contracts/openapi.json the OpenAPI 3.1 document of the HTTP API
// (OpenAPI makes it from the routes the server registers).
package contractsapi

import (
	"net/http"
	"strings"
	"sync"

	"github.com/ledgerdesk/ledgerdesk/contracts"
	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// Handler serves /v1/contracts; every authenticated role may read them (access.OpContractRead).
type Handler struct{ routes *httpx.Routes }

// NewHandler returns the handler.
func NewHandler() *Handler {
	h := &Handler{routes: httpx.NewRoutes()}
	access.Handle(h.routes, access.OpContractRead, httpx.Route{Method: "GET", Path: "/v1/contracts", ID: "listContracts",
		Summary: "Every event type and inbound message type, with its data schema's path", Response: Index{}}, index)
	access.Handle(h.routes, access.OpContractRead, httpx.Route{Method: "GET", Path: "/v1/contracts/events/{file}", ID: "getSchema",
		Summary: "The JSON Schema (2020-12) of a type's data", ResponseType: "application/schema+json",
		PathParams: []httpx.Param{{Name: "file", Description: "<type>.schema.json, a type GET /v1/contracts lists"}}}, eventSchema)
	access.Handle(h.routes, access.OpContractRead, httpx.Route{Method: "GET", Path: contracts.AsyncAPIPath, ID: "getAsyncAPI",
		Summary: "The AsyncAPI 3.0 document of the NATS channels"}, asyncAPI)
	access.Handle(h.routes, access.OpContractRead, httpx.Route{Method: "GET", Path: contracts.OpenAPIPath, ID: "getOpenAPI",
		Summary: "This OpenAPI 3.1 document of the HTTP API"}, openAPI)
	return h
}

// Routes are the contracts API's routes.
func (h *Handler) Routes() *httpx.Routes { return h.routes }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.routes.ServeHTTP(w, r) }

// EventType is one entry of the index.
type EventType struct {
	Type    string `json:"type"`
	Command string `json:"command,omitempty"` // the command that requests it; none for a derived type
	Derived bool   `json:"derived"`           // appended only by a service, as the effect of another event
	Schema  string `json:"schema"`            // the path of its data's JSON Schema
}

// InboundType is one inbound message type of the index: what integrations publish.
type InboundType struct {
	Type   string `json:"type"`
	Does   string `json:"does"`   // what the message asks for
	Schema string `json:"schema"` // the path of its data's JSON Schema
}

// Index is GET /v1/contracts.
type Index struct {
	AsyncAPI string        `json:"asyncapi"` // the path of the AsyncAPI document
	OpenAPI  string        `json:"openapi"`  // the path of the OpenAPI document
	Events   []EventType   `json:"events"`
	Inbound  []InboundType `json:"inbound"`
}

func index(w http.ResponseWriter, _ *http.Request) {
	out := Index{AsyncAPI: contracts.AsyncAPIPath, OpenAPI: contracts.OpenAPIPath}
	for _, t := range events.PayloadTypes() {
		out.Events = append(out.Events, EventType{Type: t.EventType, Command: t.Command, Derived: t.Command == "",
			Schema: contracts.SchemaPath(t.EventType)})
	}
	for _, t := range events.InboundTypes() {
		out.Inbound = append(out.Inbound, InboundType{Type: t.Type, Does: t.Does, Schema: contracts.SchemaPath(t.Type)})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// asyncAPIDoc is the AsyncAPI document, made once: it is a function of the build.
var asyncAPIDoc = sync.OnceValues(contracts.AsyncAPI)

func asyncAPI(w http.ResponseWriter, _ *http.Request) {
	doc, err := asyncAPIDoc()
	if err != nil {
		httpx.WriteProblem(w, httpx.ProblemFor(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc)
}

func openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(contracts.OpenAPI())
}

func eventSchema(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	eventType, ok := strings.CutSuffix(file, ".schema.json")
	schema, known := contracts.EventSchema(eventType)
	if !ok || !known {
		httpx.WriteProblem(w, httpx.NewProblem(http.StatusNotFound, httpx.KindNotFound, "Not found",
			file+" is not the schema of a registered event or inbound message type; GET /v1/contracts lists them"))
		return
	}
	w.Header().Set("Content-Type", "application/schema+json")
	_, _ = w.Write(schema)
}
