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
  - { id: office, time_zone: Europe/Berlin, hours: { monday: ["08:00-12:00", "13:00-17:00"] } }
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
	if rest.Warnings == nil || len(rest.Warnings) != 0 || rest.PausingReasons == nil || len(rest.PausingReasons) != 0 || rest.Calendar != "24x7" {
		t.Errorf("explicitly empty lists must stay empty (not nil), calendar default 24x7: %+v", rest)
	}
	if doc.Groups[0].Strategy != tenantconfig.RoundRobin {
		t.Errorf("strategy default %q", doc.Groups[0].Strategy)
	}

	// SetDefaults never overrides what the author wrote, and a second call changes nothing.
	doc = parse(t, strings.Replace(base, "tier: 1\n", "tier: 1\n    strategy: skills\n", 1)+
		"\n# defaults applied twice\n")
	doc.SLAPolicies[0].Warnings = []int{80}
	doc.SetDefaults()
	if doc.Groups[0].Strategy != tenantconfig.Skills || !slices.Equal(doc.SLAPolicies[0].Warnings, []int{80}) {
		t.Errorf("SetDefaults overrode the author: strategy %q, warnings %v", doc.Groups[0].Strategy, doc.SLAPolicies[0].Warnings)
	}
}

// TestValidateListsEveryProblem: one document with problems in every part; each is
// reported, once, at its exact path, and nothing else is.
func TestValidateListsEveryProblem(t *testing.T) {
	doc := parse(t, `
tenant: "acme corp"
time_zone: Local
calendars:
  - { id: office, time_zone: Mars/Base, hours: { monday: ["08:00-12:00", "11:00-17:00"], funday: ["08:00-09:00"] }, holidays: [tomorrow] }
  - { id: 24x7, time_zone: Local, hours: { sunday: ["00:00-24:00"] } }
sla_policies:
  - { id: p1, match: { types: [outage], priorities: [P9] }, response: 0s, resolution: 4h, calendar: nowhere, warnings: [90, 50, 100], pausing_reasons: [lunch] }
  - { id: p1, response: 8h, resolution: 2h }
groups:
  - { id: desk, tier: 5, strategy: random, agents: [{ id: ann, manager: ghost, email: not-an-email, skills: [" "] }] }
  - { id: net, tier: 2, lead: { name: Nobody }, agents: [{ id: ann }] }
  - { id: desk, tier: 3, agents: [] }
default_group: nowhere
routing_rules:
  - { id: r1, match: { types: [incident], keywords: [""] }, group: ghosts, tier: 7 }
  - { id: r2, group: "" }
escalation_rules:
  - { id: e1, on: { event: panic }, actions: [] }
  - { id: e2, on: { event: breach, percent: 50, target: uptime }, actions: [{ notify: ceo }, { notify: assignee, escalate: functional }, {}] }
  - { id: e3, on: { event: escalated, target: response }, actions: [{ escalate: functional }, { notify: customer_contact }] }
  - { id: e4, on: { event: warning, percent: 60 }, match: { tiers: [3, 9] }, actions: [{ escalate: functional }, { escalate: sideways }] }
  - { id: e5, on: { event: warning, percent: 100 }, actions: [{ notify: assignee }] }
  - { on: { event: breach }, actions: [{ notify: assignee }] }
managers:
  - { id: a, email: a@msp.example, manager: b }
  - { id: b, email: b@msp.example, manager: a }
  - { id: c, email: c@msp.example, manager: c }
  - { id: d, manager: nobody }
webhooks:
  - { id: w1, url: "ftp://example.com", secret: short, roles: [everyone] }
  - { id: w1, url: "/hooks/acme", secret: 0123456789abcdef }
  - { id: w3, secret: 0123456789abcdef }
`)
	got := tenantconfig.Problems(doc.Validate())
	var paths []string
	for _, p := range got {
		paths = append(paths, p.Path)
	}
	want := []string{
		"tenant",
		"time_zone",
		"calendars[0].time_zone",
		"calendars[0].hours.funday",
		"calendars[0].hours.monday[1]",
		"calendars[0].holidays[0]",
		"calendars[1].id",
		"calendars[1].time_zone",
		"sla_policies[0].match.types[0]",
		"sla_policies[0].match.priorities[0]",
		"sla_policies[0].response",
		"sla_policies[0].calendar",
		"sla_policies[0].warnings[1]",
		"sla_policies[0].warnings[2]",
		"sla_policies[0].pausing_reasons[0]",
		"sla_policies[1].id",
		"sla_policies[1].response",
		"groups[2].id",
		"groups[1].agents[0].id",
		"groups[0].tier",
		"groups[0].strategy",
		"groups[0].agents[0].email",
		"groups[0].agents[0].skills[0]",
		"groups[0].agents[0].manager",
		"groups[1].lead.email",
		"groups[2].agents",
		"default_group",
		"routing_rules[0].group",
		"routing_rules[0].tier",
		"routing_rules[0].match.keywords[0]",
		"routing_rules[1].group",
		"escalation_rules[5].id",
		"escalation_rules[0].on.event",
		"escalation_rules[0].actions",
		"escalation_rules[1].on.percent",
		"escalation_rules[1].on.target",
		"escalation_rules[1].actions[0].notify",
		"escalation_rules[1].actions[1]",
		"escalation_rules[1].actions[2]",
		"escalation_rules[2].on.target",
		"escalation_rules[2].actions[0].escalate",
		"escalation_rules[2].actions[1].notify",
		"escalation_rules[3].on.percent",
		"escalation_rules[3].match.tiers[1]",
		"escalation_rules[3].actions[0].escalate",
		"escalation_rules[3].actions[1].escalate",
		"escalation_rules[4].on.percent",
		"managers[0].manager",
		"managers[2].manager",
		"managers[3].email",
		"managers[3].manager",
		"webhooks[1].id",
		"webhooks[0].url",
		"webhooks[0].secret",
		"webhooks[0].roles[0]",
		"webhooks[1].url",
		"webhooks[2].url",
	}
	if !slices.Equal(slices.Sorted(slices.Values(paths)), slices.Sorted(slices.Values(want))) {
		var lines []string
		for _, p := range got {
			lines = append(lines, p.Error())
		}
		extra, missing := difference(paths, want), difference(want, paths)
		t.Errorf("problems at the wrong paths: unexpected %q, missing %q; got:\n%s", extra, missing, strings.Join(lines, "\n"))
	}

	// A few reasons, as the author reads them.
	for path, reason := range map[string]string{
		"time_zone":                               `"Local" is the server's own zone`,
		"calendars[0].hours.monday[1]":            `"11:00-17:00": ranges must be ascending and must not overlap`,
		"calendars[1].id":                         `"24x7" is reserved`,
		"sla_policies[0].warnings[1]":             "50 follows 90",
		"sla_policies[0].warnings[2]":             "100 is not a percentage in 1..99",
		"sla_policies[1].response":                "8h0m0s exceeds the resolution target 2h0m0s",
		"groups[1].agents[0].id":                  `duplicate id "ann" (already used at groups[0].agents[0])`,
		"escalation_rules[1].on.percent":          "only applies to on.event warning",
		"escalation_rules[1].actions[1]":          "has both notify and escalate",
		"escalation_rules[1].actions[2]":          "needs one of notify",
		"escalation_rules[2].actions[0].escalate": "does not apply to on.event escalated",
		"escalation_rules[3].on.percent":          "no SLA policy warns at 60%",
		"escalation_rules[3].actions[0].escalate": "moves tickets from tiers 0-2 only",
		"managers[0].manager":                     "the management chain loops: a → b → a",
		"managers[2].manager":                     "the management chain loops: c → c",
		"webhooks[1].url":                         `"/hooks/acme" is not an absolute http or https URL`,
	} {
		i := slices.IndexFunc(got, func(p *tenantconfig.Problem) bool { return p.Path == path })
		if i < 0 || !strings.Contains(got[i].Reason, reason) {
			t.Errorf("problem at %s: %v, want a reason with %q", path, got[i:min(i+1, len(got))], reason)
		}
	}
}

// TestValidateMore: problems that cannot share the document above.
func TestValidateMore(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(string) string
		want []string // "path: reason" prefixes, all the problems
	}{
		"no groups, no default group": {
			edit: func(s string) string {
				s = s[:strings.Index(s, "groups:")]
				return s + "managers:\n  - { id: max, email: max@msp.example }\n"
			},
			want: []string{"groups: at least one group is required", "default_group: required"},
		},
		"roles nobody fills": {
			edit: func(s string) string {
				s = strings.Replace(s, "    lead: { email: lead@msp.example }\n", "", 1)
				s = strings.Replace(s, ", manager: max", "", 1)
				return s + `escalation_rules:
  - { id: e, on: { event: breach }, actions: [{ notify: group_lead }, { notify: manager }, { escalate: hierarchical }, { notify: customer_contact }] }
`
			},
			want: []string{
				"escalation_rules[0].actions[0].notify: no group has a lead",
				"escalation_rules[0].actions[1].notify: no agent has a manager",
				"escalation_rules[0].actions[2].escalate: hierarchical escalation needs managers",
				"escalation_rules[0].actions[3].notify: customer_contact is not set",
			},
		},
		"a percent only explicit warnings allow": {
			// p1 warns at the defaults 50, 75, 90; rest at none: 75 is fine, 80 is not.
			edit: func(s string) string {
				return s + `escalation_rules:
  - { id: ok, on: { event: warning, percent: 75 }, actions: [{ notify: assignee }] }
  - { id: never, on: { event: warning, percent: 80 }, actions: [{ notify: assignee }] }
`
			},
			want: []string{"escalation_rules[1].on.percent: no SLA policy warns at 80% (their warnings: 50, 75, 90)"},
		},
		"bad clocks of one range on one line": {
			edit: func(s string) string { return strings.Replace(s, `"13:00-17:00"`, `"25:00-26:00"`, 1) },
			want: []string{`calendars[0].hours.monday[1]: "25:00-26:00": "25:00" is not a time HH:MM; "26:00" is not a time HH:MM`},
		},
		"a calendar without hours": {
			edit: func(s string) string {
				return strings.Replace(s, `hours: { monday: ["08:00-12:00", "13:00-17:00"] }`, `holidays: ["2026-12-25"]`, 1)
			},
			want: []string{"calendars[0].hours: no business hours on any weekday"},
		},
		"a customer contact without email": {
			edit: func(s string) string { return s + "customer_contact: { name: Petra }\n" },
			want: []string{"customer_contact.email: required"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			doc := parse(t, tc.edit(base))
			got := tenantconfig.Problems(doc.Validate())
			if len(got) != len(tc.want) {
				t.Errorf("%d problems, want %d: %v", len(got), len(tc.want), got)
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(got, func(p *tenantconfig.Problem) bool { return strings.HasPrefix(p.Error(), w) }) {
					t.Errorf("no problem %q in %v", w, got)
				}
			}
		})
	}
}

// TestProblems: Problems flattens joined errors in order and keeps a lone Problem.
func TestProblems(t *testing.T) {
	if tenantconfig.Problems(nil) != nil {
		t.Error("Problems(nil) is not nil")
	}
	doc := tenantconfig.Document{}
	got := tenantconfig.Problems(doc.Validate())
	if len(got) != 3 || got[0].Error() != "tenant: required" || got[1].Path != "groups" || got[2].Path != "default_group" {
		t.Errorf("problems of an empty document: %v", got)
	}
	_, err := tenantconfig.Parse(nil)
	if ps := tenantconfig.Problems(err); len(ps) != 1 || ps[0].Path != "" || ps[0].Error() != "the document is empty" {
		t.Errorf("problems of an empty file: %v", ps)
	}
}

func difference(a, b []string) []string {
	rest := slices.Clone(b)
	var out []string
	for _, s := range a {
		if i := slices.Index(rest, s); i >= 0 {
			rest = slices.Delete(rest, i, i+1)
			continue
		}
		out = append(out, s)
	}
	return out
}
