// Package access is the HTTP trust boundary: who a caller is and what it may do.
//
// Every caller of the /v1/ API is a Principal with a role (admin, agent, integration,
// auditor) and a set of tenants, identified by a bearer token. Grants and revocations are
// events in the ACCESS stream (events.Store.GrantAccess); a Registry follows that stream on
// every replica, so a revocation takes effect everywhere within a second, and looks tokens
// up by their SHA-256 hash. The generated admin token is the bootstrap principal
// admin:admin.
//
// Enforcement has two layers, both here: Guard.Authenticate (401, per-principal rate
// limit 429) wraps the whole API once, and Require(op, handler) wraps every route where it
// is registered with the one operation it performs, checked against the policy table in
// policy.go (403). Tenant scope (another tenant's data answers 404) is checked by the
// handlers with From(ctx).Allows(tenant) before anything is appended.
package access
