package tenantconfig

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/calendar"
)

// Document is one tenant's whole configuration. Each applied document is a new version
// in the CONFIG stream; decision events name the version and the rule or policy id that
// made them. Field names are the wire format of the document: never rename them.
type Document struct {
	// Tenant the document belongs to.
	Tenant string `json:"tenant"`
	// TimeZone is the tenant's IANA time zone: reports' months, weekdays and hours are
	// local to it (default: the first calendar's, else UTC).
	TimeZone string `json:"time_zone,omitempty"`
	// Calendars are the business calendars policies refer to by id ("24x7" is built in).
	Calendars []Calendar `json:"calendars,omitempty"`
	// SLAPolicies are matched in order; the first that matches a ticket's type and
	// priority applies. A ticket no policy matches has no SLA.
	SLAPolicies []SLAPolicy `json:"sla_policies,omitempty"`
	// Groups are the support groups tickets are routed to.
	Groups []Group `json:"groups"`
	// DefaultGroup receives tickets no routing rule matches, at tier 1.
	DefaultGroup string `json:"default_group"`
	// RoutingRules are matched in order; the first match picks the group and tier.
	RoutingRules []RoutingRule `json:"routing_rules,omitempty"`
	// EscalationRules all apply when they match (in order), each with its actions.
	EscalationRules []EscalationRule `json:"escalation_rules,omitempty"`
	// Managers are the people of the management chain, linked by Manager ids.
	Managers []Person `json:"managers,omitempty"`
	// CustomerContact is notified for the customer_contact role.
	CustomerContact *Contact `json:"customer_contact,omitempty"`
	// Webhooks receive every notification whose role they list (all roles when empty).
	Webhooks []Webhook `json:"webhooks,omitempty"`
	// Alerts says how monitoring alerts become incidents (default: DefaultAlerts).
	Alerts *Alerts `json:"alerts,omitempty"`
	// Evidence is what the tenant's backups and patches are held to (default: no backup
	// watch; DefaultPatchPolicy).
	Evidence *Evidence `json:"evidence,omitempty"`
}

// Evidence is what a tenant's backup results and patch scans are held to.
type Evidence struct {
	// BackupWindow: a system without a successful backup for this long gets an incident,
	// once a day (0 or absent: backups are not watched).
	BackupWindow Duration `json:"backup_window,omitempty"`
	// Patches is the patch policy (default: DefaultPatchPolicy).
	Patches *PatchPolicy `json:"patches,omitempty"`
}

// PatchPolicy says when a device is out of policy: it misses more patches of a severity
// than that severity allows (absent: any number), or its last patch is older than MaxAge.
type PatchPolicy struct {
	Critical  *int     `json:"critical,omitempty"`
	Important *int     `json:"important,omitempty"`
	Moderate  *int     `json:"moderate,omitempty"`
	Low       *int     `json:"low,omitempty"`
	MaxAge    Duration `json:"max_age,omitempty"`
}

// DefaultPatchPolicy: no critical or important patch missing, patched within 30 days.
var DefaultPatchPolicy = PatchPolicy{Critical: new(int), Important: new(int), MaxAge: Duration(30 * 24 * time.Hour)}

// PatchPolicy is the tenant's patch policy, DefaultPatchPolicy when it sets none.
func (d *Document) PatchPolicy() PatchPolicy {
	if d.Evidence == nil || d.Evidence.Patches == nil {
		return DefaultPatchPolicy
	}
	return *d.Evidence.Patches
}

// BackupWindow is the tenant's backup window; 0 when backups are not watched.
func (d *Document) BackupWindow() time.Duration {
	if d.Evidence == nil {
		return 0
	}
	return time.Duration(d.Evidence.BackupWindow)
}

// Alerts says how monitoring alerts (inbound alert messages, the Alertmanager and Grafana
// webhooks) become incidents. Every field left out takes its DefaultAlerts value.
type Alerts struct {
	// Severities maps an alert's severity label to its incident's impact and urgency;
	// the entry "default" applies to any other severity and to none.
	Severities map[string]AlertSeverity `json:"severities,omitempty"`
	// Category is the incidents' category.
	Category string `json:"category,omitempty"`
	// Requester is the incidents' requester.
	Requester *Contact `json:"requester,omitempty"`
	// OnResolved is what a resolved alert does to its open incident: resolve it (code
	// auto_resolved) or only comment.
	OnResolved string `json:"on_resolved,omitempty"`
	// CommentInterval: an alert still firing adds at most one comment per interval
	// (Alertmanager's group_interval by default).
	CommentInterval Duration `json:"comment_interval,omitempty"`
}

// AlertSeverity is the impact and urgency of an alert's incident.
type AlertSeverity struct {
	Impact  events.Level `json:"impact"`
	Urgency events.Level `json:"urgency"`
}

// What a resolved alert does (Alerts.OnResolved).
const (
	OnResolvedResolve = "resolve"
	OnResolvedComment = "comment"
)

// DefaultAlerts is the alert policy of a tenant that sets none: critical P1, high or
// error P2, warning P3, info P5, anything else P4; category monitoring; resolved alerts
// resolve their incidents; one comment per 5 minutes while an alert keeps firing.
var DefaultAlerts = Alerts{
	Severities: map[string]AlertSeverity{
		"critical": {events.High, events.High},
		"high":     {events.High, events.Medium},
		"error":    {events.High, events.Medium},
		"warning":  {events.Medium, events.Medium},
		"info":     {events.Low, events.Low},
		"default":  {events.Medium, events.Low},
	},
	Category:        "monitoring",
	Requester:       &Contact{Name: "Monitoring", Email: "monitoring@ledgerdesk.invalid"},
	OnResolved:      OnResolvedResolve,
	CommentInterval: Duration(5 * time.Minute),
}

// AlertPolicy is the tenant's alert policy with DefaultAlerts filling what it leaves out
// (severities merge: the tenant's entries over the defaults).
func (d *Document) AlertPolicy() Alerts {
	out := DefaultAlerts
	out.Severities = maps.Clone(DefaultAlerts.Severities)
	a := d.Alerts
	if a == nil {
		return out
	}
	maps.Copy(out.Severities, a.Severities)
	if a.Category != "" {
		out.Category = a.Category
	}
	if a.Requester != nil {
		out.Requester = a.Requester
	}
	if a.OnResolved != "" {
		out.OnResolved = a.OnResolved
	}
	if a.CommentInterval > 0 {
		out.CommentInterval = a.CommentInterval
	}
	return out
}

// Severity is the impact and urgency of an alert of severity s.
func (a Alerts) Severity(s string) AlertSeverity {
	if v, ok := a.Severities[strings.ToLower(s)]; ok {
		return v
	}
	return a.Severities["default"]
}

// Calendar is a named business calendar.
type Calendar struct {
	ID string `json:"id"`
	calendar.Spec
}

// SLAPolicy sets the response and resolution targets of the tickets it matches.
type SLAPolicy struct {
	ID    string      `json:"id"`
	Match PolicyMatch `json:"match"`
	// Response is the first-response target in business time, e.g. "30m", "8h", "3s".
	Response Duration `json:"response"`
	// Resolution is the resolution target in business time.
	Resolution Duration `json:"resolution"`
	// Calendar is the id of a calendar of the document, or "24x7" (default "24x7").
	Calendar string `json:"calendar"`
	// Warnings are the percentages of a target at which a warning is raised, ascending,
	// each in 1..99 (default 50, 75, 90).
	Warnings []int `json:"warnings"`
	// PausingReasons are the hold reasons that pause the clocks (default
	// awaiting_customer and awaiting_vendor).
	PausingReasons []events.HoldReason `json:"pausing_reasons"`
}

// PolicyMatch selects tickets by type and priority; an empty list matches any.
type PolicyMatch struct {
	Types      []events.TicketType `json:"types,omitempty"`
	Priorities []events.Priority   `json:"priorities,omitempty"`
}

// Strategy is how a group picks the agent among its available agents.
type Strategy string

const (
	// RoundRobin takes the available agents in turn.
	RoundRobin Strategy = "round_robin"
	// LeastLoaded takes the available agent with the fewest open tickets (ties: document order).
	LeastLoaded Strategy = "least_loaded"
	// Skills takes, among the available agents whose skills include the ticket's category,
	// the least loaded; when none has the skill, the least loaded of all available agents.
	Skills Strategy = "skills"
)

// Group is a support group at one tier.
type Group struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Tier is the support tier 0–4 the group works at.
	Tier int `json:"tier"`
	// Strategy picks the agent (default round_robin).
	Strategy Strategy `json:"strategy"`
	// Lead is notified for the group_lead role.
	Lead *Contact `json:"lead,omitempty"`
	// Agents of the group, in order (the order breaks ties).
	Agents []Agent `json:"agents"`
}

// Agent is a member of a support group.
type Agent struct {
	ID     string   `json:"id"`
	Name   string   `json:"name,omitempty"`
	Email  string   `json:"email,omitempty"`
	Skills []string `json:"skills,omitempty"`
	// Available is false for an agent who takes no new tickets (default true).
	Available *bool `json:"available,omitempty"`
	// Manager is the id of the agent's manager among the document's Managers.
	Manager string `json:"manager,omitempty"`
}

// IsAvailable reports whether the agent takes new tickets.
func (a Agent) IsAvailable() bool { return a.Available == nil || *a.Available }

// Contact is someone notifications go to.
type Contact struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
}

// Person is a manager in the management chain.
type Person struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
	// Manager is the id of this person's own manager ("" at the top).
	Manager string `json:"manager,omitempty"`
}

// RoutingRule sends the tickets it matches to a group.
type RoutingRule struct {
	ID    string     `json:"id"`
	Match RouteMatch `json:"match"`
	// Group is the id of the group the ticket goes to.
	Group string `json:"group"`
	// Tier overrides the group's tier when set.
	Tier *int `json:"tier,omitempty"`
}

// RouteMatch is a conjunction of conditions; an empty list matches anything. Within a
// list any element may match. Keywords match case-insensitively as substrings of the
// title or description; labels match when the ticket carries any of them.
type RouteMatch struct {
	Types      []events.TicketType `json:"types,omitempty"`
	Categories []string            `json:"categories,omitempty"`
	Priorities []events.Priority   `json:"priorities,omitempty"`
	Sources    []string            `json:"sources,omitempty"`
	Keywords   []string            `json:"keywords,omitempty"`
	Labels     []string            `json:"labels,omitempty"`
}

// Trigger kinds of escalation rules.
const (
	OnWarning   = "warning"   // an SLA warning was raised
	OnBreach    = "breach"    // an SLA target was breached
	OnEscalated = "escalated" // someone escalated the ticket by command
)

// EscalationRule runs its actions when its trigger fires for a ticket it matches.
type EscalationRule struct {
	ID      string          `json:"id"`
	On      Trigger         `json:"on"`
	Match   EscalationMatch `json:"match"`
	Actions []Action        `json:"actions"`
}

// Trigger says which event fires a rule.
type Trigger struct {
	// Event is warning, breach or escalated.
	Event string `json:"event"`
	// Percent, for warning, is the warning threshold that fires the rule (0: any).
	Percent int `json:"percent,omitempty"`
	// Target is "response" or "resolution" for warning and breach ("": either).
	Target string `json:"target,omitempty"`
}

// EscalationMatch selects tickets by priority and current tier; empty matches any.
type EscalationMatch struct {
	Priorities []events.Priority `json:"priorities,omitempty"`
	Tiers      []int             `json:"tiers,omitempty"`
}

// Roles notifications go to.
const (
	RoleAssignee        = "assignee"
	RoleGroupLead       = "group_lead"
	RoleManager         = "manager"
	RoleCustomerContact = "customer_contact"
)

// Escalation kinds.
const (
	// Functional moves the ticket to the next tier, where routing re-routes it. It does
	// not apply to tier 3 (tier 4 needs a vendor case) nor to the escalated trigger.
	Functional = "functional"
	// Hierarchical notifies the assignee's manager chain, bottom up.
	Hierarchical = "hierarchical"
)

// Action is one thing an escalation rule does: exactly one of Notify and Escalate.
type Action struct {
	// Notify is a role to notify: assignee, group_lead, manager or customer_contact.
	Notify string `json:"notify,omitempty"`
	// Escalate is functional or hierarchical.
	Escalate string `json:"escalate,omitempty"`
}

// Webhook is an outbound HTTP endpoint notifications are delivered to, signed with
// HMAC-SHA256 over the timestamp and body with Secret (see package webhook).
type Webhook struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Secret string `json:"secret"`
	// Roles this webhook receives notifications for (empty: all).
	Roles []string `json:"roles,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("30m", "8h", "3s").
type Duration time.Duration

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
