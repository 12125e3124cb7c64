package routing

import (
	"slices"
	"strings"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// Loads are the counts the assignment strategies need, as recorded in the log.
type Loads interface {
	// OpenTickets is the number of the tenant's open tickets assigned to the agent.
	OpenTickets(tenant, agent string) int
	// Assignments is the number of assignments ever made to the tenant's group.
	Assignments(tenant, group string) int
}

// Decision is where a ticket goes: group, tier and, when one is available, agent.
type Decision struct {
	Group string
	Tier  int
	// RuleID is the routing rule that picked the group; "" when none did (the default
	// group, or the first group at an escalated ticket's tier).
	RuleID   string
	Agent    string // "" when the group has no available agent
	Strategy tenantconfig.Strategy
}

// Pick decides where the ticket goes and who works it. It is pure: the document, the
// ticket as it stands after its trigger and the loads decide.
//
// A ticket not escalated goes to the first rule that matches it, at the rule's tier or
// else its group's; when none matches, to the default group at tier 1. An escalated
// ticket (its tier already raised) goes to the first matching rule at its new tier, else
// to the first group at that tier, else stays in its group at the new tier.
func Pick(doc *tenantconfig.Document, t events.Ticket, escalated bool, loads Loads) Decision {
	d := Decision{Group: doc.DefaultGroup, Tier: 1}
	if escalated {
		d = Decision{Group: t.Group, Tier: t.Tier}
		if d.Group == "" {
			d.Group = doc.DefaultGroup
		}
		if gs := doc.GroupsAtTier(t.Tier); len(gs) > 0 {
			d.Group = gs[0].ID
		}
	}
	text := strings.ToLower(t.Title + "\n" + t.Description) // what keywords are sought in
	for _, r := range doc.RoutingRules {
		if !ruleMatches(r.Match, t, text) {
			continue
		}
		tier := ruleTier(doc, r)
		if escalated && tier != t.Tier {
			continue
		}
		d = Decision{Group: r.Group, Tier: tier, RuleID: r.ID}
		break
	}
	g, ok := doc.Group(d.Group)
	if !ok {
		return d
	}
	d.Strategy = g.Strategy
	if d.Strategy == "" {
		d.Strategy = tenantconfig.RoundRobin
	}
	d.Agent = pickAgent(g, d.Strategy, t, loads)
	return d
}

// ruleTier is the rule's own tier, or else its group's.
func ruleTier(doc *tenantconfig.Document, r tenantconfig.RoutingRule) int {
	if r.Tier != nil {
		return *r.Tier
	}
	g, _ := doc.Group(r.Group)
	return g.Tier
}

// ruleMatches: every non-empty list of the match must fit the ticket; text is the
// ticket's title and description in lower case.
func ruleMatches(m tenantconfig.RouteMatch, t events.Ticket, text string) bool {
	return anyOf(m.Types, func(v events.TicketType) bool { return v == t.Type }) &&
		anyOf(m.Priorities, func(v events.Priority) bool { return v == t.Priority }) &&
		anyOf(m.Categories, func(v string) bool { return strings.EqualFold(v, t.Category) }) &&
		anyOf(m.Sources, func(v string) bool { return strings.EqualFold(v, t.Source) }) &&
		anyOf(m.Keywords, func(v string) bool { return strings.Contains(text, strings.ToLower(v)) }) &&
		anyOf(m.Labels, func(v string) bool {
			return slices.ContainsFunc(t.Labels, func(l string) bool { return strings.EqualFold(l, v) })
		})
}

// anyOf is true for an empty list (no condition) or when an element fits.
func anyOf[T any](list []T, fits func(T) bool) bool {
	return len(list) == 0 || slices.ContainsFunc(list, fits)
}

// pickAgent applies the group's strategy to its available agents; "" when none is.
func pickAgent(g tenantconfig.Group, s tenantconfig.Strategy, t events.Ticket, loads Loads) string {
	var available []tenantconfig.Agent
	for _, a := range g.Agents {
		if a.IsAvailable() {
			available = append(available, a)
		}
	}
	if len(available) == 0 {
		return ""
	}
	switch s {
	case tenantconfig.LeastLoaded:
		return leastLoaded(available, t.Tenant, loads)
	case tenantconfig.Skills:
		var skilled []tenantconfig.Agent
		for _, a := range available {
			if slices.ContainsFunc(a.Skills, func(s string) bool { return strings.EqualFold(s, t.Category) }) {
				skilled = append(skilled, a)
			}
		}
		if len(skilled) == 0 {
			skilled = available
		}
		return leastLoaded(skilled, t.Tenant, loads)
	default:
		return available[loads.Assignments(t.Tenant, g.ID)%len(available)].ID
	}
}

// leastLoaded is the agent with the fewest open tickets; ties go to the first. agents
// is not empty.
func leastLoaded(agents []tenantconfig.Agent, tenant string, loads Loads) string {
	best, bestLoad := 0, loads.OpenTickets(tenant, agents[0].ID)
	for i, a := range agents[1:] {
		if n := loads.OpenTickets(tenant, a.ID); n < bestLoad {
			best, bestLoad = i+1, n
		}
	}
	return agents[best].ID
}
