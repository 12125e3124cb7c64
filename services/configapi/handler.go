package configapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// Handler serves /v1/tenants/{tenant}/config. Authentication is the caller's concern
// (access.Guard); every route declares its operation, a tenant outside the caller's scope
// answers 404, and the caller is the actor of what it applies.
type Handler struct {
	store  *events.Store
	log    *zap.Logger
	routes *httpx.Routes
}

// Redacted stands for a webhook secret in a configuration shown to a non-admin.
const Redacted = "[redacted]"

// NewHandler refuses missing dependencies.
func NewHandler(store *events.Store, log *zap.Logger) (*Handler, error) {
	if store == nil || log == nil {
		return nil, errors.New("configapi: store and logger are required")
	}
	h := &Handler{store: store, log: log, routes: httpx.NewRoutes()}
	access.Handle(h.routes, access.OpConfigWrite, httpx.Route{Method: "PUT", Path: "/v1/tenants/{tenant}/config", ID: "putTenantConfig",
		Summary: "Validate and apply the tenant's configuration document (YAML or JSON; every problem listed)",
		Request: tenantconfig.Document{}, Response: tenantconfig.Document{}}, h.put)
	access.Handle(h.routes, access.OpConfigRead, httpx.Route{Method: "GET", Path: "/v1/tenants/{tenant}/config", ID: "getTenantConfig",
		Summary: "The tenant's current configuration (webhook secrets redacted but for admin)", Response: tenantconfig.Document{}}, h.get)
	return h, nil
}

// Routes are the configuration API's routes.
func (h *Handler) Routes() *httpx.Routes { return h.routes }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.routes.ServeHTTP(w, r) }

// put validates the whole document (JSON or YAML) and stores it as the next version.
func (h *Handler) put(w http.ResponseWriter, r *http.Request) {
	principal := access.From(r.Context())
	if !principal.Allows(r.PathValue("tenant")) {
		httpx.Fail(w, r, h.log, access.ErrNoTenant)
		return
	}
	body, err := httpx.ReadBody(w, r)
	if err != nil {
		httpx.Fail(w, r, h.log, err)
		return
	}
	v, err := Apply(r.Context(), h.store, r.PathValue("tenant"), body, principal.Actor())
	if err != nil {
		httpx.Fail(w, r, h.log, err)
		return
	}
	writeVersion(w, http.StatusOK, v)
}

// Apply parses a configuration document (JSON or YAML), fills its defaults, validates it
// whole and stores it as the tenant's next version. tenant "" means the document's own.
// An invalid document is refused with a 422 problem listing every problem, and nothing
// is stored; an unparsable one with 400.
func Apply(ctx context.Context, store *events.Store, tenant string, body []byte, actor string) (events.ConfigVersion, error) {
	doc, err := tenantconfig.Parse(body)
	if err != nil {
		return events.ConfigVersion{}, problemOf(http.StatusBadRequest, httpx.KindMalformedJSON, "Unparsable configuration",
			"the document cannot be read; nothing was applied", err)
	}
	if tenant == "" {
		tenant = doc.Tenant
	}
	if !events.ValidToken(tenant) {
		return events.ConfigVersion{}, &events.ValidationError{Field: "tenant", Reason: "must be 1-64 letters, digits, '-' or '_'"}
	}
	if doc.Tenant == "" {
		doc.Tenant = tenant
	}
	if doc.Tenant != tenant {
		return events.ConfigVersion{}, &events.ValidationError{Field: "tenant",
			Reason: "the document's tenant " + strconv.Quote(doc.Tenant) + " is not " + strconv.Quote(tenant)}
	}
	doc.SetDefaults()
	if err := doc.Validate(); err != nil {
		return events.ConfigVersion{}, problemOf(http.StatusUnprocessableEntity, httpx.KindInvalidConfig, "Invalid configuration",
			"the document has problems; nothing was applied", err)
	}
	canonical, err := json.Marshal(doc)
	if err != nil {
		return events.ConfigVersion{}, fmt.Errorf("encode configuration: %w", err)
	}
	return store.ApplyConfig(ctx, tenant, canonical, actor)
}

// problemOf is a problem listing every tenantconfig.Problem of err under errors.
func problemOf(status int, kind, title, detail string, err error) *httpx.Problem {
	p := httpx.NewProblem(status, kind, title, detail)
	for _, pr := range tenantconfig.Problems(err) {
		p.Errors = append(p.Errors, httpx.FieldError{Field: pr.Path, Reason: pr.Reason})
	}
	return p
}

// get serves the tenant's current configuration; webhook secrets are shown to admins only.
func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	principal := access.From(r.Context())
	if !principal.Allows(r.PathValue("tenant")) {
		httpx.Fail(w, r, h.log, events.ErrNoConfig)
		return
	}
	v, err := h.store.CurrentConfig(r.Context(), r.PathValue("tenant"))
	if err == nil && principal.Role != access.RoleAdmin {
		v.Document, err = redact(v.Document)
	}
	if err != nil {
		httpx.Fail(w, r, h.log, err)
		return
	}
	writeVersion(w, http.StatusOK, v)
}

// redact replaces every webhook secret of a stored document with Redacted. Stored
// documents are json.Marshal of a Document, so the re-encoding keeps their form.
func redact(stored json.RawMessage) (json.RawMessage, error) {
	var doc tenantconfig.Document
	if err := json.Unmarshal(stored, &doc); err != nil {
		return nil, fmt.Errorf("redact configuration: %w", err)
	}
	for i := range doc.Webhooks {
		doc.Webhooks[i].Secret = Redacted
	}
	return json.Marshal(doc)
}

func writeVersion(w http.ResponseWriter, status int, v events.ConfigVersion) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", strconv.Quote(strconv.FormatUint(v.Version, 10)))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
