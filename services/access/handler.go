package access

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// Handler serves /v1/tokens: grant (POST), list (GET) and revoke (DELETE /v1/tokens/{id}).
// Authentication is Guard's concern; every route declares its operation.
type Handler struct {
	reg    *Registry
	log    *zap.Logger
	routes *httpx.Routes
}

// Granted is the answer to a grant: the principal and its token, shown only here.
type Granted struct {
	Principal
	Token string `json:"token"`
}

// NewHandler refuses missing dependencies.
func NewHandler(reg *Registry, log *zap.Logger) (*Handler, error) {
	if reg == nil || log == nil {
		return nil, errors.New("access: handler needs a registry and a logger")
	}
	h := &Handler{reg: reg, log: log, routes: httpx.NewRoutes()}
	Handle(h.routes, OpTokenManage, httpx.Route{Method: "POST", Path: "/v1/tokens", ID: "grantToken",
		Summary: "Grant a principal a token (shown once), with a role and tenants within the granter's", Request: Request{},
		Status: http.StatusCreated, Response: Granted{}}, h.grant)
	Handle(h.routes, OpTokenRead, httpx.Route{Method: "GET", Path: "/v1/tokens", ID: "listTokens",
		Summary: "The active principals within the caller's scope", Response: []Principal{}}, h.list)
	Handle(h.routes, OpTokenManage, httpx.Route{Method: "DELETE", Path: "/v1/tokens/{id}", ID: "revokeToken",
		Summary: "Revoke a principal's token", Status: http.StatusNoContent}, h.revoke)
	return h, nil
}

// Routes are the token API's routes.
func (h *Handler) Routes() *httpx.Routes { return h.routes }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.routes.ServeHTTP(w, r) }

func (h *Handler) grant(w http.ResponseWriter, r *http.Request) {
	var q Request
	if err := httpx.DecodeJSON(w, r, &q, false); err != nil {
		httpx.Fail(w, r, h.log, err)
		return
	}
	p, token, err := h.reg.Grant(r.Context(), From(r.Context()), q)
	if err != nil {
		httpx.Fail(w, r, h.log, err)
		return
	}
	httpx.Log(h.log, r).Info("token granted", zap.String("id", p.ID), zap.String("principal", p.Actor()),
		zap.Strings("tenants", p.Tenants), zap.String("by", p.GrantedBy))
	w.Header().Set("Location", "/v1/tokens/"+p.ID)
	httpx.WriteJSON(w, http.StatusCreated, Granted{Principal: p, Token: token})
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string][]Principal{"tokens": h.reg.List(From(r.Context()))})
}

func (h *Handler) revoke(w http.ResponseWriter, r *http.Request) {
	by := From(r.Context())
	if err := h.reg.Revoke(r.Context(), by, r.PathValue("id")); err != nil {
		httpx.Fail(w, r, h.log, err)
		return
	}
	httpx.Log(h.log, r).Info("token revoked", zap.String("id", r.PathValue("id")), zap.String("by", by.Actor()))
	w.WriteHeader(http.StatusNoContent)
}
