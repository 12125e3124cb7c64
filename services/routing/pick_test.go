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
			{ID: "net", Tier: 2, Strategy: tenantconfig.LeastLoaded, Agents: []tenantconfig.Agent{{ID: "nat", Available: &no}, {ID: "nia"}, {ID: "ned"}}},
			{ID: "eng", Tier: 3, Strategy: tenantconfig.Skills, Agents: []tenantconfig.Agent{
				{ID: "sky", Skills: []string{"storage"}, Available: &no},
				{ID: "sam", Skills: []string{"Storage"}}, {ID: "sue", Skills: []string{"backup", "storage"}}, {ID: "sid"}}},
			{ID: "vip", Tier: 2, Agents: []tenantconfig.Agent{{ID: "vic", Available: &no}}},
			{ID: "ops", Tier: 0, Agents: []tenantconfig.Agent{{ID: "oz"}, {ID: "ola"}}}, // no strategy: round robin
		},
		DefaultGroup: "desk",
		RoutingRules: []tenantconfig.RoutingRule{
			{ID: "changes", Match: tenantconfig.RouteMatch{Types: []events.TicketType{events.Change}}, Group: "eng"},
			{ID: "vip", Match: tenantconfig.RouteMatch{Labels: []string{"VIP"}, Priorities: []events.Priority{"P1", "P2"}}, Group: "vip"},
			{ID: "major", Match: tenantconfig.RouteMatch{Labels: []string{"major"}}, Group: "net", Tier: tier(3)},
			{ID: "alerts", Match: tenantconfig.RouteMatch{Sources: []string{"alertmanager"}, Categories: []string{"storage", "backup"}}, Group: "eng"},
			{ID: "phone", Match: tenantconfig.RouteMatch{Sources: []string{"phone"}}, Group: "ops"},
			{ID: "net-at-desk", Match: tenantconfig.RouteMatch{Categories: []string{"network"}}, Group: "desk", Tier: tier(1)},
			{ID: "vpn-words", Match: tenantconfig.RouteMatch{Keywords: []string{"VPN", "packet loss"}}, Group: "net"},
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
		// Matching.
		{"no rule: the default group at tier 1, round robin over the available", base, false, loads{assignments: map[string]int{"desk": 3}},
			routing.Decision{Group: "desk", Tier: 1, Agent: "cat", Strategy: tenantconfig.RoundRobin}},
		{"type", with(func(t *events.Ticket) { t.Type = events.Change }), false, idle,
			routing.Decision{Group: "eng", Tier: 3, RuleID: "changes", Agent: "sam", Strategy: tenantconfig.Skills}},
		{"labels, case-insensitive, and priority; no available agent", with(func(t *events.Ticket) { t.Labels = []string{"x", "vip"}; t.Priority = "P2" }), false, idle,
			routing.Decision{Group: "vip", Tier: 2, RuleID: "vip", Strategy: tenantconfig.RoundRobin}},
		{"labels without the priority do not match", with(func(t *events.Ticket) { t.Labels = []string{"vip"} }), false, idle,
			routing.Decision{Group: "desk", Tier: 1, Agent: "ann", Strategy: tenantconfig.RoundRobin}},
		{"source and category, case-insensitive", with(func(t *events.Ticket) { t.Source = "AlertManager"; t.Category = "BACKUP" }), false, idle,
			routing.Decision{Group: "eng", Tier: 3, RuleID: "alerts", Agent: "sue", Strategy: tenantconfig.Skills}},
		{"source without the category does not match", with(func(t *events.Ticket) { t.Source = "alertmanager" }), false, idle,
			routing.Decision{Group: "desk", Tier: 1, Agent: "ann", Strategy: tenantconfig.RoundRobin}},
		{"keyword in the title, case-insensitive", with(func(t *events.Ticket) { t.Title = "vpn down" }), false, idle,
			routing.Decision{Group: "net", Tier: 2, RuleID: "vpn-words", Agent: "nia", Strategy: tenantconfig.LeastLoaded}},
		{"keyword in the description", with(func(t *events.Ticket) { t.Description = "heavy Packet Loss since 9:00" }), false, idle,
			routing.Decision{Group: "net", Tier: 2, RuleID: "vpn-words", Agent: "nia", Strategy: tenantconfig.LeastLoaded}},
		{"rules in order: the first that matches", with(func(t *events.Ticket) { t.Category, t.Title = "Network", "VPN down" }), false, idle,
			routing.Decision{Group: "desk", Tier: 1, RuleID: "net-at-desk", Agent: "ann", Strategy: tenantconfig.RoundRobin}},
		{"a rule's own tier over its group's", with(func(t *events.Ticket) { t.Labels = []string{"Major"} }), false, idle,
			routing.Decision{Group: "net", Tier: 3, RuleID: "major", Agent: "nia", Strategy: tenantconfig.LeastLoaded}},

		// Escalated: the ticket's tier is already the new one.
		{"escalated: matching rules at other tiers are passed over", with(func(t *events.Ticket) {
			t.Category, t.Title, t.Tier, t.Group = "network", "VPN flaps", 2, "desk"
		}), true, idle, routing.Decision{Group: "net", Tier: 2, RuleID: "vpn-words", Agent: "nia", Strategy: tenantconfig.LeastLoaded}},
		{"escalated: a rule's own tier counts", with(func(t *events.Ticket) { t.Labels, t.Tier, t.Group = []string{"major"}, 3, "net" }), true, idle,
			routing.Decision{Group: "net", Tier: 3, RuleID: "major", Agent: "nia", Strategy: tenantconfig.LeastLoaded}},
		{"escalated without a rule at the tier: the first group at it", with(func(t *events.Ticket) { t.Tier, t.Group = 2, "desk" }), true, idle,
			routing.Decision{Group: "net", Tier: 2, Agent: "nia", Strategy: tenantconfig.LeastLoaded}},
		{"escalated to a tier without groups: stays in its group", with(func(t *events.Ticket) { t.Tier, t.Group = 4, "eng" }), true,
			loads{open: map[string]int{"sam": 1}},
			routing.Decision{Group: "eng", Tier: 4, Agent: "sue", Strategy: tenantconfig.Skills}},
		{"escalated to a tier without groups, never routed: the default group", with(func(t *events.Ticket) { t.Tier = 4 }), true, idle,
			routing.Decision{Group: "desk", Tier: 4, Agent: "ann", Strategy: tenantconfig.RoundRobin}},

		// Strategies.
		{"round robin wraps around the available", base, false, loads{assignments: map[string]int{"desk": 4}},
			routing.Decision{Group: "desk", Tier: 1, Agent: "ann", Strategy: tenantconfig.RoundRobin}},
		{"a group without a strategy: round robin", with(func(t *events.Ticket) { t.Source = "phone" }), false, loads{assignments: map[string]int{"ops": 5}},
			routing.Decision{Group: "ops", Tier: 0, RuleID: "phone", Agent: "ola", Strategy: tenantconfig.RoundRobin}},
		{"least loaded, passing over an idle agent who is away", with(func(t *events.Ticket) { t.Title = "VPN down" }), false,
			loads{open: map[string]int{"nia": 3, "ned": 1}},
			routing.Decision{Group: "net", Tier: 2, RuleID: "vpn-words", Agent: "ned", Strategy: tenantconfig.LeastLoaded}},
		{"least loaded: ties go to the first available", with(func(t *events.Ticket) { t.Title = "VPN down" }), false,
			loads{open: map[string]int{"nia": 2, "ned": 2}},
			routing.Decision{Group: "net", Tier: 2, RuleID: "vpn-words", Agent: "nia", Strategy: tenantconfig.LeastLoaded}},
		{"skills, case-insensitive: the least loaded of the skilled who are available", with(func(t *events.Ticket) {
			t.Source, t.Category = "alertmanager", "Storage"
		}), false, loads{open: map[string]int{"sam": 2, "sue": 1}},
			routing.Decision{Group: "eng", Tier: 3, RuleID: "alerts", Agent: "sue", Strategy: tenantconfig.Skills}},
		{"skills: nobody has the skill, the least loaded of all available", with(func(t *events.Ticket) { t.Type, t.Category = events.Change, "database" }), false,
			loads{open: map[string]int{"sam": 2, "sue": 1}},
			routing.Decision{Group: "eng", Tier: 3, RuleID: "changes", Agent: "sid", Strategy: tenantconfig.Skills}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := routing.Pick(doc, tc.ticket, tc.escalated, tc.loads); got != tc.want {
				t.Errorf("Pick = %+v\nwant   %+v", got, tc.want)
			}
		})
	}
}

// TestPickEmptyLoads: a ticket of a tenant the loads know nothing of goes to the first
// available agent, whatever the strategy.
func TestPickEmptyLoads(t *testing.T) {
	doc := pickDocument()
	for _, g := range []string{"desk", "net", "eng", "ops"} {
		grp, _ := doc.Group(g)
		tk := events.Ticket{Tenant: "acme", Tier: grp.Tier, Group: g}
		d := routing.Pick(doc, tk, true, routing.NewView())
		want := map[string]string{"desk": "ann", "net": "nia", "eng": "sam", "ops": "oz"}[g]
		if d.Group != g || d.Agent != want {
			t.Errorf("%s: %+v, want agent %s", g, d, want)
		}
	}
}
