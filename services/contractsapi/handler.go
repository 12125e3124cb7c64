// Package contractsapi serves the published contracts (contracts/) over HTTP, for
// integrators to code against: GET /v1/contracts lists them, and
// GET /v1/contracts/events/<type>.schema.json is the JSON Schema (2020-12) of an event
// type's data.
package contractsapi

import (
	"net/http"
	"strings"

	"github.com/ledgerdesk/ledgerdesk/contracts"
	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// Handler serves /v1/contracts; every authenticated role may read them (access.OpContractRead).
type Handler struct{ mux *http.ServeMux }

// NewHandler returns the handler.
func NewHandler() *Handler {
	h := &Handler{mux: http.NewServeMux()}
	h.mux.Handle("GET /v1/contracts", access.RequireFunc(access.OpContractRead, index))
	h.mux.Handle("GET /v1/contracts/events/{file}", access.RequireFunc(access.OpContractRead, eventSchema))
	h.mux.HandleFunc("/", httpx.NotFound)
	return h
}

// Mount registers the handler's routes on mux.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle("/v1/contracts", h)
	mux.Handle("/v1/contracts/", h)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// EventType is one entry of the index.
type EventType struct {
	Type    string `json:"type"`
	Command string `json:"command,omitempty"` // the command that requests it; none for a derived type
	Derived bool   `json:"derived"`           // appended only by a service, as the effect of another event
	Schema  string `json:"schema"`            // the path of its data's JSON Schema
}

// Index is GET /v1/contracts.
type Index struct {
	Events []EventType `json:"events"`
}

func index(w http.ResponseWriter, _ *http.Request) {
	var out Index
	for _, t := range events.PayloadTypes() {
		out.Events = append(out.Events, EventType{Type: t.EventType, Command: t.Command, Derived: t.Command == "",
			Schema: contracts.SchemaPath(t.EventType)})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func eventSchema(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	eventType, ok := strings.CutSuffix(file, ".schema.json")
	schema, known := contracts.EventSchema(eventType)
	if !ok || !known {
		httpx.WriteProblem(w, httpx.NewProblem(http.StatusNotFound, httpx.KindNotFound, "Not found",
			file+" is not the schema of a registered event type; GET /v1/contracts lists them"))
		return
	}
	w.Header().Set("Content-Type", "application/schema+json")
	_, _ = w.Write(schema)
}
