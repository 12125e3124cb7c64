package tenantconfig

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // zones load, and load alike, on a machine without (or with older) zoneinfo

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/calendar"
)

// Problem is one problem of a document, at the path of the field it is about, written
// as in the document: "sla_policies[2].response", "groups[0].agents[1].manager".
type Problem struct {
	Path   string
	Reason string
}

// Error is "path: reason" (the reason alone for a problem of the whole document).
func (p *Problem) Error() string {
	if p.Path == "" {
		return p.Reason
	}
	return p.Path + ": " + p.Reason
}

// Problems flattens an error returned by Parse or Validate into its problems, in order.
// Errors that are not *Problem become a Problem with an empty path. nil gives nil.
func Problems(err error) []*Problem {
	if err == nil {
		return nil
	}
	if p, ok := err.(*Problem); ok {
		return []*Problem{p}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*Problem
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	return []*Problem{{Reason: err.Error()}}
}

const (
	minTier      = 0
	maxTier      = events.MaxTier
	minSecretLen = 16
)

var (
	ticketTypes  = []events.TicketType{events.Incident, events.ServiceRequest, events.Problem, events.Change}
	priorities   = []events.Priority{"P1", "P2", "P3", "P4", "P5"}
	holdReasons  = []events.HoldReason{events.AwaitingCustomer, events.AwaitingVendor, events.AwaitingChange, events.AwaitingProblem}
	strategies   = []Strategy{RoundRobin, LeastLoaded, Skills}
	roles        = []string{RoleAssignee, RoleGroupLead, RoleManager, RoleCustomerContact}
	triggers     = []string{OnWarning, OnBreach, OnEscalated}
	targets      = []string{"response", "resolution"}
	escalateKind = []string{Functional, Hierarchical}
)

// Validate checks the whole document and returns every problem it finds, joined with
// errors.Join, each a *Problem (see Problems); nil when the document is valid. Call it
// after SetDefaults; a field left empty that SetDefaults would fill is not a problem.
func (d *Document) Validate() error {
	v := &validator{d: d}
	v.run()
	return errors.Join(v.problems...)
}

type validator struct {
	d        *Document
	problems []error
	groups   map[string]bool
	managers map[string]int // id → index in Managers
	calendar map[string]bool
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, &Problem{Path: path, Reason: fmt.Sprintf(format, args...)})
}

func at(list string, i int) string { return list + "[" + strconv.Itoa(i) + "]" }

func (v *validator) run() {
	d := v.d
	switch {
	case d.Tenant == "":
		v.add("tenant", "required")
	case !events.ValidToken(d.Tenant):
		v.add("tenant", "%q is not a valid tenant: 1-64 letters, digits, '-' or '_'", d.Tenant)
	}
	if d.TimeZone != "" {
		if reason := zoneProblem(d.TimeZone); reason != "" {
			v.add("time_zone", "%s", reason)
		}
	}
	v.index()
	v.calendars()
	v.policies()
	v.groupsAndAgents()
	v.routingRules()
	v.escalationRules()
	v.managerChains()
	if c := d.CustomerContact; c != nil {
		v.email("customer_contact.email", c.Email, true)
	}
	v.webhooks()
	v.alerts()
	v.evidence()
}

func (v *validator) evidence() {
	e := v.d.Evidence
	if e == nil {
		return
	}
	if e.BackupWindow < 0 {
		v.add("evidence.backup_window", "must not be negative")
	}
	if p := e.Patches; p != nil {
		for name, n := range map[string]*int{"critical": p.Critical, "important": p.Important, "moderate": p.Moderate, "low": p.Low} {
			if n != nil && *n < 0 {
				v.add("evidence.patches."+name, "must not be negative (leave it out for any number)")
			}
		}
		if p.MaxAge < 0 {
			v.add("evidence.patches.max_age", "must not be negative")
		}
	}
}

func (v *validator) alerts() {
	a := v.d.Alerts
	if a == nil {
		return
	}
	for name, s := range a.Severities {
		p := "alerts.severities." + name
		if name != strings.ToLower(name) || name == "" {
			v.add(p, "severity names are lower case (alerts' severity labels are matched case-insensitively)")
		}
		if !slices.Contains(events.Levels(), s.Impact) {
			v.add(p+".impact", "%q is not a level (%s)", s.Impact, list(events.Levels()))
		}
		if !slices.Contains(events.Levels(), s.Urgency) {
			v.add(p+".urgency", "%q is not a level (%s)", s.Urgency, list(events.Levels()))
		}
	}
	if a.Requester != nil {
		v.email("alerts.requester.email", a.Requester.Email, true)
		if strings.TrimSpace(a.Requester.Name) == "" {
			v.add("alerts.requester.name", "required")
		}
	}
	if a.OnResolved != "" && a.OnResolved != OnResolvedResolve && a.OnResolved != OnResolvedComment {
		v.add("alerts.on_resolved", "%q is not %s or %s", a.OnResolved, OnResolvedResolve, OnResolvedComment)
	}
	if a.CommentInterval < 0 {
		v.add("alerts.comment_interval", "must not be negative")
	}
}

// index collects the ids other parts refer to and checks every list's ids.
func (v *validator) index() {
	d := v.d
	v.calendar = ids(v, "calendars", len(d.Calendars), func(i int) string { return d.Calendars[i].ID })
	ids(v, "sla_policies", len(d.SLAPolicies), func(i int) string { return d.SLAPolicies[i].ID })
	v.groups = ids(v, "groups", len(d.Groups), func(i int) string { return d.Groups[i].ID })
	ids(v, "routing_rules", len(d.RoutingRules), func(i int) string { return d.RoutingRules[i].ID })
	ids(v, "escalation_rules", len(d.EscalationRules), func(i int) string { return d.EscalationRules[i].ID })
	managers := ids(v, "managers", len(d.Managers), func(i int) string { return d.Managers[i].ID })
	v.managers = map[string]int{}
	for i, m := range d.Managers {
		if _, ok := v.managers[m.ID]; !ok && managers[m.ID] {
			v.managers[m.ID] = i
		}
	}
	ids(v, "webhooks", len(d.Webhooks), func(i int) string { return d.Webhooks[i].ID })
	// Agents are unique across all groups: an agent is one person with one manager.
	seen := map[string]string{}
	for i, g := range d.Groups {
		for j, a := range g.Agents {
			path := at(at("groups", i)+".agents", j) + ".id"
			checkID(v, path, a.ID, seen)
		}
	}
}

// ids checks that every id of a list is a token and unique, and returns the valid ones.
func ids(v *validator, list string, n int, id func(int) string) map[string]bool {
	seen := map[string]string{}
	for i := range n {
		checkID(v, at(list, i)+".id", id(i), seen)
	}
	out := map[string]bool{}
	for k := range seen {
		out[k] = true
	}
	return out
}

func checkID(v *validator, path, id string, seen map[string]string) {
	switch {
	case id == "":
		v.add(path, "required")
	case !events.ValidToken(id):
		v.add(path, "%q is not a valid id: 1-64 letters, digits, '-' or '_'", id)
	default:
		if first, dup := seen[id]; dup {
			v.add(path, "duplicate id %q (already used at %s)", id, strings.TrimSuffix(first, ".id"))
			return
		}
		seen[id] = path
	}
}

func (v *validator) calendars() {
	for i, c := range v.d.Calendars {
		p := at("calendars", i)
		if c.ID == calendar.TwentyFourSevenID {
			v.add(p+".id", "%q is reserved for the built-in calendar that is always open", c.ID)
		}
		if c.TimeZone == "Local" { // the one zone name Compile accepts that is not IANA's
			v.add(p+".time_zone", "%s", zoneProblem(c.TimeZone))
		}
		if _, err := c.Spec.Compile(); err != nil {
			for _, e := range splitJoined(err) {
				// One line per problem: a range with two bad clocks joins two reasons.
				msg := strings.ReplaceAll(e.Error(), "\n", "; ")
				field, reason, ok := strings.Cut(msg, ": ")
				if !ok {
					v.add(p, "%s", msg)
					continue
				}
				v.add(p+"."+field, "%s", reason)
			}
		}
	}
}

// zoneProblem is why name is not an IANA time zone, or "". time.LoadLocation also
// accepts "Local", the zone of whatever machine runs the service, which would make
// business hours and report months depend on where the log is replayed.
func zoneProblem(name string) string {
	if name == "Local" {
		return `"Local" is the server's own zone: name an IANA time zone such as Europe/Berlin`
	}
	if _, err := time.LoadLocation(name); err != nil {
		return fmt.Sprintf("unknown IANA time zone %q", name)
	}
	return ""
}

// splitJoined returns the parts of an errors.Join error, or err alone.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (v *validator) policies() {
	for i, sp := range v.d.SLAPolicies {
		p := at("sla_policies", i)
		v.ticketTypes(p+".match.types", sp.Match.Types)
		v.priorities(p+".match.priorities", sp.Match.Priorities)
		resp, res := time.Duration(sp.Response), time.Duration(sp.Resolution)
		if resp <= 0 {
			v.add(p+".response", "must be greater than 0 (a duration such as \"30m\" or \"4h\")")
		}
		if res <= 0 {
			v.add(p+".resolution", "must be greater than 0 (a duration such as \"8h\" or \"72h\")")
		}
		if resp > 0 && res > 0 && resp > res {
			v.add(p+".response", "%s exceeds the resolution target %s: a ticket cannot be resolved before it is answered", resp, res)
		}
		if sp.Calendar != "" && sp.Calendar != calendar.TwentyFourSevenID && !v.calendar[sp.Calendar] {
			v.add(p+".calendar", "unknown calendar %q: define it under calendars or use %q", sp.Calendar, calendar.TwentyFourSevenID)
		}
		for j, w := range sp.Warnings {
			wp := at(p+".warnings", j)
			switch {
			case w < 1 || w > 99:
				v.add(wp, "%d is not a percentage in 1..99", w)
			case j > 0 && w <= sp.Warnings[j-1]:
				v.add(wp, "%d follows %d: warnings must be ascending and unique", w, sp.Warnings[j-1])
			}
		}
		for j, r := range sp.PausingReasons {
			if !slices.Contains(holdReasons, r) {
				v.add(at(p+".pausing_reasons", j), "%q is not a hold reason (%s)", r, list(holdReasons))
			}
		}
	}
}

func (v *validator) groupsAndAgents() {
	d := v.d
	if len(d.Groups) == 0 {
		v.add("groups", "at least one group is required")
	}
	for i, g := range d.Groups {
		p := at("groups", i)
		if g.Tier < minTier || g.Tier > maxTier {
			v.add(p+".tier", "%d is not a support tier (0 self-service … 4 external vendor)", g.Tier)
		}
		if g.Strategy != "" && !slices.Contains(strategies, g.Strategy) {
			v.add(p+".strategy", "%q is not a strategy (%s)", g.Strategy, list(strategies))
		}
		if g.Lead != nil {
			v.email(p+".lead.email", g.Lead.Email, true)
		}
		if len(g.Agents) == 0 {
			v.add(p+".agents", "at least one agent is required")
		}
		for j, a := range g.Agents {
			ap := at(p+".agents", j)
			v.email(ap+".email", a.Email, false)
			for k, s := range a.Skills {
				if strings.TrimSpace(s) == "" {
					v.add(at(ap+".skills", k), "must not be empty")
				}
			}
			if a.Manager != "" {
				if _, ok := v.managers[a.Manager]; !ok {
					v.add(ap+".manager", "unknown manager %q: define it under managers", a.Manager)
				}
			}
		}
	}
	switch {
	case d.DefaultGroup == "":
		v.add("default_group", "required: the group that receives tickets no routing rule matches")
	case !v.groups[d.DefaultGroup]:
		v.add("default_group", "unknown group %q", d.DefaultGroup)
	}
}

func (v *validator) routingRules() {
	for i, r := range v.d.RoutingRules {
		p := at("routing_rules", i)
		switch {
		case r.Group == "":
			v.add(p+".group", "required")
		case !v.groups[r.Group]:
			v.add(p+".group", "unknown group %q", r.Group)
		}
		if r.Tier != nil && (*r.Tier < minTier || *r.Tier > maxTier) {
			v.add(p+".tier", "%d is not a support tier (0 self-service … 4 external vendor)", *r.Tier)
		}
		m := r.Match
		v.ticketTypes(p+".match.types", m.Types)
		v.priorities(p+".match.priorities", m.Priorities)
		for _, l := range []struct {
			name   string
			values []string
		}{{"categories", m.Categories}, {"sources", m.Sources}, {"keywords", m.Keywords}, {"labels", m.Labels}} {
			for j, s := range l.values {
				if strings.TrimSpace(s) == "" {
					v.add(at(p+".match."+l.name, j), "must not be empty")
				}
			}
		}
	}
}

func (v *validator) escalationRules() {
	d := v.d
	hasLead, hasManager := false, false
	for _, g := range d.Groups {
		hasLead = hasLead || g.Lead != nil
		for _, a := range g.Agents {
			hasManager = hasManager || a.Manager != ""
		}
	}
	var warnings []int // every threshold some policy warns at
	for _, sp := range d.SLAPolicies {
		for _, w := range sp.effectiveWarnings() {
			if !slices.Contains(warnings, w) {
				warnings = append(warnings, w)
			}
		}
	}
	slices.Sort(warnings)
	for i, r := range d.EscalationRules {
		p := at("escalation_rules", i)
		on := r.On
		switch {
		case on.Event == "":
			v.add(p+".on.event", "required (%s)", strings.Join(triggers, ", "))
		case !slices.Contains(triggers, on.Event):
			v.add(p+".on.event", "%q is not a trigger (%s)", on.Event, strings.Join(triggers, ", "))
		}
		switch {
		case on.Percent < 0 || on.Percent > 99:
			v.add(p+".on.percent", "%d is not a warning threshold in 1..99 (0 or absent: any)", on.Percent)
		case on.Percent != 0 && on.Event != OnWarning:
			v.add(p+".on.percent", "only applies to on.event %s", OnWarning)
		case on.Percent != 0 && !slices.Contains(warnings, on.Percent):
			v.add(p+".on.percent", "no SLA policy warns at %d%% (their warnings: %s), so the rule would never fire", on.Percent, ints(warnings))
		}
		switch {
		case on.Target != "" && !slices.Contains(targets, on.Target):
			v.add(p+".on.target", "%q is not a target (response, resolution; absent: either)", on.Target)
		case on.Target != "" && on.Event == OnEscalated:
			v.add(p+".on.target", "only applies to on.event %s and %s", OnWarning, OnBreach)
		}
		v.priorities(p+".match.priorities", r.Match.Priorities)
		for j, t := range r.Match.Tiers {
			if t < minTier || t > maxTier {
				v.add(at(p+".match.tiers", j), "%d is not a support tier (0 … 4)", t)
			}
		}
		if len(r.Actions) == 0 {
			v.add(p+".actions", "at least one action is required")
		}
		for j, a := range r.Actions {
			ap := at(p+".actions", j)
			switch {
			case a.Notify == "" && a.Escalate == "":
				v.add(ap, "needs one of notify (%s) and escalate (%s)", strings.Join(roles, ", "), strings.Join(escalateKind, ", "))
			case a.Notify != "" && a.Escalate != "":
				v.add(ap, "has both notify and escalate: write them as two actions")
			case a.Notify != "":
				switch {
				case !slices.Contains(roles, a.Notify):
					v.add(ap+".notify", "%q is not a role (%s)", a.Notify, strings.Join(roles, ", "))
				case a.Notify == RoleCustomerContact && d.CustomerContact == nil:
					v.add(ap+".notify", "customer_contact is not set")
				case a.Notify == RoleGroupLead && !hasLead:
					v.add(ap+".notify", "no group has a lead")
				case a.Notify == RoleManager && !hasManager:
					v.add(ap+".notify", "no agent has a manager")
				}
			default:
				switch {
				case !slices.Contains(escalateKind, a.Escalate):
					v.add(ap+".escalate", "%q is not an escalation (%s)", a.Escalate, strings.Join(escalateKind, ", "))
				case a.Escalate == Functional && on.Event == OnEscalated:
					v.add(ap+".escalate", "functional escalation does not apply to on.event %s: the ticket has just been escalated", OnEscalated)
				case a.Escalate == Functional && len(r.Match.Tiers) > 0 &&
					!slices.ContainsFunc(r.Match.Tiers, func(t int) bool { return t < maxTier-1 }):
					v.add(ap+".escalate", "functional escalation moves tickets from tiers 0-%d only (tier %d, the vendor, needs a vendor case: escalate by command), but match.tiers is %s",
						maxTier-2, maxTier, ints(r.Match.Tiers))
				case a.Escalate == Hierarchical && !hasManager:
					v.add(ap+".escalate", "hierarchical escalation needs managers: no agent has a manager")
				}
			}
		}
	}
}

// managerChains checks every manager's email and manager reference, and reports each
// loop of the management chain once, at its first member in document order.
func (v *validator) managerChains() {
	d := v.d
	reported := map[string]bool{}
	for i, m := range d.Managers {
		p := at("managers", i)
		v.email(p+".email", m.Email, true)
		if m.Manager == "" {
			continue
		}
		if _, ok := v.managers[m.Manager]; !ok {
			v.add(p+".manager", "unknown manager %q", m.Manager)
			continue
		}
		// Follow the chain from m; if it comes back to m, m is on a loop.
		chain := []string{m.ID}
		seen := map[string]bool{m.ID: true}
		for cur := m.Manager; cur != ""; {
			if cur == m.ID {
				if !reported[m.ID] {
					for _, id := range chain {
						reported[id] = true
					}
					v.add(p+".manager", "the management chain loops: %s → %s", strings.Join(chain, " → "), m.ID)
				}
				break
			}
			j, ok := v.managers[cur]
			if !ok || seen[cur] { // unknown (reported at its own entry) or a loop m is not on
				break
			}
			seen[cur] = true
			chain = append(chain, cur)
			cur = d.Managers[j].Manager
		}
	}
}

func (v *validator) webhooks() {
	for i, w := range v.d.Webhooks {
		p := at("webhooks", i)
		u, err := url.Parse(w.URL)
		switch {
		case w.URL == "":
			v.add(p+".url", "required")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.add(p+".url", "%q is not an absolute http or https URL", w.URL)
		}
		if len(w.Secret) < minSecretLen {
			v.add(p+".secret", "must be at least %d characters (it signs every delivery)", minSecretLen)
		}
		for j, r := range w.Roles {
			if !slices.Contains(roles, r) {
				v.add(at(p+".roles", j), "%q is not a role (%s)", r, strings.Join(roles, ", "))
			}
		}
	}
}

func (v *validator) email(path, email string, required bool) {
	switch {
	case email == "" && required:
		v.add(path, "required")
	case email == "":
	case !strings.Contains(email, "@") || strings.HasPrefix(email, "@") || strings.HasSuffix(email, "@"):
		v.add(path, "%q is not an e-mail address", email)
	}
}

func (v *validator) ticketTypes(path string, ts []events.TicketType) {
	for j, t := range ts {
		if !slices.Contains(ticketTypes, t) {
			v.add(at(path, j), "%q is not a ticket type (%s)", t, list(ticketTypes))
		}
	}
}

func (v *validator) priorities(path string, ps []events.Priority) {
	for j, pr := range ps {
		if !slices.Contains(priorities, pr) {
			v.add(at(path, j), "%q is not a priority (P1 … P5)", pr)
		}
	}
}

func list[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

func ints(vs []int) string {
	if len(vs) == 0 {
		return "none"
	}
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ", ")
}
