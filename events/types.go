package events

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	segmentjson "github.com/segmentio/encoding/json"
)

// Event types on the wire. A released type's schema never changes: a new shape gets a new
// version suffix and an upcaster. NB: these strings must never be renamed.
const (
	TypeOpened        = "ledgerdesk.ticket.opened.v1"
	TypeRouted        = "ledgerdesk.ticket.routed.v1"
	TypeAssigned      = "ledgerdesk.ticket.assigned.v1"
	TypeResponded     = "ledgerdesk.ticket.responded.v1"
	TypeCommented     = "ledgerdesk.ticket.commented.v1"
	TypeHeld          = "ledgerdesk.ticket.held.v1"
	TypeResumed       = "ledgerdesk.ticket.resumed.v1"
	TypeReprioritized = "ledgerdesk.ticket.reprioritized.v1"
	TypeRecategorized = "ledgerdesk.ticket.recategorized.v1"
	TypeEscalated     = "ledgerdesk.ticket.escalated.v1"
	TypeResolved      = "ledgerdesk.ticket.resolved.v1"
	TypeReopened      = "ledgerdesk.ticket.reopened.v1"
	TypeClosed        = "ledgerdesk.ticket.closed.v1"
	TypeCancelled     = "ledgerdesk.ticket.cancelled.v1"
	TypeLinked        = "ledgerdesk.ticket.linked.v1"

	// Derived by the SLA service.
	TypeSLAAttached  = "ledgerdesk.ticket.sla_attached.v1"
	TypeSLAPaused    = "ledgerdesk.ticket.sla_paused.v1"
	TypeSLAResumed   = "ledgerdesk.ticket.sla_resumed.v1"
	TypeSLAWarning   = "ledgerdesk.ticket.sla_warning.v1"
	TypeSLABreached  = "ledgerdesk.ticket.sla_breached.v1"
	TypeSLACompleted = "ledgerdesk.ticket.sla_completed.v1"

	// Derived by the escalation service.
	TypeNotificationRequested = "ledgerdesk.ticket.notification_requested.v1"
	TypeNotificationDelivered = "ledgerdesk.ticket.notification_delivered.v1"
	TypeNotificationFailed    = "ledgerdesk.ticket.notification_failed.v1"
)

// Payload is the data of one ticket event. Each payload type is bound to exactly one
// event type; the payloads double as the commands that request them (see Decide).
type Payload interface {
	// EventType is the versioned wire type, one of the Type constants.
	EventType() string
}

// TicketType is the ITIL record type.
type TicketType string

const (
	Incident       TicketType = "incident"
	ServiceRequest TicketType = "service_request"
	Problem        TicketType = "problem"
	Change         TicketType = "change"
)

// Level is an impact or urgency rating.
type Level string

const (
	High   Level = "high"
	Medium Level = "medium"
	Low    Level = "low"
)

// Priority is P1 (most urgent) to P5.
type Priority string

// State is the lifecycle state of a ticket.
type State string

const (
	StateNone       State = "" // not opened yet
	StateNew        State = "new"
	StateAssigned   State = "assigned"
	StateInProgress State = "in_progress"
	StateOnHold     State = "on_hold"
	StateResolved   State = "resolved"
	StateClosed     State = "closed"
	StateCancelled  State = "cancelled"
)

// HoldReason says what an on_hold ticket waits for.
type HoldReason string

const (
	AwaitingCustomer HoldReason = "awaiting_customer"
	AwaitingVendor   HoldReason = "awaiting_vendor"
	AwaitingChange   HoldReason = "awaiting_change"
	AwaitingProblem  HoldReason = "awaiting_problem"
)

// LinkKind is the relation a link records from this ticket to its target.
type LinkKind string

const (
	LinkProblem        LinkKind = "problem"          // incident → its problem
	LinkDuplicateOf    LinkKind = "duplicate_of"     // this ticket duplicates the target
	LinkParent         LinkKind = "parent"           // the target is this ticket's parent
	LinkChild          LinkKind = "child"            // the target is this ticket's child
	LinkCausedByChange LinkKind = "caused_by_change" // the target change caused this ticket
)

// Requester is the person the ticket is for.
type Requester struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Opened starts a ticket. Priority is derived by Decide from impact and urgency.
type Opened struct {
	Type          TicketType `json:"type"`
	Title         string     `json:"title"`
	Description   string     `json:"description"`
	Requester     Requester  `json:"requester"`
	Impact        Level      `json:"impact"`
	Urgency       Level      `json:"urgency"`
	Priority      Priority   `json:"priority"`
	Category      string     `json:"category"`
	Source        string     `json:"source"`
	MajorIncident bool       `json:"major_incident,omitempty"`
	Labels        []string   `json:"labels,omitempty"`
}

// Routed records the support group and tier a ticket was routed to and the rule that chose them.
type Routed struct {
	Group       string `json:"group"`
	Tier        int    `json:"tier"`
	RuleID      string `json:"rule_id,omitempty"`
	RuleVersion int    `json:"rule_version,omitempty"`
}

// Assigned records the agent (and optionally group) now working the ticket; when the
// routing service chose the agent, the group's strategy and the routing decision's rule.
type Assigned struct {
	Agent       string `json:"agent"`
	Group       string `json:"group,omitempty"`
	Strategy    string `json:"strategy,omitempty"`
	RuleID      string `json:"rule_id,omitempty"`
	RuleVersion int    `json:"rule_version,omitempty"`
}

// Responded records the first (or a later) response to the requester.
type Responded struct {
	Message string `json:"message"`
}

// Commented records a work note or public comment.
type Commented struct {
	Body   string `json:"body"`
	Public bool   `json:"public,omitempty"`
}

// Held puts the ticket on hold for a reason.
type Held struct {
	Reason HoldReason `json:"reason"`
}

// Resumed takes the ticket off hold.
type Resumed struct {
	Note string `json:"note,omitempty"`
}

// Reprioritized changes impact and urgency; Priority is derived by Decide.
type Reprioritized struct {
	Impact   Level    `json:"impact"`
	Urgency  Level    `json:"urgency"`
	Priority Priority `json:"priority"`
	Reason   string   `json:"reason,omitempty"`
}

// Recategorized changes the category.
type Recategorized struct {
	Category string `json:"category"`
}

// Escalated moves the ticket to a higher support tier (0–4). Tier 4 is the external
// vendor and records the vendor and its case reference.
type Escalated struct {
	Tier       int    `json:"tier"`
	Reason     string `json:"reason,omitempty"`
	Vendor     string `json:"vendor,omitempty"`
	VendorCase string `json:"vendor_case,omitempty"`
	// RuleID and RuleVersion name the escalation rule of a functional escalation.
	RuleID      string `json:"rule_id,omitempty"`
	RuleVersion int    `json:"rule_version,omitempty"`
}

// Resolved records the resolution.
type Resolved struct {
	Code  string `json:"code,omitempty"`
	Notes string `json:"notes,omitempty"`
}

// Reopened takes a resolved ticket back to in_progress within the reopen window.
type Reopened struct {
	Reason string `json:"reason,omitempty"`
}

// Closed ends a resolved ticket for good.
type Closed struct {
	Note string `json:"note,omitempty"`
}

// Cancelled ends an open ticket without resolution.
type Cancelled struct {
	Reason string `json:"reason,omitempty"`
}

// Linked relates the ticket to another ticket.
type Linked struct {
	Kind   LinkKind `json:"kind"`
	Target string   `json:"target"`
}

// SLA clock names.
const (
	ClockResponse   = "response"
	ClockResolution = "resolution"
)

// SLATarget is one clock's target and, while it runs, its due time.
type SLATarget struct {
	Clock    string     `json:"clock"`
	TargetMS int64      `json:"target_ms"`
	Due      *time.Time `json:"due,omitempty"`
}

// SLAAttached attaches an SLA policy to the ticket with targets and due times, on open or,
// retroactively from the open time, on a priority change.
type SLAAttached struct {
	PolicyID      string      `json:"policy_id"`
	PolicyVersion int         `json:"policy_version"`
	Calendar      string      `json:"calendar"`
	Priority      Priority    `json:"priority"`
	Reason        string      `json:"reason"` // opened or reprioritized
	Targets       []SLATarget `json:"targets"`
	Warnings      []int       `json:"warnings"`
}

// SLAPaused records clocks stopped by a pausing hold.
type SLAPaused struct {
	Reason HoldReason `json:"reason"`
	Clocks []string   `json:"clocks"`
}

// SLAResumed records clocks running again, with their new due times.
type SLAResumed struct {
	Targets []SLATarget `json:"targets"`
}

// SLAWarning records that a clock used Percent of its target.
type SLAWarning struct {
	Clock         string    `json:"clock"`
	Percent       int       `json:"percent"`
	Due           time.Time `json:"due"`
	PolicyID      string    `json:"policy_id"`
	PolicyVersion int       `json:"policy_version"`
}

// SLABreached records that a clock passed its due time unmet.
type SLABreached struct {
	Clock         string    `json:"clock"`
	Due           time.Time `json:"due"`
	PolicyID      string    `json:"policy_id"`
	PolicyVersion int       `json:"policy_version"`
}

// SLA outcomes.
const (
	OutcomeMet    = "met"
	OutcomeMissed = "missed"
)

// SLACompleted records a clock's verdict when it stops: met or missed, and the business
// time used (pauses excluded).
type SLACompleted struct {
	Clock         string `json:"clock"`
	Outcome       string `json:"outcome"`
	UsedMS        int64  `json:"used_ms"`
	TargetMS      int64  `json:"target_ms"`
	PolicyID      string `json:"policy_id"`
	PolicyVersion int    `json:"policy_version"`
}

// NotificationRequested asks for one recipient to be told about the ticket.
type NotificationRequested struct {
	Role        string   `json:"role"`
	Name        string   `json:"name,omitempty"`
	Email       string   `json:"email"`
	Level       int      `json:"level,omitempty"` // for a manager: 1 is the assignee's manager
	Reason      string   `json:"reason"`
	Webhooks    []string `json:"webhooks,omitempty"` // ids of the webhooks to deliver to
	RuleID      string   `json:"rule_id"`
	RuleVersion int      `json:"rule_version"`
}

// NotificationDelivered records a webhook delivery the receiver accepted.
type NotificationDelivered struct {
	Request  string `json:"request"` // id of the notification_requested event
	Webhook  string `json:"webhook"`
	URL      string `json:"url"`
	Status   int    `json:"status"`
	Attempts int    `json:"attempts"`
}

// NotificationFailed records a webhook delivery given up on.
type NotificationFailed struct {
	Request  string `json:"request"`
	Webhook  string `json:"webhook"`
	URL      string `json:"url"`
	Error    string `json:"error"`
	Attempts int    `json:"attempts"`
}

func (Opened) EventType() string        { return TypeOpened }
func (Routed) EventType() string        { return TypeRouted }
func (Assigned) EventType() string      { return TypeAssigned }
func (Responded) EventType() string     { return TypeResponded }
func (Commented) EventType() string     { return TypeCommented }
func (Held) EventType() string          { return TypeHeld }
func (Resumed) EventType() string       { return TypeResumed }
func (Reprioritized) EventType() string { return TypeReprioritized }
func (Recategorized) EventType() string { return TypeRecategorized }
func (Escalated) EventType() string     { return TypeEscalated }
func (Resolved) EventType() string      { return TypeResolved }
func (Reopened) EventType() string      { return TypeReopened }
func (Closed) EventType() string        { return TypeClosed }
func (Cancelled) EventType() string     { return TypeCancelled }
func (Linked) EventType() string        { return TypeLinked }

func (SLAAttached) EventType() string           { return TypeSLAAttached }
func (SLAPaused) EventType() string             { return TypeSLAPaused }
func (SLAResumed) EventType() string            { return TypeSLAResumed }
func (SLAWarning) EventType() string            { return TypeSLAWarning }
func (SLABreached) EventType() string           { return TypeSLABreached }
func (SLACompleted) EventType() string          { return TypeSLACompleted }
func (NotificationRequested) EventType() string { return TypeNotificationRequested }
func (NotificationDelivered) EventType() string { return TypeNotificationDelivered }
func (NotificationFailed) EventType() string    { return TypeNotificationFailed }

// The values of the enumerated fields, in their documented order: Decide refuses any
// other, and the published schemas (contracts/) list them.
func TicketTypes() []TicketType { return []TicketType{Incident, ServiceRequest, Problem, Change} }
func Levels() []Level           { return []Level{High, Medium, Low} }
func Priorities() []Priority    { return []Priority{"P1", "P2", "P3", "P4", "P5"} }
func HoldReasons() []HoldReason {
	return []HoldReason{AwaitingCustomer, AwaitingVendor, AwaitingChange, AwaitingProblem}
}
func LinkKinds() []LinkKind {
	return []LinkKind{LinkProblem, LinkDuplicateOf, LinkParent, LinkChild, LinkCausedByChange}
}

// oneOf is nil when v is one of allowed, else the field's ValidationError naming them.
func oneOf[T ~string](field string, v T, allowed []T) *ValidationError {
	if slices.Contains(allowed, v) {
		return nil
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return &ValidationError{Field: field, Reason: "must be one of " + strings.Join(names, ", ")}
}

// PayloadType is one registered payload type: its wire type, the command that requests
// it, and its Go type. NB: the registry (payloadTypes) is the one table of them.
type PayloadType struct {
	EventType string       // the versioned wire type, one of the Type constants
	Command   string       // the command (HTTP path) that requests it; "" for a derived type
	Go        reflect.Type // the payload's Go type (a struct, used as a value)

	decode     func([]byte) (Payload, error) // to a value
	newCommand func() Payload                // a pointer to a zero value, to decode a request into
	value      func(Payload) Payload         // from such a pointer to its value
}

// register is the registration of payload type P, requested by command ("" for a type
// only services append).
func register[P Payload](command string) PayloadType {
	var zero P
	return PayloadType{EventType: zero.EventType(), Command: command, Go: reflect.TypeFor[P](),
		decode: func(data []byte) (Payload, error) {
			var p P
			// Every reader of the log decodes every event it reads (each reacting service,
			// the projector, replays): encoding/json's reflection took 7 µs a payload, the
			// largest share of a reacting service's time. segmentio/encoding's json is its
			// drop-in replacement, three times as fast, held to decode exactly as it does
			// (FuzzPayloadDecodingMatchesEncodingJSON).
			err := segmentjson.Unmarshal(data, &p)
			return p, err
		},
		newCommand: func() Payload { return any(new(P)).(Payload) }, // *P has P's methods
		value:      func(p Payload) Payload { return *any(p).(*P) },
	}
}

// payloadTypes binds every wire type to its Go type and command: the one place that does.
// NB: wire types and command names are contracts; never rename one.
var payloadTypes = []PayloadType{
	register[Opened]("open"),
	register[Routed]("route"),
	register[Assigned]("assign"),
	register[Responded]("respond"),
	register[Commented]("comment"),
	register[Held]("hold"),
	register[Resumed]("resume"),
	register[Reprioritized]("reprioritize"),
	register[Recategorized]("recategorize"),
	register[Escalated]("escalate"),
	register[Resolved]("resolve"),
	register[Reopened]("reopen"),
	register[Closed]("close"),
	register[Cancelled]("cancel"),
	register[Linked]("link"),

	// Derived: only services append them, as the effect of another event.
	register[SLAAttached](""),
	register[SLAPaused](""),
	register[SLAResumed](""),
	register[SLAWarning](""),
	register[SLABreached](""),
	register[SLACompleted](""),
	register[NotificationRequested](""),
	register[NotificationDelivered](""),
	register[NotificationFailed](""),
}

// The registry's indexes.
var (
	byEventType = index(func(t PayloadType) (string, bool) { return t.EventType, true })
	byCommand   = index(func(t PayloadType) (string, bool) { return t.Command, t.Command != "" })
	byPointer   = index(func(t PayloadType) (reflect.Type, bool) { return reflect.PointerTo(t.Go), true })
)

func index[K comparable](key func(PayloadType) (K, bool)) map[K]PayloadType {
	m := map[K]PayloadType{}
	for _, t := range payloadTypes {
		if k, ok := key(t); ok {
			m[k] = t
		}
	}
	return m
}

// PayloadTypes lists every registered payload type, sorted by wire type.
func PayloadTypes() []PayloadType {
	return slices.SortedFunc(slices.Values(payloadTypes), func(a, b PayloadType) int { return strings.Compare(a.EventType, b.EventType) })
}

// IsDerived reports whether an event type is appended only by a service as the effect of
// another event, never requested by a command.
func IsDerived(eventType string) bool {
	t, ok := byEventType[eventType]
	return ok && t.Command == ""
}

// Types lists every registered event type, sorted.
func Types() []string {
	out := make([]string, 0, len(payloadTypes))
	for _, t := range PayloadTypes() {
		out = append(out, t.EventType)
	}
	return out
}

// DecodePayload decodes JSON data of the given event type into its payload (a value, not a pointer).
func DecodePayload(eventType string, data []byte) (Payload, error) {
	t, ok := byEventType[eventType]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEventType, eventType)
	}
	p, err := t.decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	return p, nil
}

// deref turns a pointer to a registered payload (NewCommand's) into its value, so that type
// switches see one form; any other payload is returned as it is.
func deref(p Payload) Payload {
	if t, ok := byPointer[reflect.TypeOf(p)]; ok {
		return t.value(p)
	}
	return p
}
