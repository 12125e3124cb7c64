package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// ProblemTypePrefix prefixes every problem type URI. NB: the full URIs are API contract.
const ProblemTypePrefix = "urn:ledgerdesk:problem:"

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	Status  int      `json:"status"`
	Detail  string   `json:"detail,omitempty"`
	Field   string   `json:"field,omitempty"`  // the offending request field, where there is one
	Allowed []string `json:"allowed,omitzero"` // the commands the ticket's state allows, for invalid-transition
	// Errors lists every problem of a request that has several (an invalid configuration document).
	Errors []FieldError `json:"errors,omitempty"`
	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int `json:"-"`
}

// FieldError is one problem of a request, at a path such as "sla_policies[2].response".
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
	// Schema, for a violation of a published schema, is that schema's path and the JSON
	// pointer of the keyword violated (/v1/contracts/events/<type>.schema.json#/properties/...).
	Schema string `json:"schema,omitempty"`
}

// Problem kinds: the stable slugs after ProblemTypePrefix.
const (
	KindMalformedJSON      = "malformed-json"
	KindValidation         = "validation"
	KindBodyTooLarge       = "body-too-large"
	KindUnauthorized       = "unauthorized"
	KindNotFound           = "not-found"
	KindInvalidTransition  = "invalid-transition"
	KindConflict           = "conflict"
	KindPreconditionFailed = "precondition-failed"
	KindIdempotencyReuse   = "idempotency-key-reused"
	KindUnknownCommand     = "unknown-command"
	KindInvalidConfig      = "invalid-config"
	KindUnavailable        = "unavailable"
	KindInternal           = "internal"
	KindForbidden          = "forbidden"
	KindRateLimited        = "rate-limited"
	// Of inbound messages (services/inbox), over HTTP and in outcomes.
	KindMalformedEvent = "malformed-cloudevent"
	KindUnknownType    = "unknown-type"
	KindSchema         = "schema-violation"
	KindUnknownTenant  = "unknown-tenant"
	KindIDReused       = "ce-id-reused"
)

// ProblemKind documents one problem type the API answers.
type ProblemKind struct {
	Kind   string
	Status int
	When   string
}

// ProblemKinds is every problem type of the API, for the published documents (README's
// table says the same). NB: add a kind here when you add one above.
func ProblemKinds() []ProblemKind {
	return []ProblemKind{
		{KindMalformedJSON, 400, "unparsable body, empty body, more than one JSON value"},
		{KindValidation, 400, "unknown, missing or wrongly typed field, bad enum value (field names it), bad If-Match; errors lists every problem"},
		{KindMalformedEvent, 400, "an inbound message that is no CloudEvent (binary, structured or batch mode), or whose data is not JSON"},
		{KindUnknownType, 400, "an inbound message of a type that is not an inbound type (allowed lists them)"},
		{KindSchema, 400, "an inbound message whose data violates its published schema (errors[].schema names the keyword)"},
		{KindUnauthorized, 401, "missing, wrong or revoked bearer token"},
		{KindForbidden, 403, "the principal's role may not do this"},
		{KindNotFound, 404, "no such route, ticket, outcome or reference, or one of a tenant outside the principal's scope"},
		{KindUnknownCommand, 404, "no such ticket command (allowed lists them)"},
		{KindUnknownTenant, 404, "an inbound message for a tenant without configuration"},
		{KindInvalidTransition, 409, "the state machine refuses the command (allowed lists what it allows)"},
		{KindConflict, 409, "lost a race after retries"},
		{KindIDReused, 409, "a ce-id accepted before, sent again with another type or data"},
		{KindPreconditionFailed, 412, "If-Match is not the ticket's current version"},
		{KindBodyTooLarge, 413, "body over its limit (1 MiB; 8 MiB for an alert notification; 256 events a batch)"},
		{KindIdempotencyReuse, 422, "an Idempotency-Key sent again with a different ticket"},
		{KindInvalidConfig, 422, "a tenant configuration document with problems (errors lists each)"},
		{KindRateLimited, 429, "over the principal's rate limit (Retry-After says when to retry)"},
		{KindInternal, 500, "the server's fault; the cause is in its log"},
		{KindUnavailable, 503, "the event store or read models are not ready (Retry-After)"},
	}
}

// kinds is the status and title of every error kind: the one table where a kinded
// domain error (events.KindError) becomes an HTTP status.
var kinds = map[events.Kind]struct {
	status int
	title  string
}{
	events.KindNotFound:    {http.StatusNotFound, "Not found"},
	events.KindConflict:    {http.StatusConflict, "Concurrent modification"},
	events.KindValidation:  {http.StatusBadRequest, "Invalid field"},
	events.KindUnavailable: {http.StatusServiceUnavailable, "Unavailable"},
	events.KindForbidden:   {http.StatusForbidden, "Forbidden"},
	events.KindRateLimited: {http.StatusTooManyRequests, "Too many requests"},
}

// NewProblem builds a problem of a kind with a status and detail.
func NewProblem(status int, kind, title, detail string) *Problem {
	return &Problem{Type: ProblemTypePrefix + kind, Title: title, Status: status, Detail: detail}
}

func (p *Problem) Error() string {
	msg := p.Title + ": " + p.Detail
	for _, e := range p.Errors {
		msg += "\n  " + e.Field + ": " + e.Reason
	}
	return msg
}

// WriteProblem writes p as application/problem+json.
func WriteProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// ProblemFor maps any error to its problem: the one place where domain and store errors
// become HTTP statuses. Unknown errors become 500 without leaking their text.
func ProblemFor(err error) *Problem {
	var (
		p  *Problem
		ve *events.ValidationError
		te *events.TransitionError
		mb *http.MaxBytesError
		ke *events.KindError
	)
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &mb):
		return NewProblem(http.StatusRequestEntityTooLarge, KindBodyTooLarge, "Request body too large",
			"the body exceeds the limit of 1 MiB")
	case errors.As(err, &ve):
		pr := NewProblem(http.StatusBadRequest, KindValidation, "Invalid field", ve.Field+": "+ve.Reason)
		pr.Field = ve.Field
		if joined, ok := err.(interface{ Unwrap() []error }); ok && len(joined.Unwrap()) > 1 {
			for _, e := range joined.Unwrap() { // errors.Join of several: list them all
				if errors.As(e, &ve) {
					pr.Errors = append(pr.Errors, FieldError{Field: ve.Field, Reason: ve.Reason})
				}
			}
		}
		return pr
	case errors.As(err, &te):
		pr := NewProblem(http.StatusConflict, KindInvalidTransition, "Transition not allowed",
			te.Command+" is not allowed in state "+string(te.State)+"; allowed: "+strings.Join(te.Allowed, ", "))
		pr.Allowed = te.Allowed
		if pr.Allowed == nil {
			pr.Allowed = []string{}
		}
		return pr
	case errors.As(err, &ke):
		k, ok := kinds[ke.Kind]
		if !ok {
			break
		}
		detail := ke.Detail
		if ke.Field != "" {
			detail = ke.Field + ": " + detail
		}
		pr := NewProblem(k.status, string(ke.Kind), k.title, detail)
		pr.Field = ke.Field
		if ke.Kind == events.KindUnavailable {
			pr.RetryAfter = 1
		}
		return pr
	}
	if events.Unavailable(err) {
		pr := NewProblem(http.StatusServiceUnavailable, KindUnavailable, "Unavailable", "the event log could not be reached; retry")
		pr.RetryAfter = 1
		return pr
	}
	return NewProblem(http.StatusInternalServerError, KindInternal, "Internal error", "the request could not be completed")
}

// WriteJSON writes v as a JSON answer with the status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// NotFound answers any request no route matched with a not-found problem.
func NotFound(w http.ResponseWriter, r *http.Request) {
	WriteProblem(w, NewProblem(http.StatusNotFound, KindNotFound, "Not found", "no route for "+r.Method+" "+r.URL.Path))
}

// Fail writes err as a problem and logs it when it is the server's fault (5xx): the
// cause stays in the log, never in the answer.
func Fail(w http.ResponseWriter, r *http.Request, log *zap.Logger, err error) {
	p := ProblemFor(err)
	if p.Status >= 500 {
		Log(log, r).Error("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	}
	WriteProblem(w, p)
}
