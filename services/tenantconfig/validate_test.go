package tenantconfig_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

func parse(t *testing.T, src string) tenantconfig.Document {
	t.Helper()
	doc, err := tenantconfig.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	doc.SetDefaults()
	return doc
}

const base = `
tenant: acme
calendars:
  - { id: office, time_zone: Europe/Berlin, hours: { monday: ["08:00-17:00"] } }
sla_policies:
  - { id: p1, match: { priorities: [P1] }, response: 15m, resolution: 4h, calendar: office }
  - { id: rest, response: 4h, resolution: 40h, warnings: [], pausing_reasons: [] }
groups:
  - id: desk
    tier: 1
    lead: { email: lead@msp.example }
    agents: [{ id: ann, email: ann@msp.example, manager: max }]
default_group: desk
managers:
  - { id: max, email: max@msp.example }
`

func TestValidDocumentAndDefaults(t *testing.T) {
	doc := parse(t, base)
	if err := doc.Validate(); err != nil {
		t.Fatalf("valid document refused: %v", err)
	}
	p1, rest := doc.SLAPolicies[0], doc.SLAPolicies[1]
	if !slices.Equal(p1.Warnings, []int{50, 75, 90}) ||
		!slices.Equal(p1.PausingReasons, []events.HoldReason{events.AwaitingCustomer, events.AwaitingVendor}) || p1.Calendar != "office" {
		t.Errorf("defaults of p1: %+v", p1)
	}
	if len(rest.Warnings) != 0 || len(rest.PausingReasons) != 0 || rest.Calendar != "24x7" {
		t.Errorf("explicitly empty lists must stay empty, calendar default 24x7: %+v", rest)
	}
	if doc.Groups[0].Strategy != tenantconfig.RoundRobin {
		t.Errorf("strategy default %q", doc.Groups[0].Strategy)
	}
}

// TestValidateListsEveryProblem: one document with a problem in every part; each is
// reported at its path.
func TestValidateListsEveryProblem(t *testing.T) {
	doc := parse(t, `
tenant: "acme corp"
time_zone: Mars/Olympus
calendars:
  - { id: office, time_zone: Mars/Base, hours: { monday: ["17:00-08:00"] }, holidays: [tomorrow] }
sla_policies:
  - { id: p1, match: { types: [outage], priorities: [P9] }, response: 0s, resolution: 4h, calendar: nowhere, warnings: [90, 50, 100], pausing_reasons: [lunch] }
  - { id: p1, response: 1h, resolution: 2h }
groups:
  - { id: desk, tier: 5, strategy: random, agents: [{ id: ann, manager: ghost, email: not-an-email }] }
  - { id: net, tier: 2, agents: [{ id: ann }] }
default_group: nowhere
routing_rules:
  - { id: r1, match: { types: [incident] }, group: ghosts, tier: 7 }
escalation_rules:
  - { id: e1, on: { event: panic }, actions: [] }
  - { id: e2, on: { event: breach, percent: 50, target: uptime }, actions: [{ notify: ceo }, { notify: assignee, escalate: functional }] }
  - { id: e3, on: { event: escalated }, actions: [{ escalate: functional }, { notify: customer_contact }] }
managers:
  - { id: a, email: a@msp.example, manager: b }
  - { id: b, email: b@msp.example, manager: a }
webhooks:
  - { id: w1, url: "ftp://example.com", secret: short, roles: [everyone] }
`)
	got := problems(doc.Validate())
	for _, want := range []string{
		"tenant:", "time_zone:",
		"calendars[0].time_zone:", "calendars[0].hours.monday[0]:", "calendars[0].holidays[0]:",
		"sla_policies[0].match.types[0]:", "sla_policies[0].match.priorities[0]:", "sla_policies[0].response:",
		"sla_policies[0].calendar:", "sla_policies[0].warnings", "sla_policies[0].pausing_reasons[0]:",
		"sla_policies[1].id:",
		"groups[0].tier:", "groups[0].strategy:", "groups[0].agents[0].manager:", "groups[0].agents[0].email:",
		"groups[1].agents[0].id:",
		"default_group:",
		"routing_rules[0].group:", "routing_rules[0].tier:",
		"escalation_rules[0].on.event:", "escalation_rules[0].actions:",
		"escalation_rules[1].on.percent:", "escalation_rules[1].on.target:", "escalation_rules[1].actions[0].notify:", "escalation_rules[1].actions[1]:",
		"escalation_rules[2].actions[0].escalate:", "escalation_rules[2].actions[1].notify:",
		"managers[0]", // the loop a → b → a
		"webhooks[0].url:", "webhooks[0].secret:", "webhooks[0].roles[0]:",
	} {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, want) }) {
			t.Errorf("no problem at %q", want)
		}
	}
	if t.Failed() {
		t.Logf("problems:\n%s", strings.Join(got, "\n"))
	}
}
