package routing_test

import (
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/routing"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// loads is a fixed Loads.
type loads struct {
	open        map[string]int // per agent
	assignments map[string]int // per group
}

func (l loads) OpenTickets(_, agent string) int { return l.open[agent] }
func (l loads) Assignments(_, group string) int { return l.assignments[group] }

func tier(n int) *int { return &n }

func pickDocument() *tenantconfig.Document {
	no := false
	return &tenantconfig.Document{
		Tenant: "acme",
		Groups: []tenantconfig.Group{
			{ID: "desk", Tier: 1, Strategy: tenantconfig.RoundRobin, Agents: []tenantconfig.Agent{{ID: "ann"}, {ID: "bob", Available: &no}, {ID: "cat"}}},
			{ID: "net", Tier: 2, Strategy: tenantconfig.LeastLoaded, Agents: []tenantconfig.Agent{{ID: "nia"}, {ID: "ned"}}},
			{ID: "eng", Tier: 3, Strategy: tenantconfig.Skills, Agents: []tenantconfig.Agent{
				{ID: "sam", Skills: []string{"Storage"}}, {ID: "sue", Skills: []string{"backup", "storage"}}, {ID: "sid"}}},
			{ID: "vip", Tier: 2, Agents: []tenantconfig.Agent{{ID: "vic", Available: &no}}},
		},
		DefaultGroup: "desk",
		RoutingRules: []tenantconfig.RoutingRule{
			{ID: "changes", Match: tenantconfig.RouteMatch{Types: []events.TicketType{events.Change}}, Group: "eng"},
			{ID: "vip", Match: tenantconfig.RouteMatch{Labels: []string{"VIP"}, Priorities: []events.Priority{"P1", "P2"}}, Group: "vip"},
			{ID: "alerts", Match: tenantconfig.RouteMatch{Sources: []string{"alertmanager"}, Categories: []string{"storage", "backup"}}, Group: "eng"},
			{ID: "vpn-words", Match: tenantconfig.RouteMatch{Keywords: []string{"VPN", "packet loss"}}, Group: "net"},
			{ID: "net-at-desk", Match: tenantconfig.RouteMatch{Categories: []string{"network"}}, Group: "desk", Tier: tier(1)},
		},
	}
}

func TestPick(t *testing.T) {
	doc := pickDocument()
	base := events.Ticket{Tenant: "acme", Type: events.Incident, Priority: "P3", Category: "printing", Source: "email", Title: "printer jammed"}
	with := func(f func(*events.Ticket)) events.Ticket { t := base; f(&t); return t }
	idle := loads{}
	for _, tc := range []struct {
		name      string
		ticket    events.Ticket
		escalated bool
		loads     loads
		want      routing.Decision
	}{
		{"no rule: default group at tier 1, round robin over the available", base, false, loads{assignments: map[string]int{"desk": 3}},
			routing.Decision{Group: "desk", Tier: 1, Agent: "cat", Strategy: tenantconfig.RoundRobin}},
		{"type", with(func(t *events.Ticket) { t.Type = events.Change }), false, idle,
			routing.Decision{Group: "eng", Tier: 3, RuleID: "changes", Agent: "sam", Strategy: tenantconfig.Skills}},
		{"labels and priority, case-insensitive; no available agent", with(func(t *events.Ticket) { t.Labels = []string{"vip"}; t.Priority = "P2" }), false, idle,
			routing.Decision{Group: "vip", Tier: 2, RuleID: "vip", Strategy: tenantconfig.RoundRobin}},
		{"labels without the priority do not match", with(func(t *events.Ticket) { t.Labels = []string{"vip"} }), false, idle,
			routing.Decision{Group: "desk", Tier: 1, Agent: "ann", Strategy: tenantconfig.RoundRobin}},
		{"source and category; skills then least loaded", with(func(t *events.Ticket) { t.Source = "AlertManager"; t.Category = "Storage" }), false,
			loads{open: map[string]int{"sam": 2, "sue": 1}},
			routing.Decision{Group: "eng", Tier: 3, RuleID: "alerts", Agent: "sue", Strategy: tenantconfig.Skills}},
		{"skills: nobody has the skill, least loaded of all", with(func(t *events.Ticket) { t.Type = events.Change; t.Category = "database" }), false,
			loads{open: map[string]int{"sam": 2, "sue": 1}},
			routing.Decision{Group: "eng", Tier: 3, RuleID: "changes", Agent: "sid", Strategy: tenantconfig.Skills}},
		{"keyword in the description", with(func(t *events.Ticket) { t.Description = "heavy Packet Loss since 9:00" }), false,
			loads{open: map[string]int{"nia": 1}},
			routing.Decision{Group: "net", Tier: 2, RuleID: "vpn-words", Agent: "ned", Strategy: tenantconfig.LeastLoaded}},
		{"least loaded: ties go to the first", with(func(t *events.Ticket) { t.Title = "VPN down" }), false, idle,
			routing.Decision{Group: "net", Tier: 2, RuleID: "vpn-words", Agent: "nia", Strategy: tenantconfig.LeastLoaded}},
		{"a rule's own tier", with(func(t *events.Ticket) { t.Category = "network" }), false, idle,
			routing.Decision{Group: "desk", Tier: 1, RuleID: "net-at-desk", Agent: "ann", Strategy: tenantconfig.RoundRobin}},
		{"escalated: the first matching rule at the new tier", with(func(t *events.Ticket) {
			t.Category, t.Title, t.Tier, t.Group = "network", "VPN flaps", 2, "desk"
		}), true, idle, routing.Decision{Group: "net", Tier: 2, RuleID: "vpn-words", Agent: "nia", Strategy: tenantconfig.LeastLoaded}},
		{"escalated without a rule at the tier: the first group at it", with(func(t *events.Ticket) { t.Tier, t.Group = 3, "net" }), true, idle,
			routing.Decision{Group: "eng", Tier: 3, Agent: "sam", Strategy: tenantconfig.Skills}},
		{"escalated to a tier without groups: stays in its group", with(func(t *events.Ticket) { t.Tier, t.Group = 4, "eng" }), true, idle,
			routing.Decision{Group: "eng", Tier: 4, Agent: "sam", Strategy: tenantconfig.Skills}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := routing.Pick(doc, tc.ticket, tc.escalated, tc.loads); got != tc.want {
				t.Errorf("Pick = %+v\nwant   %+v", got, tc.want)
			}
		})
	}
}
