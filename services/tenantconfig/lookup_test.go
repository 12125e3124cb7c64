package tenantconfig_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/calendar"
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
		{"warning", "response", 50, "P1", 1, "[any-warning]"},
		{"breach", "resolution", 0, "P1", 1, "[tier1-breach]"},
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
	if w, ok := doc.Webhook("leads"); !ok || w.URL != "https://hooks.example/leads" {
		t.Errorf("webhook leads: %+v %v", w, ok)
	}
	if _, ok := doc.Webhook("nope"); ok {
		t.Error("an unknown webhook was found")
	}
	if a, g, ok := doc.Agent("ann"); !ok || a.Manager != "max" || g.ID != "desk" {
		t.Errorf("agent ann: %+v in %s, %v", a, g.ID, ok)
	}

	// Compiled calendars are compared as values: their arithmetic is package calendar's.
	office, err := doc.Calendars[0].Spec.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if cal, err := doc.CompileCalendar("office"); err != nil || !reflect.DeepEqual(cal, office) {
		t.Errorf("office calendar: %v", err)
	}
	for _, id := range []string{"24x7", ""} {
		if cal, err := doc.CompileCalendar(id); err != nil || !reflect.DeepEqual(cal, calendar.TwentyFourSeven()) {
			t.Errorf("calendar %q: %v, want the built-in 24x7", id, err)
		}
	}
	if _, err := doc.CompileCalendar("nowhere"); !errors.Is(err, tenantconfig.ErrUnknownCalendar) || !strings.Contains(err.Error(), `"nowhere"`) {
		t.Errorf("unknown calendar: %v", err)
	}
	if spec, ok := doc.CalendarSpec("office"); !ok || spec.TimeZone != "Europe/Berlin" {
		t.Errorf("office spec: %+v %v", spec, ok)
	}
	if _, ok := doc.CalendarSpec("24x7"); ok {
		t.Error("24x7 has a spec")
	}
	broken := doc
	broken.Calendars = []tenantconfig.Calendar{{ID: "office", Spec: calendar.Spec{TimeZone: "Mars/Base"}}}
	if _, err := broken.CompileCalendar("office"); err == nil || errors.Is(err, tenantconfig.ErrUnknownCalendar) ||
		!strings.Contains(err.Error(), `calendar "office": time_zone`) {
		t.Errorf("calendar that does not compile: %v", err)
	}
}

// TestPolicyFirstMatch: policies are tried in document order, the first that fits
// applies, and a ticket none fits has no SLA.
func TestPolicyFirstMatch(t *testing.T) {
	doc := parse(t, `
tenant: acme
sla_policies:
  - { id: major, match: { types: [incident], priorities: [P1] }, response: 5m, resolution: 1h }
  - { id: urgent, match: { priorities: [P1, P2] }, response: 15m, resolution: 4h }
  - { id: incidents, match: { types: [incident] }, response: 1h, resolution: 8h }
  - { id: never, match: { types: [incident], priorities: [P1] }, response: 1m, resolution: 2m }
groups: [{ id: desk, tier: 1, agents: [{ id: ann }] }]
default_group: desk
`)
	for _, tc := range []struct {
		typ  events.TicketType
		p    events.Priority
		want string
	}{
		{events.Incident, "P1", "major"},
		{events.Change, "P1", "urgent"},
		{events.Incident, "P2", "urgent"},
		{events.Incident, "P5", "incidents"},
		{events.Change, "P3", ""},
		{events.Problem, "P4", ""},
	} {
		p, ok := doc.Policy(tc.typ, tc.p)
		if p.ID != tc.want || ok != (tc.want != "") {
			t.Errorf("policy of a %s %s: %q %v, want %q", tc.p, tc.typ, p.ID, ok, tc.want)
		}
	}
}

func TestGroupsAndLocation(t *testing.T) {
	doc := parse(t, base+`
time_zone: America/New_York
`)
	doc.Groups = append(doc.Groups, tenantconfig.Group{ID: "net", Tier: 2}, tenantconfig.Group{ID: "night", Tier: 1})
	var ids []string
	for _, g := range doc.GroupsAtTier(1) {
		ids = append(ids, g.ID)
	}
	if fmt.Sprint(ids) != "[desk night]" || len(doc.GroupsAtTier(4)) != 0 {
		t.Errorf("groups at tier 1: %v", ids)
	}
	if g, ok := doc.Group("net"); !ok || g.Tier != 2 {
		t.Errorf("group net: %+v %v", g, ok)
	}
	if _, ok := doc.Group("ghost"); ok {
		t.Error("group ghost found")
	}
	if _, _, ok := doc.Agent("ghost"); ok {
		t.Error("agent ghost found")
	}
	if loc := doc.Location().String(); loc != "America/New_York" {
		t.Errorf("location %s, want the document's time_zone", loc)
	}
	doc.TimeZone = ""
	if loc := doc.Location().String(); loc != "Europe/Berlin" {
		t.Errorf("location %s, want the first calendar's", loc)
	}
	doc.Calendars = nil
	if loc := doc.Location(); loc != time.UTC {
		t.Errorf("location %s, want UTC", loc)
	}
	for _, zone := range []string{"Local", "Mars/Olympus"} {
		doc.TimeZone = zone
		if loc := doc.Location(); loc != time.UTC {
			t.Errorf("location of %q: %s, want UTC", zone, loc)
		}
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
