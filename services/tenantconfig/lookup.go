package tenantconfig

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/calendar"
)

// The lookups below are pure: document order decides where several entries fit. They
// never modify the document, so a shared document may be read concurrently.

// ErrUnknownCalendar is returned by CompileCalendar for an id the document does not define.
var ErrUnknownCalendar = errors.New("tenantconfig: unknown calendar")

// Policy returns the first SLA policy whose match fits the ticket type and priority (an
// empty match list fits any value), or false when none does: the ticket has no SLA.
func (d *Document) Policy(t events.TicketType, p events.Priority) (SLAPolicy, bool) {
	for _, sp := range d.SLAPolicies {
		if matches(sp.Match.Types, t) && matches(sp.Match.Priorities, p) {
			return sp, true
		}
	}
	return SLAPolicy{}, false
}

// CalendarSpec returns the spec of the document's calendar id; false for "24x7", which
// has no spec, and for unknown ids.
func (d *Document) CalendarSpec(id string) (calendar.Spec, bool) {
	if id == calendar.TwentyFourSevenID {
		return calendar.Spec{}, false
	}
	for _, c := range d.Calendars {
		if c.ID == id {
			return c.Spec, true
		}
	}
	return calendar.Spec{}, false
}

// CompileCalendar compiles the calendar id: calendar.TwentyFourSeven() for "24x7" (and
// for "", the default), an error wrapping ErrUnknownCalendar for an id the document does
// not define, and the calendar's own problems for a spec that does not compile.
func (d *Document) CompileCalendar(id string) (*calendar.Calendar, error) {
	if id == calendar.TwentyFourSevenID || id == "" {
		return calendar.TwentyFourSeven(), nil
	}
	spec, ok := d.CalendarSpec(id)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownCalendar, id)
	}
	c, err := spec.Compile()
	if err != nil {
		return nil, fmt.Errorf("calendar %q: %w", id, err)
	}
	return c, nil
}

// Group returns the group with the id.
func (d *Document) Group(id string) (Group, bool) {
	for _, g := range d.Groups {
		if g.ID == id {
			return g, true
		}
	}
	return Group{}, false
}

// GroupsAtTier returns the groups working at a tier, in document order.
func (d *Document) GroupsAtTier(tier int) []Group {
	var out []Group
	for _, g := range d.Groups {
		if g.Tier == tier {
			out = append(out, g)
		}
	}
	return out
}

// EscalationRulesFor returns, in document order, every rule whose trigger fits the event
// (warning, breach or escalated), the SLA target ("response" or "resolution"; "" for
// escalated) and the warning percent, and whose match fits the ticket's priority and
// current tier. A rule's Percent 0 fits any percent and its Target "" either target.
//
// (It cannot be named EscalationRules: that is the document's field of all the rules.)
func (d *Document) EscalationRulesFor(event, target string, percent int, p events.Priority, tier int) []EscalationRule {
	var out []EscalationRule
	for _, r := range d.EscalationRules {
		if r.On.Event != event ||
			(r.On.Percent != 0 && r.On.Percent != percent) ||
			(r.On.Target != "" && r.On.Target != target) ||
			!matches(r.Match.Priorities, p) || !matches(r.Match.Tiers, tier) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// ManagerChain returns the manager with the id, then their manager, and so on upward.
// It stops at the top, at an unknown id, and before a manager it has already returned,
// so a loop (refused by Validate) cannot make it run forever.
func (d *Document) ManagerChain(managerID string) []Person {
	var out []Person
	seen := map[string]bool{}
	for id := managerID; id != "" && !seen[id]; {
		seen[id] = true
		i := slices.IndexFunc(d.Managers, func(p Person) bool { return p.ID == id })
		if i < 0 {
			break
		}
		out = append(out, d.Managers[i])
		id = d.Managers[i].Manager
	}
	return out
}

// Agent returns the agent with the id and the (first) group it belongs to.
func (d *Document) Agent(id string) (Agent, Group, bool) {
	for _, g := range d.Groups {
		for _, a := range g.Agents {
			if a.ID == id {
				return a, g, true
			}
		}
	}
	return Agent{}, Group{}, false
}

// Webhook returns the webhook with the id.
func (d *Document) Webhook(id string) (Webhook, bool) {
	i := slices.IndexFunc(d.Webhooks, func(w Webhook) bool { return w.ID == id })
	if i < 0 {
		return Webhook{}, false
	}
	return d.Webhooks[i], true
}

// WebhooksFor returns the webhooks that receive notifications for the role: those that
// list it and those that list no roles.
func (d *Document) WebhooksFor(role string) []Webhook {
	var out []Webhook
	for _, w := range d.Webhooks {
		if len(w.Roles) == 0 || slices.Contains(w.Roles, role) {
			out = append(out, w)
		}
	}
	return out
}

// matches reports whether an empty list (any) or a list holding v fits v.
func matches[T comparable](list []T, v T) bool {
	return len(list) == 0 || slices.Contains(list, v)
}

// Location is the tenant's time zone: TimeZone, else the first calendar's, else UTC (also
// for a zone that does not load and for "Local", which Validate refuses: the answer never
// depends on the machine).
func (d *Document) Location() *time.Location {
	name := d.TimeZone
	if name == "" && len(d.Calendars) > 0 {
		name = d.Calendars[0].TimeZone
	}
	if loc, err := time.LoadLocation(name); err == nil && name != "" && name != "Local" {
		return loc
	}
	return time.UTC
}
