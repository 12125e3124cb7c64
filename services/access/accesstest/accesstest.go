// Package accesstest has helpers for tests of handlers behind the access guard.
package accesstest

import (
	"net/http"

	"github.com/ledgerdesk/ledgerdesk/services/access"
)

// Admin is an admin principal of every tenant named test-admin (actor admin:test-admin).
var Admin = access.Principal{ID: "test-admin", Name: "test-admin", Role: access.RoleAdmin, Tenants: []string{access.AllTenants}}

// As serves h as principal p had authenticated: the handler under test sees p as its
// caller, without a registry.
func As(p access.Principal, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), p)))
	})
}
