package access

import (
	"context"
	"slices"
	"time"
)

// Role is what a principal is allowed to do (see policy.go). NB: API and persisted
// values; never rename.
type Role string

// Roles.
const (
	RoleAdmin       Role = "admin"
	RoleAgent       Role = "agent"
	RoleIntegration Role = "integration"
	RoleAuditor     Role = "auditor"
)

// AllTenants is the tenant list of a principal that may see every tenant: exactly ["*"].
const AllTenants = "*"

// Principal is an API caller: a token holder with a role and a tenant scope.
type Principal struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Tenants   []string  `json:"tenants"` // tenant tokens, or exactly ["*"]
	CreatedAt time.Time `json:"created_at"`
	GrantedBy string    `json:"granted_by"` // the actor who granted it
}

// Bootstrap is the principal of the generated admin token (<data>/admin.token or
// --admin-token): it exists without a grant, cannot be revoked, and grants the others.
var Bootstrap = Principal{ID: "admin", Name: "admin", Role: RoleAdmin, Tenants: []string{AllTenants}}

// Actor is the ce-actor of every event the principal causes: "<role>:<name>".
func (p Principal) Actor() string { return string(p.Role) + ":" + p.Name }

// All reports whether the principal's scope is every tenant.
func (p Principal) All() bool { return slices.Equal(p.Tenants, []string{AllTenants}) }

// Allows reports whether tenant lies within the principal's scope.
func (p Principal) Allows(tenant string) bool {
	return p.All() || tenant != "" && slices.Contains(p.Tenants, tenant)
}

// Covers reports whether every tenant of tenants lies within the principal's scope: a
// principal may grant no more than it holds.
func (p Principal) Covers(tenants []string) bool {
	if p.All() {
		return true
	}
	if slices.Contains(tenants, AllTenants) {
		return false
	}
	for _, t := range tenants {
		if !p.Allows(t) {
			return false
		}
	}
	return true
}

// Only returns the principal's one tenant when its scope is exactly one tenant: the
// default of a query that takes tenant=.
func (p Principal) Only() (string, bool) {
	if len(p.Tenants) == 1 && !p.All() {
		return p.Tenants[0], true
	}
	return "", false
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p; Guard.Authenticate does this for every request.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the request's principal, or the zero Principal (no role, no tenants: it
// may do nothing and sees nothing) when none was authenticated.
func From(ctx context.Context) Principal {
	p, _ := ctx.Value(ctxKey{}).(Principal)
	return p
}
