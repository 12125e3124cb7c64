package events

import (
	"slices"
	"strings"
	"time"
)

// Link is a relation from a ticket to another ticket.
type Link struct {
	Kind   LinkKind `json:"kind"`
	Target string   `json:"target"`
}

// Ticket is the state folded from a ticket's events by Evolve. The read models persist
// it (projections.View), so its JSON names are explicit and snake_case. NB: persisted
// format: a change of a name or a field changes projections.FormatVersion (its golden
// test fails until then). The HTTP API never encodes a Ticket directly; it renders its own
// shapes (intake.TicketJSON).
type Ticket struct {
	ID            string     `json:"id"`
	Tenant        string     `json:"tenant"`
	Type          TicketType `json:"type"`
	Title         string     `json:"title"`
	Description   string     `json:"description,omitempty"`
	Requester     Requester  `json:"requester"`
	Impact        Level      `json:"impact"`
	Urgency       Level      `json:"urgency"`
	Priority      Priority   `json:"priority"`
	MajorIncident bool       `json:"major_incident,omitempty"`
	Category      string     `json:"category"`
	Source        string     `json:"source"`
	Labels        []string   `json:"labels,omitempty"`
	State         State      `json:"state"`
	HoldReason    HoldReason `json:"hold_reason,omitempty"`
	Tier          int        `json:"tier"`
	Group         string     `json:"group,omitempty"`
	Agent         string     `json:"agent,omitempty"`
	Responded     bool       `json:"responded,omitempty"`
	Escalations   int        `json:"escalations,omitempty"`
	Reopens       int        `json:"reopens,omitempty"`
	Links         []Link     `json:"links,omitempty"`
	Vendor        string     `json:"vendor,omitempty"`
	VendorCase    string     `json:"vendor_case,omitempty"`
	OpenedAt      time.Time  `json:"opened_at"`
	ResolvedAt    time.Time  `json:"resolved_at,omitzero"` // zero unless resolved
	UpdatedAt     time.Time  `json:"updated_at"`
	Version       uint64     `json:"version"` // number of events folded
}

// ReopenWindow is how long after resolution a ticket may be reopened.
const ReopenWindow = 7 * 24 * time.Hour

// MaxTier is the external vendor tier.
const MaxTier = 4

// Open states: a ticket in one of them is being worked.
var openStates = []State{StateNew, StateAssigned, StateInProgress, StateOnHold}

// IsOpen reports whether a ticket in the state is being worked (new, assigned, in
// progress or on hold).
func (s State) IsOpen() bool { return slices.Contains(openStates, s) }

// transitions says, per command name, the states it is allowed in. Commands not in a
// state's list are refused with a *TransitionError naming the allowed ones.
var transitions = map[string][]State{
	"open":         {StateNone},
	"route":        openStates,
	"assign":       openStates,
	"respond":      {StateAssigned, StateInProgress},
	"comment":      append(slices.Clone(openStates), StateResolved),
	"hold":         {StateInProgress},
	"resume":       {StateOnHold},
	"reprioritize": openStates,
	"recategorize": openStates,
	"escalate":     openStates,
	// Any open state: resolved at first contact, or an alert that cleared before its
	// incident was worked.
	"resolve": openStates,
	"reopen":  {StateResolved},
	"close":   {StateResolved},
	"cancel":  openStates,
	"link":    append(slices.Clone(openStates), StateResolved),
}

// NewCommand returns a pointer to a zero payload for the command name, to decode a
// request into; false for an unknown name.
func NewCommand(name string) (Payload, bool) {
	t, ok := byCommand[name]
	if !ok {
		return nil, false
	}
	return t.newCommand(), true
}

// CommandName returns the command name that requests a payload's event ("" for a
// derived event).
func CommandName(p Payload) string { return byEventType[deref(p).EventType()].Command }

// AllowedCommands lists, sorted, the commands the ticket's state allows.
func (t Ticket) AllowedCommands() []string {
	out := []string{}
	for name, states := range transitions {
		if slices.Contains(states, t.State) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Decide validates a command (a payload, as value or pointer) against the ticket's state
// and returns the events to append, or a *TransitionError or *ValidationError. Derived
// fields (priority, the escalation tier) are filled in here, never taken on trust.
func Decide(t Ticket, cmd Payload, now time.Time) ([]Payload, error) {
	cmd = deref(cmd)
	name := CommandName(cmd)
	if !slices.Contains(transitions[name], t.State) {
		return nil, &TransitionError{Command: name, State: t.State, Allowed: t.AllowedCommands()}
	}
	switch c := cmd.(type) {
	case Opened:
		return decideOpen(c)
	case Routed:
		if strings.TrimSpace(c.Group) == "" {
			return nil, required("group")
		}
		if c.Tier < 0 || c.Tier > MaxTier {
			return nil, &ValidationError{Field: "tier", Reason: "must be 0 to 4"}
		}
	case Assigned:
		if strings.TrimSpace(c.Agent) == "" {
			return nil, required("agent")
		}
	case Responded:
		if strings.TrimSpace(c.Message) == "" {
			return nil, required("message")
		}
	case Commented:
		if strings.TrimSpace(c.Body) == "" {
			return nil, required("body")
		}
	case Held:
		if err := oneOf("reason", c.Reason, HoldReasons()); err != nil {
			return nil, err
		}
	case Reprioritized:
		p, err := PriorityOf(c.Impact, c.Urgency)
		if err != nil {
			return nil, err
		}
		if c.Priority != "" && c.Priority != p {
			return nil, derivedPriority()
		}
		if c.Impact == t.Impact && c.Urgency == t.Urgency {
			return nil, &ValidationError{Field: "impact", Reason: "impact and urgency are unchanged"}
		}
		c.Priority = p
		return []Payload{c}, nil
	case Recategorized:
		if strings.TrimSpace(c.Category) == "" {
			return nil, required("category")
		}
		if c.Category == t.Category {
			return nil, &ValidationError{Field: "category", Reason: "category is unchanged"}
		}
	case Escalated:
		return decideEscalate(t, c)
	case Reopened:
		if now.Sub(t.ResolvedAt) > ReopenWindow {
			return nil, &ValidationError{Field: "reopen", Reason: "the reopen window of 7 days has passed"}
		}
	case Linked:
		if err := oneOf("kind", c.Kind, LinkKinds()); err != nil {
			return nil, err
		}
		if strings.TrimSpace(c.Target) == "" || c.Target == t.ID {
			return nil, &ValidationError{Field: "target", Reason: "must be the id of another ticket"}
		}
	}
	return []Payload{cmd}, nil
}

func required(field string) *ValidationError {
	return &ValidationError{Field: field, Reason: "required"}
}

func decideOpen(c Opened) ([]Payload, error) {
	if err := oneOf("type", c.Type, TicketTypes()); err != nil {
		return nil, err
	}
	switch {
	case strings.TrimSpace(c.Title) == "":
		return nil, required("title")
	case len(c.Title) > 200:
		return nil, &ValidationError{Field: "title", Reason: "at most 200 characters"}
	case strings.TrimSpace(c.Requester.Name) == "":
		return nil, required("requester.name")
	case !strings.Contains(c.Requester.Email, "@"):
		return nil, &ValidationError{Field: "requester.email", Reason: "must be an e-mail address"}
	}
	p, err := PriorityOf(c.Impact, c.Urgency)
	if err != nil {
		return nil, err
	}
	switch {
	case strings.TrimSpace(c.Category) == "":
		return nil, required("category")
	case strings.TrimSpace(c.Source) == "":
		return nil, required("source")
	}
	if c.Priority != "" && c.Priority != p {
		return nil, derivedPriority()
	}
	c.Priority = p
	return []Payload{c}, nil
}

// derivedPriority refuses a client-chosen priority that contradicts the matrix.
func derivedPriority() *ValidationError {
	return &ValidationError{Field: "priority", Reason: "is derived from impact × urgency; send those instead"}
}

// decideEscalate moves the ticket up: tier 0 in the command means the next tier. Tier 4
// (external vendor) needs vendor and case reference and puts a worked ticket on hold
// awaiting the vendor.
func decideEscalate(t Ticket, c Escalated) ([]Payload, error) {
	if c.Tier == 0 {
		c.Tier = t.Tier + 1
	}
	if c.Tier <= t.Tier || c.Tier > MaxTier {
		return nil, &ValidationError{Field: "tier", Reason: "must be above the current tier and at most 4"}
	}
	if c.Tier == MaxTier {
		if strings.TrimSpace(c.Vendor) == "" {
			return nil, &ValidationError{Field: "vendor", Reason: "required for tier 4"}
		}
		if strings.TrimSpace(c.VendorCase) == "" {
			return nil, &ValidationError{Field: "vendor_case", Reason: "required for tier 4"}
		}
		if t.State == StateInProgress {
			return []Payload{c, Held{Reason: AwaitingVendor}}, nil
		}
	}
	return []Payload{c}, nil
}

// Evolve applies one recorded event to the state. It never fails: events are facts.
func Evolve(t Ticket, e Event) Ticket {
	t.Version++
	t.UpdatedAt = e.Time
	switch d := deref(e.Data).(type) {
	case Opened:
		t.ID, t.Tenant, t.OpenedAt = e.TicketID, e.Tenant, e.Time
		t.Type, t.Title, t.Description, t.Requester = d.Type, d.Title, d.Description, d.Requester
		t.Impact, t.Urgency, t.Priority, t.MajorIncident = d.Impact, d.Urgency, d.Priority, d.MajorIncident
		t.Category, t.Source, t.Labels = d.Category, d.Source, slices.Clone(d.Labels)
		t.State, t.Tier = StateNew, 1
	case Routed:
		t.Group, t.Tier = d.Group, d.Tier
	case Assigned:
		t.Agent = d.Agent
		if d.Group != "" {
			t.Group = d.Group
		}
		if t.State == StateNew {
			t.State = StateAssigned
		}
	case Responded:
		t.Responded, t.State = true, StateInProgress
	case Held:
		t.State, t.HoldReason = StateOnHold, d.Reason
	case Resumed:
		t.State, t.HoldReason = StateInProgress, ""
	case Reprioritized:
		t.Impact, t.Urgency, t.Priority = d.Impact, d.Urgency, d.Priority
	case Recategorized:
		t.Category = d.Category
	case Escalated:
		t.Tier = d.Tier
		t.Escalations++
		if d.Vendor != "" {
			t.Vendor, t.VendorCase = d.Vendor, d.VendorCase
		}
	case Resolved:
		t.State, t.HoldReason, t.ResolvedAt = StateResolved, "", e.Time
	case Reopened:
		t.State, t.ResolvedAt = StateInProgress, time.Time{}
		t.Reopens++
	case Closed:
		t.State = StateClosed
	case Cancelled:
		t.State, t.HoldReason = StateCancelled, ""
	case Linked:
		t.Links = append(slices.Clone(t.Links), Link{Kind: d.Kind, Target: d.Target})
	}
	return t
}

// Fold evolves the empty state through evs in order.
func Fold(evs []Event) Ticket {
	var t Ticket
	for _, e := range evs {
		t = Evolve(t, e)
	}
	return t
}
