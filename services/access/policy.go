package access

import (
	"net/http"
	"slices"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// Operation is what a route does, declared where the route is registered (Require).
type Operation string

// Operations.
const (
	OpTicketOpen    Operation = "ticket.open"    // POST /v1/tickets
	OpTicketCommand Operation = "ticket.command" // POST /v1/tickets/{id}/{command}
	OpTicketComment Operation = "ticket.comment" // POST /v1/tickets/{id}/comment
	OpTicketRead    Operation = "ticket.read"    // GET a ticket, its events, its view
	OpQueueRead     Operation = "queue.read"     // GET /v1/queues, /v1/sla/board
	OpReportRead    Operation = "report.read"    // GET /v1/reports/...
	OpConfigRead    Operation = "config.read"    // GET /v1/tenants/{tenant}/config
	OpConfigWrite   Operation = "config.write"   // PUT /v1/tenants/{tenant}/config
	OpTokenManage   Operation = "token.manage"   // POST /v1/tokens, DELETE /v1/tokens/{id}
	OpTokenRead     Operation = "token.read"     // GET /v1/tokens
	OpContractRead  Operation = "contract.read"  // GET /v1/contracts/...
	OpEventPublish  Operation = "event.publish"  // POST /v1/events (and the alert webhooks)
	OpOutcomeRead   Operation = "outcome.read"   // GET /v1/events/outcome
	OpAuditRead     Operation = "audit.read"     // GET /v1/audit/... (checkpoints and proofs)
)

// policy is every role's operations: the one table of who may do what. Tenant scope
// comes on top: every operation on a tenant's data needs the tenant in the principal's
// scope.
var policy = map[Role][]Operation{
	RoleAdmin: {OpTicketOpen, OpTicketCommand, OpTicketComment, OpTicketRead, OpQueueRead, OpReportRead,
		OpConfigRead, OpConfigWrite, OpTokenManage, OpTokenRead, OpContractRead, OpEventPublish, OpOutcomeRead, OpAuditRead},
	RoleAgent:       {OpTicketOpen, OpTicketCommand, OpTicketComment, OpTicketRead, OpQueueRead, OpReportRead, OpContractRead},
	RoleIntegration: {OpTicketOpen, OpTicketComment, OpContractRead, OpEventPublish, OpOutcomeRead},
	RoleAuditor:     {OpTicketRead, OpQueueRead, OpReportRead, OpConfigRead, OpTokenRead, OpContractRead, OpOutcomeRead, OpAuditRead},
}

// May reports whether role may perform op.
func May(role Role, op Operation) bool { return slices.Contains(policy[role], op) }

// ValidRole reports whether role is one of the roles.
func ValidRole(role Role) bool { _, ok := policy[role]; return ok }

// Require wraps a route's handler with the operation it performs: a request whose
// principal may not perform it is refused with 403 forbidden before anything is read.
// Every /v1/ route is registered through Require.
func Require(op Operation, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := From(r.Context())
		if p.Role == "" {
			unauthorized(w, "no authenticated principal")
			return
		}
		if !May(p.Role, op) {
			httpx.WriteProblem(w, httpx.ProblemFor(events.NewError(events.KindForbidden, "access: forbidden",
				"role "+string(p.Role)+" may not "+string(op))))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RequireFunc is Require for a handler function.
func RequireFunc(op Operation, next http.HandlerFunc) http.Handler { return Require(op, next) }

// Handle serves route r on rs with h behind Require(op): the one way an API route is
// registered, so that the route's documented operation is the one enforced.
func Handle(rs *httpx.Routes, op Operation, r httpx.Route, h http.HandlerFunc) {
	r.Operation = string(op)
	rs.Handle(r, Require(op, h))
}
