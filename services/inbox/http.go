package inbox

import (
	"errors"
	"net/http"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// StatusFailed is the status of a message over HTTP that got no outcome (the store
// unavailable): nothing is recorded for it; send it again, the same ce-id, which is safe.
const StatusFailed = "failed"

// Handler serves POST /v1/events, GET /v1/events/outcome and the alert webhooks
// POST /v1/integrations/alertmanager and /v1/integrations/grafana.
type Handler struct {
	p      *Processor
	log    *zap.Logger
	routes *httpx.Routes
}

// NewHandler returns the HTTP door of p.
func NewHandler(p *Processor, log *zap.Logger) *Handler {
	h := &Handler{p: p, log: log, routes: httpx.NewRoutes()}
	rs := h.routes
	tenant := httpx.Param{Name: "tenant", Description: "the tenant (default: the token's one tenant)"}
	access.Handle(rs, access.OpEventPublish, httpx.Route{Method: "POST", Path: "/v1/events", ID: "publishEvents",
		Summary: "One CloudEvent (binary or structured mode) or a batch (application/cloudevents-batch+json) of inbound messages; the outcome of each",
		Query:   []httpx.Param{tenant}, Request: Envelope{}, RequestType: event.ApplicationCloudEventsJSON, Response: Outcome{}}, h.publish)
	access.Handle(rs, access.OpOutcomeRead, httpx.Route{Method: "GET", Path: "/v1/events/outcome", ID: "getOutcome",
		Summary: "The outcome of an inbound message: its first acceptance, else its latest rejection", Response: Outcome{},
		Query: []httpx.Param{{Name: "source", Required: true, Description: "its ce-source"}, {Name: "id", Required: true, Description: "its ce-id"},
			tenant, {Name: "integration", Description: "the integration that sent it (default: the caller's name)"}}}, h.outcome)
	for _, hook := range []webhook{alertmanagerHook, grafanaHook} {
		access.Handle(rs, access.OpEventPublish, httpx.Route{Method: "POST", Path: "/v1/integrations/" + hook.source, ID: hook.source + "Webhook",
			Summary: hook.summary, Query: []httpx.Param{tenant}, Request: notification{}, Response: Outcomes{}}, h.receive(hook))
	}
	return h
}

// Envelope stands for a structured-mode CloudEvent in the OpenAPI document: its data is
// one of the inbound message types' (GET /v1/contracts).
type Envelope struct {
	SpecVersion     string         `json:"specversion"`
	ID              string         `json:"id"`
	Source          string         `json:"source"`
	Type            string         `json:"type"`
	Time            string         `json:"time,omitempty"`
	DataContentType string         `json:"datacontenttype,omitempty"`
	Tenant          string         `json:"tenant,omitempty"`
	Data            map[string]any `json:"data"`
}

// Outcomes is an alert webhook's answer: one outcome per alert, in order.
type Outcomes struct {
	Outcomes []Outcome `json:"outcomes"`
}

// Routes are the inbox's routes.
func (h *Handler) Routes() *httpx.Routes { return h.routes }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.routes.ServeHTTP(w, r) }

// integrationOf is the integration a principal sends as: its name, as one subject token.
func integrationOf(p access.Principal) string { return strings.ReplaceAll(p.Name, ".", "_") }

// publish takes one CloudEvent (binary or structured mode) or a batch
// (application/cloudevents-batch+json) and answers with the outcome of each: one outcome
// with the status of its problem when rejected, or an array (200) for a batch. Each
// event's tenant is its ce-tenant extension, else the tenant query parameter, else the
// caller's one tenant.
func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxMessage)
	principal := access.From(r.Context())
	batch := strings.HasPrefix(r.Header.Get("Content-Type"), event.ApplicationCloudEventsBatchJSON)
	var evs []event.Event
	var err error
	if batch {
		evs, err = cehttp.NewEventsFromHTTPRequest(r)
	} else {
		var e *event.Event
		if e, err = cehttp.NewEventFromHTTPRequest(r); err == nil {
			evs = []event.Event{*e}
		}
	}
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			httpx.Fail(w, r, h.log, err)
			return
		}
		httpx.WriteProblem(w, httpx.NewProblem(http.StatusBadRequest, httpx.KindMalformedEvent, "Malformed CloudEvent",
			"the body is no CloudEvent in binary, structured or batch mode: "+err.Error()))
		return
	}
	if batch && len(evs) > BatchSize {
		httpx.WriteProblem(w, httpx.NewProblem(http.StatusRequestEntityTooLarge, httpx.KindBodyTooLarge, "Batch too large",
			"a batch holds at most 256 events"))
		return
	}
	defaultTenant := r.URL.Query().Get("tenant")
	if defaultTenant == "" {
		defaultTenant, _ = principal.Only()
	}
	outcomes := make([]Outcome, len(evs))
	var msgs []Message
	var at []int
	for i := range evs {
		e := &evs[i]
		tenant, _ := e.Extensions()[tenantExtension].(string)
		if tenant == "" {
			tenant = defaultTenant
		}
		if tenant == "" || !principal.Allows(tenant) {
			// Never recorded: an outcome under another tenant's subject is that tenant's.
			pr := httpx.ProblemFor(access.ErrNoTenant)
			if tenant == "" {
				pr = httpx.NewProblem(http.StatusBadRequest, httpx.KindValidation, "Tenant required",
					"name the tenant: a ce-tenant extension attribute or the tenant query parameter")
			}
			outcomes[i] = Outcome{ID: e.ID(), Source: e.Source(), Type: e.Type(), Tenant: tenant, Status: StatusRejected, Problem: pr}
			continue
		}
		msgs = append(msgs, Message{Tenant: tenant, Integration: integrationOf(principal), Actor: principal.Actor(), Event: e})
		at = append(at, i)
	}
	for j, res := range h.p.Handle(r.Context(), msgs, nil) {
		if res.Err != nil {
			httpx.Log(h.log, r).Warn("inbox: http message not answered", zap.String("ce_id", msgs[j].Event.ID()), zap.Error(res.Err))
			res.Outcome = failed(msgs[j])
		}
		outcomes[at[j]] = res.Outcome
	}
	if batch {
		httpx.WriteJSON(w, http.StatusOK, outcomes)
		return
	}
	status := http.StatusOK
	if pr := outcomes[0].Problem; pr != nil {
		status = pr.Status
	}
	httpx.WriteJSON(w, status, outcomes[0])
}

// failed is the answer to a message that could not be applied now.
func failed(m Message) Outcome {
	e := m.Event
	return Outcome{ID: e.ID(), Source: e.Source(), Type: e.Type(), Tenant: m.Tenant, Integration: m.Integration, Status: StatusFailed,
		Problem: httpx.NewProblem(http.StatusServiceUnavailable, httpx.KindUnavailable, "Not answered",
			"the message could not be applied now; send it again with the same ce-id (what was applied is not applied twice)")}
}

// outcome is GET /v1/events/outcome?source=S&id=I[&tenant=T][&integration=N]: the first
// accepted outcome of the message, else its latest rejection. tenant defaults to the
// caller's one tenant, integration to the caller's name.
func (h *Handler) outcome(w http.ResponseWriter, r *http.Request) {
	principal := access.From(r.Context())
	tenant, err := access.TenantParam(r)
	if err != nil {
		httpx.Fail(w, r, h.log, err)
		return
	}
	q := r.URL.Query()
	integration, source, id := q.Get("integration"), q.Get("source"), q.Get("id")
	if integration == "" {
		integration = integrationOf(principal)
	}
	var missing []string
	for _, p := range []struct{ name, v string }{{"source", source}, {"id", id}} {
		if p.v == "" {
			missing = append(missing, p.name)
		}
	}
	if len(missing) > 0 {
		httpx.WriteProblem(w, httpx.NewProblem(http.StatusBadRequest, httpx.KindValidation, "Missing parameters",
			"give "+strings.Join(missing, " and ")))
		return
	}
	notFound := httpx.NewProblem(http.StatusNotFound, httpx.KindNotFound, "Not found",
		"no outcome of a message with that id and source from "+integration+" for "+tenant)
	if !subjectToken(integration) {
		httpx.WriteProblem(w, notFound)
		return
	}
	o, err := h.p.outcomes.lookup(r.Context(), tenant, integration, source, id)
	if err != nil {
		httpx.Fail(w, r, h.log, err)
		return
	}
	if o == nil {
		httpx.WriteProblem(w, notFound)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, o)
}
