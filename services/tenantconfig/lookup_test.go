package tenantconfig_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

func TestLookups(t *testing.T) {
	doc := parse(t, base+`
escalation_rules:
  - { id: any-warning, on: { event: warning }, actions: [{ notify: assignee }] }
  - { id: p1-75-response, on: { event: warning, percent: 75, target: response }, match: { priorities: [P1] }, actions: [{ notify: group_lead }] }
  - { id: tier1-breach, on: { event: breach }, match: { tiers: [1] }, actions: [{ escalate: functional }] }
webhooks:
  - { id: all, url: "https://hooks.example/all", secret: 0123456789abcdef }
  - { id: leads, url: "https://hooks.example/leads", secret: 0123456789abcdef, roles: [group_lead] }
`)
	if err := doc.Validate(); err != nil {
		t.Fatal(err)
	}
	if p, ok := doc.Policy(events.Incident, "P1"); !ok || p.ID != "p1" {
		t.Errorf("P1 policy %q %v", p.ID, ok)
	}
	if p, ok := doc.Policy(events.Change, "P4"); !ok || p.ID != "rest" {
		t.Errorf("P4 change policy %q %v, want the catch-all", p.ID, ok)
	}

	ids := func(rules []tenantconfig.EscalationRule) []string {
		var out []string
		for _, r := range rules {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		event, target string
		percent       int
		p             events.Priority
		tier          int
		want          string
	}{
		{"warning", "response", 75, "P1", 1, "[any-warning p1-75-response]"},
		{"warning", "resolution", 75, "P1", 1, "[any-warning]"},
		{"warning", "response", 75, "P2", 1, "[any-warning]"},
		{"breach", "response", 0, "P2", 1, "[tier1-breach]"},
		{"breach", "response", 0, "P2", 2, "[]"},
		{"escalated", "", 0, "P1", 2, "[]"},
	} {
		if got := ids(doc.EscalationRulesFor(tc.event, tc.target, tc.percent, tc.p, tc.tier)); fmt.Sprint(got) != tc.want {
			t.Errorf("rules for %+v: %v, want %s", tc, got, tc.want)
		}
	}

	if hooks := doc.WebhooksFor(tenantconfig.RoleGroupLead); len(hooks) != 2 {
		t.Errorf("group_lead webhooks %v, want both", hooks)
	}
	if hooks := doc.WebhooksFor(tenantconfig.RoleAssignee); len(hooks) != 1 || hooks[0].ID != "all" {
		t.Errorf("assignee webhooks %v, want the one without roles", hooks)
	}
	if a, g, ok := doc.Agent("ann"); !ok || a.Manager != "max" || g.ID != "desk" {
		t.Errorf("agent ann: %+v in %s, %v", a, g.ID, ok)
	}

	cal, err := doc.CompileCalendar("office")
	if err != nil || cal.Location().String() != "Europe/Berlin" {
		t.Errorf("office calendar: %v", err)
	}
	if cal, err := doc.CompileCalendar("24x7"); err != nil || !cal.IsOpen(time.Date(2026, 12, 25, 3, 0, 0, 0, time.UTC)) {
		t.Errorf("24x7: %v", err)
	}
	if _, err := doc.CompileCalendar("nowhere"); !errors.Is(err, tenantconfig.ErrUnknownCalendar) {
		t.Errorf("unknown calendar: %v", err)
	}
}

// TestManagerChainStopsAtALoop: Validate refuses loops, but a chain never runs forever.
func TestManagerChainStopsAtALoop(t *testing.T) {
	doc := tenantconfig.Document{Managers: []tenantconfig.Person{
		{ID: "a", Manager: "b"}, {ID: "b", Manager: "c"}, {ID: "c", Manager: "a"}, {ID: "d"},
	}}
	var got []string
	for _, p := range doc.ManagerChain("b") {
		got = append(got, p.ID)
	}
	if fmt.Sprint(got) != "[b c a]" {
		t.Errorf("chain from b: %v", got)
	}
	if chain := doc.ManagerChain("d"); len(chain) != 1 || len(doc.ManagerChain("ghost")) != 0 {
		t.Errorf("chain from d: %v", chain)
	}
}
