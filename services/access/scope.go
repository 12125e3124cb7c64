package access

import (
	"net/http"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// ErrNoTenant answers a tenant outside the caller's scope, exactly as a tenant that does
// not exist: another tenant's existence must not leak.
var ErrNoTenant error = events.NewError(events.KindNotFound, "access: tenant outside the caller's scope", "no such tenant")

// TenantParam returns the request's tenant= for an endpoint that reads one tenant: the
// parameter, or the caller's only tenant when it is absent and the caller holds exactly
// one. A missing or malformed tenant is a validation error, one outside the caller's scope
// ErrNoTenant.
func TenantParam(r *http.Request) (string, error) {
	p := From(r.Context())
	tenant := r.URL.Query().Get("tenant")
	if only, ok := p.Only(); tenant == "" && ok {
		tenant = only
	}
	if !events.ValidToken(tenant) {
		return "", &events.ValidationError{Field: "tenant", Reason: "required: 1-64 letters, digits, '-' or '_'"}
	}
	if !p.Allows(tenant) {
		return "", ErrNoTenant
	}
	return tenant, nil
}
