package tenantconfig_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// problems renders every problem of err as "path: reason".
func problems(err error) []string {
	var out []string
	for _, p := range tenantconfig.Problems(err) {
		out = append(out, p.Error())
	}
	return out
}

func TestParseAcceptsYAMLAndJSON(t *testing.T) {
	yamlDoc := `
tenant: acme
sla_policies:
  - id: p1
    response: 30m
    resolution: 8h
escalation_rules:
  - id: r1
    on: { event: breach }   # "on" unquoted: YAML 1.1 reads it as true
    actions: [{ notify: group_lead }]
groups: [{ id: desk, tier: 1, agents: [{ id: ann, available: false }] }]
default_group: desk
`
	jsonDoc := `{"tenant":"acme","sla_policies":[{"id":"p1","response":"30m","resolution":"8h"}],
	  "escalation_rules":[{"id":"r1","on":{"event":"breach"},"actions":[{"notify":"group_lead"}]}],
	  "groups":[{"id":"desk","tier":1,"agents":[{"id":"ann","available":false}]}],"default_group":"desk"}`
	for name, src := range map[string]string{"yaml": yamlDoc, "json": jsonDoc} {
		doc, err := tenantconfig.Parse([]byte(src))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if doc.SLAPolicies[0].Response != tenantconfig.Duration(30*time.Minute) || doc.EscalationRules[0].On.Event != "breach" ||
			doc.Groups[0].Agents[0].IsAvailable() || doc.SLAPolicies[0].Warnings != nil {
			t.Errorf("%s: parsed %+v", name, doc)
		}
	}
}

func TestParseListsEveryProblem(t *testing.T) {
	_, err := tenantconfig.Parse([]byte(`
tenant: acme
sla_policy: []
sla_policies:
  - id: p1
    response: half an hour
    resolution: 8
groups:
  - id: desk
    tier: "1"
    agents: [{ id: ann, emial: ann@example.com }]
routing_rules:
  - id: r1
    match: { keywords: [no, vpn] }
    group: desk
`))
	got := problems(err)
	want := []string{
		`sla_policy: unknown field "sla_policy"`,
		`sla_policies[0].resolution:`, // a number, not a duration string
		`sla_policies[0].response:`,
		`groups[0].agents[0].emial: unknown field "emial" (did you mean "email"?)`,
		`groups[0].tier: want a whole number, got a string`,
		`routing_rules[0].match.keywords[0]: want a string, got the boolean false (YAML reads unquoted yes, no`,
	}
	if len(got) != len(want) {
		t.Fatalf("%d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
			t.Errorf("no problem %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"empty":              {"  \n# nothing\n", "the document is empty"},
		"two documents":      {"tenant: a\n---\ntenant: b\n", "more than one YAML document"},
		"a list":             {"- tenant: a\n", "must be a mapping"},
		"not YAML":           {"tenant: [a\n", "not valid YAML or JSON"},
		"a repeated key":     {"tenant: a\ntenant: b\n", "not valid YAML or JSON"},
		"a bad duration":     {"sla_policies: [{ id: p, response: 5 minutes }]\n", `sla_policies[0].response: time: unknown unit`},
		"a duration number":  {"sla_policies: [{ id: p, response: 5 }]\n", `sla_policies[0].response: duration must be a string`},
		"a mapping for list": {"groups: { id: desk }\n", "groups: want a list, got a mapping"},
	} {
		_, err := tenantconfig.Parse([]byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// TestParseDocumentMarkers: one document may be framed by markers; content after a
// second marker is a second document, which YAMLToJSON alone would silently drop.
func TestParseDocumentMarkers(t *testing.T) {
	const doc = "tenant: acme\ngroups: [{ id: desk, tier: 1, agents: [{ id: ann }] }]\ndefault_group: desk\n"
	for name, tc := range map[string]struct {
		src     string
		refused bool
	}{
		"leading marker":               {"# acme\n---\n" + doc, false},
		"trailing marker":              {doc + "---\n", false},
		"end marker":                   {"---\n" + doc + "...\n# the end\n", false},
		"content on the marker line":   {"--- {tenant: acme}\n", false},
		"two documents":                {doc + "---\n" + doc, true},
		"second on the marker line":    {doc + "--- {tenant: globex}\n", true},
		"a document after the end":     {doc + "...\ntenant: globex\n", true},
		"tab-indented JSON":            {"{\n\t\"tenant\": \"acme\",\n\t\"default_group\": \"desk\"\n}\n", false},
		"a marker-like line in a text": {"tenant: acme\ngroups: [{ id: desk, name: \"--- desk ---\", tier: 1, agents: [{ id: ann }] }]\n", false},
	} {
		_, err := tenantconfig.Parse([]byte(tc.src))
		refused := err != nil && strings.Contains(err.Error(), "more than one YAML document")
		if refused != tc.refused || (!tc.refused && err != nil) {
			t.Errorf("%s: %v, want refused %v", name, err, tc.refused)
		}
	}
}

// TestParseSuggestions: a misspelt key names the field meant; a key close to nothing
// names nothing.
func TestParseSuggestions(t *testing.T) {
	for key, want := range map[string]string{
		"tennant":        ` (did you mean "tenant"?)`,
		"Tenant":         ` (did you mean "tenant"?)`,
		"default_groups": ` (did you mean "default_group"?)`,
		"calender":       ` (did you mean "calendars"?)`,
		"xy":             "",
		"color":          "",
	} {
		_, err := tenantconfig.Parse([]byte(key + ": x\n"))
		ps := tenantconfig.Problems(err)
		if len(ps) != 1 || ps[0].Path != key || ps[0].Reason != `unknown field "`+key+`"`+want {
			t.Errorf("%s: %v, want the suggestion %q", key, ps, want)
		}
	}
}
