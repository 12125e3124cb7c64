package events

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var tkNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// tkStates is every lifecycle state, including the not-yet-opened one.
var tkStates = []State{StateNone, StateNew, StateAssigned, StateInProgress, StateOnHold,
	StateResolved, StateClosed, StateCancelled}

// tkAllowed is the state machine under test: command → from state → resulting state.
// Every (state, command) pair not listed here must be refused with a *TransitionError.
var tkAllowed = map[string]map[State]State{
	"open": {StateNone: StateNew},
	"route": {StateNew: StateNew, StateAssigned: StateAssigned,
		StateInProgress: StateInProgress, StateOnHold: StateOnHold},
	"assign": {StateNew: StateAssigned, StateAssigned: StateAssigned,
		StateInProgress: StateInProgress, StateOnHold: StateOnHold},
	"respond": {StateAssigned: StateInProgress, StateInProgress: StateInProgress},
	"comment": {StateNew: StateNew, StateAssigned: StateAssigned,
		StateInProgress: StateInProgress, StateOnHold: StateOnHold, StateResolved: StateResolved},
	"hold":   {StateInProgress: StateOnHold},
	"resume": {StateOnHold: StateInProgress},
	"reprioritize": {StateNew: StateNew, StateAssigned: StateAssigned,
		StateInProgress: StateInProgress, StateOnHold: StateOnHold},
	"recategorize": {StateNew: StateNew, StateAssigned: StateAssigned,
		StateInProgress: StateInProgress, StateOnHold: StateOnHold},
	"escalate": {StateNew: StateNew, StateAssigned: StateAssigned,
		StateInProgress: StateInProgress, StateOnHold: StateOnHold},
	"resolve": {StateNew: StateResolved, StateAssigned: StateResolved, StateInProgress: StateResolved, StateOnHold: StateResolved},
	"reopen":  {StateResolved: StateInProgress},
	"close":   {StateResolved: StateClosed},
	"cancel": {StateNew: StateCancelled, StateAssigned: StateCancelled,
		StateInProgress: StateCancelled, StateOnHold: StateCancelled},
	"link": {StateNew: StateNew, StateAssigned: StateAssigned,
		StateInProgress: StateInProgress, StateOnHold: StateOnHold, StateResolved: StateResolved},
}

// tkOpened is a valid open command.
func tkOpened() Opened {
	return Opened{
		Type: Incident, Title: "VPN down", Description: "since 9am",
		Requester: Requester{Name: "Ada", Email: "ada@example.com"},
		Impact:    High, Urgency: Medium, Category: "network", Source: "portal",
	}
}

// tkValid returns a command that is valid for tkTicket in any state that allows it.
func tkValid(name string) Payload {
	switch name {
	case "open":
		return tkOpened()
	case "route":
		return Routed{Group: "network", Tier: 2, RuleID: "r1", RuleVersion: 1}
	case "assign":
		return Assigned{Agent: "bob", Group: "network"}
	case "respond":
		return Responded{Message: "looking into it"}
	case "comment":
		return Commented{Body: "checked the gateway"}
	case "hold":
		return Held{Reason: AwaitingCustomer}
	case "resume":
		return Resumed{}
	case "reprioritize":
		return Reprioritized{Impact: Low, Urgency: Low}
	case "recategorize":
		return Recategorized{Category: "hardware"}
	case "escalate":
		return Escalated{}
	case "resolve":
		return Resolved{Code: "fixed"}
	case "reopen":
		return Reopened{Reason: "back again"}
	case "close":
		return Closed{}
	case "cancel":
		return Cancelled{Reason: "duplicate"}
	case "link":
		return Linked{Kind: LinkProblem, Target: "T-2"}
	}
	panic("unknown command " + name)
}

// tkPtr returns a pointer to a copy of a payload value, as NewCommand would hand out.
func tkPtr(p Payload) Payload {
	v := reflect.New(reflect.TypeOf(p))
	v.Elem().Set(reflect.ValueOf(p))
	return v.Interface().(Payload)
}

// tkTicket is an opened ticket in state s; resolved an hour before tkNow.
func tkTicket(s State) Ticket {
	if s == StateNone {
		return Ticket{}
	}
	t := Ticket{
		ID: "T-1", Tenant: "acme", Type: Incident, Title: "VPN down",
		Requester: Requester{Name: "Ada", Email: "ada@example.com"},
		Impact:    High, Urgency: Medium, Priority: "P2", Category: "network", Source: "portal",
		State: s, Tier: 1, OpenedAt: tkNow.Add(-48 * time.Hour), Version: 3,
	}
	switch s {
	case StateOnHold:
		t.HoldReason = AwaitingCustomer
	case StateResolved, StateClosed:
		t.ResolvedAt = tkNow.Add(-time.Hour)
	}
	return t
}

// tkApply evolves t through the decided payloads as events at tkNow.
func tkApply(t Ticket, ps []Payload) Ticket {
	for _, p := range ps {
		t = Evolve(t, Event{Type: p.EventType(), TicketID: "T-1", Tenant: "acme", Time: tkNow, Data: p})
	}
	return t
}

func tkCommandNames() []string {
	names := make([]string, 0, len(tkAllowed))
	for n := range tkAllowed {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// tkAllowedIn lists, sorted, the commands the table allows in s.
func tkAllowedIn(s State) []string {
	var out []string
	for _, n := range tkCommandNames() {
		if _, ok := tkAllowed[n][s]; ok {
			out = append(out, n)
		}
	}
	return out
}

func TestAllowedCommands(t *testing.T) {
	for _, s := range tkStates {
		got := tkTicket(s).AllowedCommands()
		want := tkAllowedIn(s)
		if len(want) == 0 {
			want = []string{}
		}
		if !slices.Equal(got, want) {
			t.Errorf("AllowedCommands(%q) = %v, want %v", s, got, want)
		}
		if !slices.IsSorted(got) {
			t.Errorf("AllowedCommands(%q) not sorted: %v", s, got)
		}
	}
	for _, s := range []State{StateClosed, StateCancelled} {
		if got := tkTicket(s).AllowedCommands(); len(got) != 0 {
			t.Errorf("terminal state %q allows %v", s, got)
		}
	}
}

// TestTransitions covers every (state × command) pair: allowed pairs must produce
// events that evolve to the expected state, refused pairs a *TransitionError.
func TestTransitions(t *testing.T) {
	for _, s := range tkStates {
		for _, name := range tkCommandNames() {
			to, allowed := tkAllowed[name][s]
			for _, form := range []string{"value", "pointer"} {
				cmd := tkValid(name)
				if form == "pointer" {
					cmd = tkPtr(cmd)
				}
				t.Run(string(s)+"/"+name+"/"+form, func(t *testing.T) {
					tk := tkTicket(s)
					before := tk.Version
					evs, err := Decide(tk, cmd, tkNow)
					if !allowed {
						var te *TransitionError
						if !errors.As(err, &te) {
							t.Fatalf("Decide = %v, %v; want *TransitionError", evs, err)
						}
						if te.Command != name || te.State != s {
							t.Errorf("TransitionError = %+v, want command %q state %q", te, name, s)
						}
						want := tkAllowedIn(s)
						if len(want) == 0 {
							want = []string{}
						}
						if !slices.Equal(te.Allowed, want) {
							t.Errorf("Allowed = %v, want %v", te.Allowed, want)
						}
						if evs != nil {
							t.Errorf("refused command returned events %v", evs)
						}
						return
					}
					if err != nil {
						t.Fatalf("Decide: %v", err)
					}
					if len(evs) == 0 {
						t.Fatal("Decide returned no events")
					}
					for _, e := range evs {
						if reflect.TypeOf(e).Kind() == reflect.Pointer {
							t.Errorf("Decide returned pointer payload %T", e)
						}
					}
					if CommandName(evs[0]) != name {
						t.Errorf("first event %T, want the %s event", evs[0], name)
					}
					got := tkApply(tk, evs)
					if got.State != to {
						t.Errorf("state after %s from %q = %q, want %q", name, s, got.State, to)
					}
					if got.Version != before+uint64(len(evs)) {
						t.Errorf("Version = %d, want %d", got.Version, before+uint64(len(evs)))
					}
					if !got.UpdatedAt.Equal(tkNow) {
						t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, tkNow)
					}
				})
			}
		}
	}
}

func TestValidation(t *testing.T) {
	opened := func(f func(*Opened)) Payload { o := tkOpened(); f(&o); return o }
	tier := func(s State, tier int) Ticket { tk := tkTicket(s); tk.Tier = tier; return tk }
	cases := []struct {
		name  string
		tk    Ticket
		cmd   Payload
		field string
	}{
		{"open bad type", Ticket{}, opened(func(o *Opened) { o.Type = "bug" }), "type"},
		{"open empty type", Ticket{}, opened(func(o *Opened) { o.Type = "" }), "type"},
		{"open empty title", Ticket{}, opened(func(o *Opened) { o.Title = "" }), "title"},
		{"open blank title", Ticket{}, opened(func(o *Opened) { o.Title = "   " }), "title"},
		{"open long title", Ticket{}, opened(func(o *Opened) { o.Title = strings.Repeat("x", 201) }), "title"},
		{"open no requester name", Ticket{}, opened(func(o *Opened) { o.Requester.Name = "" }), "requester.name"},
		{"open bad email", Ticket{}, opened(func(o *Opened) { o.Requester.Email = "ada.example.com" }), "requester.email"},
		{"open empty email", Ticket{}, opened(func(o *Opened) { o.Requester.Email = "" }), "requester.email"},
		{"open bad impact", Ticket{}, opened(func(o *Opened) { o.Impact = "huge" }), "impact"},
		{"open bad urgency", Ticket{}, opened(func(o *Opened) { o.Urgency = "" }), "urgency"},
		{"open no category", Ticket{}, opened(func(o *Opened) { o.Category = "" }), "category"},
		{"open no source", Ticket{}, opened(func(o *Opened) { o.Source = "" }), "source"},
		{"open contradicting priority", Ticket{}, opened(func(o *Opened) { o.Priority = "P5" }), "priority"},
		{"route no group", tkTicket(StateNew), Routed{Tier: 1}, "group"},
		{"route negative tier", tkTicket(StateNew), Routed{Group: "g", Tier: -1}, "tier"},
		{"route tier 5", tkTicket(StateNew), Routed{Group: "g", Tier: 5}, "tier"},
		{"assign no agent", tkTicket(StateNew), Assigned{Group: "g"}, "agent"},
		{"respond no message", tkTicket(StateAssigned), Responded{}, "message"},
		{"comment no body", tkTicket(StateInProgress), Commented{Public: true}, "body"},
		{"hold no reason", tkTicket(StateInProgress), Held{}, "reason"},
		{"hold bad reason", tkTicket(StateInProgress), Held{Reason: "lunch"}, "reason"},
		{"reprioritize unchanged", tkTicket(StateNew), Reprioritized{Impact: High, Urgency: Medium}, "impact"},
		{"reprioritize bad impact", tkTicket(StateNew), Reprioritized{Impact: "x", Urgency: Low}, "impact"},
		{"reprioritize bad urgency", tkTicket(StateNew), Reprioritized{Impact: Low, Urgency: "x"}, "urgency"},
		{"reprioritize contradicting priority", tkTicket(StateNew), Reprioritized{Impact: Low, Urgency: Low, Priority: "P1"}, "priority"},
		{"recategorize empty", tkTicket(StateNew), Recategorized{}, "category"},
		{"recategorize unchanged", tkTicket(StateNew), Recategorized{Category: "network"}, "category"},
		{"escalate same tier", tier(StateNew, 2), Escalated{Tier: 2}, "tier"},
		{"escalate lower tier", tier(StateNew, 2), Escalated{Tier: 1}, "tier"},
		{"escalate tier 5", tkTicket(StateNew), Escalated{Tier: 5}, "tier"},
		{"escalate beyond vendor", tier(StateInProgress, 4), Escalated{}, "tier"},
		{"escalate tier 4 no vendor", tkTicket(StateNew), Escalated{Tier: 4, VendorCase: "C-1"}, "vendor"},
		{"escalate tier 4 no case", tkTicket(StateNew), Escalated{Tier: 4, Vendor: "Cisco"}, "vendor_case"},
		{"escalate implicit tier 4 no vendor", tier(StateNew, 3), Escalated{}, "vendor"},
		{"link bad kind", tkTicket(StateNew), Linked{Kind: "sibling", Target: "T-2"}, "kind"},
		{"link no target", tkTicket(StateNew), Linked{Kind: LinkParent}, "target"},
		{"link to itself", tkTicket(StateNew), Linked{Kind: LinkDuplicateOf, Target: "T-1"}, "target"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, cmd := range []Payload{c.cmd, tkPtr(c.cmd)} {
				evs, err := Decide(c.tk, cmd, tkNow)
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("Decide(%T) = %v, %v; want *ValidationError", cmd, evs, err)
				}
				if ve.Field != c.field {
					t.Errorf("Field = %q (%s), want %q", ve.Field, ve.Reason, c.field)
				}
				if ve.Reason == "" {
					t.Error("empty Reason")
				}
				if evs != nil {
					t.Errorf("invalid command returned events %v", evs)
				}
			}
		})
	}
}

func TestOpen(t *testing.T) {
	o := tkOpened()
	o.Title = strings.Repeat("x", 200)
	o.MajorIncident = true
	evs, err := Decide(Ticket{}, &o, tkNow)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := evs[0].(Opened)
	if len(evs) != 1 || !ok {
		t.Fatalf("Decide = %#v, want one Opened", evs)
	}
	if got.Priority != "P2" {
		t.Errorf("Priority = %q, want P2 (high × medium)", got.Priority)
	}
	tk := Fold([]Event{{Type: TypeOpened, TicketID: "T-9", Tenant: "acme", Time: tkNow, Data: got}})
	want := Ticket{
		ID: "T-9", Tenant: "acme", Type: Incident, Title: o.Title, Description: o.Description,
		Requester: o.Requester, Impact: High, Urgency: Medium, Priority: "P2", MajorIncident: true,
		Category: "network", Source: "portal", State: StateNew, Tier: 1,
		OpenedAt: tkNow, UpdatedAt: tkNow, Version: 1,
	}
	if !reflect.DeepEqual(tk, want) {
		t.Errorf("Fold =\n%+v\nwant\n%+v", tk, want)
	}
	// A matching client priority is accepted.
	o.Priority = "P2"
	if _, err := Decide(Ticket{}, o, tkNow); err != nil {
		t.Errorf("matching priority refused: %v", err)
	}
}

func TestReopenWindow(t *testing.T) {
	cases := []struct {
		name     string
		resolved time.Duration // before now
		ok       bool
	}{
		{"just resolved", 0, true},
		{"one day", 24 * time.Hour, true},
		{"exactly the window", ReopenWindow, true},
		{"just past the window", ReopenWindow + time.Nanosecond, false},
		{"a month", 30 * 24 * time.Hour, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk := tkTicket(StateResolved)
			tk.ResolvedAt = tkNow.Add(-c.resolved)
			evs, err := Decide(tk, Reopened{}, tkNow)
			if !c.ok {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != "reopen" {
					t.Fatalf("Decide = %v, %v; want *ValidationError on reopen", evs, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := tkApply(tk, evs)
			if got.State != StateInProgress || got.Reopens != 1 {
				t.Errorf("after reopen: state %q reopens %d", got.State, got.Reopens)
			}
		})
	}
}

func TestEscalationTiers(t *testing.T) {
	cases := []struct {
		name      string
		state     State
		tier      int
		cmd       Escalated
		wantTier  int
		wantHeld  bool
		wantState State
	}{
		{"implicit next tier", StateNew, 1, Escalated{}, 2, false, StateNew},
		{"from self-service", StateAssigned, 0, Escalated{}, 1, false, StateAssigned},
		{"explicit tier", StateInProgress, 1, Escalated{Tier: 3, Reason: "needs eng"}, 3, false, StateInProgress},
		{"vendor while worked holds", StateInProgress, 2, Escalated{Tier: 4, Vendor: "Cisco", VendorCase: "C-1"}, 4, true, StateOnHold},
		{"implicit vendor tier", StateInProgress, 3, Escalated{Vendor: "Cisco", VendorCase: "C-1"}, 4, true, StateOnHold},
		{"vendor from new", StateNew, 1, Escalated{Tier: 4, Vendor: "Cisco", VendorCase: "C-1"}, 4, false, StateNew},
		{"vendor while on hold", StateOnHold, 3, Escalated{Tier: 4, Vendor: "Cisco", VendorCase: "C-1"}, 4, false, StateOnHold},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk := tkTicket(c.state)
			tk.Tier = c.tier
			tk.Escalations = 1
			evs, err := Decide(tk, &c.cmd, tkNow)
			if err != nil {
				t.Fatal(err)
			}
			esc, ok := evs[0].(Escalated)
			if !ok || esc.Tier != c.wantTier {
				t.Fatalf("first event %#v, want Escalated to tier %d", evs[0], c.wantTier)
			}
			if c.wantHeld {
				if len(evs) != 2 || evs[1] != (Held{Reason: AwaitingVendor}) {
					t.Fatalf("events %#v, want Escalated then Held awaiting_vendor", evs)
				}
			} else if len(evs) != 1 {
				t.Fatalf("events %#v, want only Escalated", evs)
			}
			got := tkApply(tk, evs)
			if got.Tier != c.wantTier || got.Escalations != 2 || got.State != c.wantState {
				t.Errorf("after escalate: tier %d escalations %d state %q; want %d 2 %q",
					got.Tier, got.Escalations, got.State, c.wantTier, c.wantState)
			}
			if c.wantHeld && got.HoldReason != AwaitingVendor {
				t.Errorf("HoldReason = %q, want awaiting_vendor", got.HoldReason)
			}
			if got.Vendor != c.cmd.Vendor || got.VendorCase != c.cmd.VendorCase {
				t.Errorf("vendor %q/%q, want %q/%q", got.Vendor, got.VendorCase, c.cmd.Vendor, c.cmd.VendorCase)
			}
		})
	}
}

func TestPriorityOf(t *testing.T) {
	cells := []struct {
		impact, urgency Level
		want            Priority
	}{
		{High, High, "P1"}, {High, Medium, "P2"}, {Medium, High, "P2"},
		{High, Low, "P3"}, {Medium, Medium, "P3"}, {Low, High, "P3"},
		{Medium, Low, "P4"}, {Low, Medium, "P4"}, {Low, Low, "P5"},
	}
	for _, c := range cells {
		got, err := PriorityOf(c.impact, c.urgency)
		if err != nil || got != c.want {
			t.Errorf("PriorityOf(%s, %s) = %q, %v; want %q", c.impact, c.urgency, got, err, c.want)
		}
	}
	bad := []struct {
		impact, urgency Level
		field           string
	}{
		{"", High, "impact"}, {"HIGH", High, "impact"}, {"critical", Low, "impact"},
		{High, "", "urgency"}, {Low, "urgent", "urgency"}, {"x", "y", "impact"},
	}
	for _, c := range bad {
		got, err := PriorityOf(c.impact, c.urgency)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field || ve.Reason != "must be one of high, medium, low" || got != "" {
			t.Errorf("PriorityOf(%q, %q) = %q, %v; want ValidationError on %s", c.impact, c.urgency, got, err, c.field)
		}
	}
}

func TestReprioritizeFillsPriority(t *testing.T) {
	tk := tkTicket(StateInProgress)
	evs, err := Decide(tk, &Reprioritized{Impact: Low, Urgency: High, Reason: "workaround found"}, tkNow)
	if err != nil {
		t.Fatal(err)
	}
	want := Reprioritized{Impact: Low, Urgency: High, Priority: "P3", Reason: "workaround found"}
	if len(evs) != 1 || evs[0] != want {
		t.Fatalf("Decide = %#v, want %#v", evs, want)
	}
	got := tkApply(tk, evs)
	if got.Impact != Low || got.Urgency != High || got.Priority != "P3" {
		t.Errorf("after reprioritize: %s/%s/%s", got.Impact, got.Urgency, got.Priority)
	}
}

// TestFold folds a whole life and checks the facts each event contributes.
func TestFold(t *testing.T) {
	at := func(h int) time.Time { return tkNow.Add(time.Duration(h) * time.Hour) }
	ps := []Payload{
		tkOpened(),
		Routed{Group: "network", Tier: 2, RuleID: "r1", RuleVersion: 3},
		&Assigned{Agent: "bob"},
		Responded{Message: "on it"},
		Held{Reason: AwaitingCustomer},
		Resumed{},
		Linked{Kind: LinkProblem, Target: "P-1"},
		Escalated{Tier: 4, Vendor: "Cisco", VendorCase: "C-1"},
		Resolved{Code: "fixed"},
		Reopened{},
		Resolved{},
		Closed{},
	}
	evs := make([]Event, len(ps))
	for i, p := range ps {
		evs[i] = Event{Type: p.EventType(), TicketID: "T-1", Tenant: "acme", Time: at(i), Data: p}
	}
	tk := Fold(evs)
	if tk.ID != "T-1" || tk.Tenant != "acme" || !tk.OpenedAt.Equal(at(0)) {
		t.Errorf("identity %q %q %v", tk.ID, tk.Tenant, tk.OpenedAt)
	}
	if tk.Group != "network" || tk.Agent != "bob" || !tk.Responded {
		t.Errorf("group %q agent %q responded %v", tk.Group, tk.Agent, tk.Responded)
	}
	if tk.Tier != 4 || tk.Escalations != 1 || tk.Vendor != "Cisco" || tk.VendorCase != "C-1" {
		t.Errorf("tier %d escalations %d vendor %q/%q", tk.Tier, tk.Escalations, tk.Vendor, tk.VendorCase)
	}
	if !slices.Equal(tk.Links, []Link{{Kind: LinkProblem, Target: "P-1"}}) {
		t.Errorf("links %v", tk.Links)
	}
	if tk.State != StateClosed || tk.Reopens != 1 || tk.HoldReason != "" {
		t.Errorf("state %q reopens %d hold %q", tk.State, tk.Reopens, tk.HoldReason)
	}
	if !tk.ResolvedAt.Equal(at(10)) || !tk.UpdatedAt.Equal(at(11)) || tk.Version != uint64(len(ps)) {
		t.Errorf("resolved %v updated %v version %d", tk.ResolvedAt, tk.UpdatedAt, tk.Version)
	}
	if got := Fold(nil); !reflect.DeepEqual(got, Ticket{}) {
		t.Errorf("Fold(nil) = %+v", got)
	}
}

func TestHoldResolveClearsReason(t *testing.T) {
	tk := tkTicket(StateOnHold)
	tk.HoldReason = AwaitingVendor
	evs, err := Decide(tk, Resolved{}, tkNow)
	if err != nil {
		t.Fatal(err)
	}
	got := tkApply(tk, evs)
	if got.HoldReason != "" || !got.ResolvedAt.Equal(tkNow) {
		t.Errorf("after resolve: hold %q resolved %v", got.HoldReason, got.ResolvedAt)
	}
	evs, _ = Decide(tk, Resumed{}, tkNow)
	if got := tkApply(tk, evs); got.HoldReason != "" {
		t.Errorf("after resume: hold %q", got.HoldReason)
	}
}

// TestEvolveDoesNotAlias checks that folding a link never writes into an earlier state's slice.
func TestEvolveDoesNotAlias(t *testing.T) {
	base := tkTicket(StateNew)
	base.Links = make([]Link, 1, 4)
	base.Links[0] = Link{Kind: LinkParent, Target: "T-0"}
	a := Evolve(base, Event{Time: tkNow, Data: Linked{Kind: LinkChild, Target: "T-2"}})
	b := Evolve(base, Event{Time: tkNow, Data: Linked{Kind: LinkChild, Target: "T-3"}})
	if a.Links[1].Target != "T-2" || b.Links[1].Target != "T-3" || len(base.Links) != 1 {
		t.Errorf("aliased links: a %v b %v base %v", a.Links, b.Links, base.Links)
	}
}

func TestCommandNameRoundTrip(t *testing.T) {
	exposed := []string{"assign", "respond", "comment", "hold", "resume", "reprioritize",
		"recategorize", "escalate", "resolve", "reopen", "close", "cancel", "link"}
	for _, name := range exposed {
		p, ok := NewCommand(name)
		if !ok {
			t.Errorf("NewCommand(%q) unknown", name)
			continue
		}
		v := reflect.ValueOf(p)
		if v.Kind() != reflect.Pointer || !v.Elem().IsZero() {
			t.Errorf("NewCommand(%q) = %#v, want pointer to zero payload", name, p)
		}
		if got := CommandName(p); got != name {
			t.Errorf("CommandName(%T) = %q, want %q", p, got, name)
		}
		if got := CommandName(deref(p)); got != name {
			t.Errorf("CommandName(%T) = %q, want %q", deref(p), got, name)
		}
	}
	for _, name := range []string{"", "delete", "Hold", "opened"} {
		if p, ok := NewCommand(name); ok {
			t.Errorf("NewCommand(%q) = %T, true; want false", name, p)
		}
	}
	if got := CommandName(Opened{}); got != "open" {
		t.Errorf("CommandName(Opened) = %q", got)
	}
	if got := CommandName(&Routed{}); got != "route" {
		t.Errorf("CommandName(*Routed) = %q", got)
	}
	if got := CommandName(Held{}); got != "hold" {
		t.Errorf("CommandName(Held) = %q", got)
	}
	// Every registered event type but the derived ones has exactly one command name;
	// no command requests a derived type.
	seen := map[string]bool{}
	for _, pt := range PayloadTypes() {
		typ, name := pt.EventType, CommandName(reflect.New(pt.Go).Elem().Interface().(Payload))
		if IsDerived(typ) {
			if name != "" {
				t.Errorf("derived event type %s has command name %q", typ, name)
			}
			continue
		}
		if name == "" || seen[name] {
			t.Errorf("event type %s: command name %q missing or duplicated", typ, name)
		}
		seen[name] = true
	}
}
