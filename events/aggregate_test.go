package events

import (
	"errors"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func validOpen() Opened {
	return Opened{Type: Incident, Title: "VPN down", Description: "d", Requester: Requester{Name: "Ann", Email: "ann@example.com"},
		Impact: High, Urgency: Medium, Category: "network", Source: "email"}
}

// ticketIn returns a ticket folded into the given state through real events.
func ticketIn(t *testing.T, s State) Ticket {
	t.Helper()
	paths := map[State][]Payload{
		StateNone:       nil,
		StateNew:        {validOpen()},
		StateAssigned:   {validOpen(), Assigned{Agent: "bob"}},
		StateInProgress: {validOpen(), Assigned{Agent: "bob"}, Responded{Message: "hi"}},
		StateOnHold:     {validOpen(), Assigned{Agent: "bob"}, Responded{Message: "hi"}, Held{Reason: AwaitingCustomer}},
		StateResolved:   {validOpen(), Assigned{Agent: "bob"}, Responded{Message: "hi"}, Resolved{}},
		StateClosed:     {validOpen(), Assigned{Agent: "bob"}, Responded{Message: "hi"}, Resolved{}, Closed{}},
		StateCancelled:  {validOpen(), Cancelled{}},
	}
	var tk Ticket
	for i, p := range paths[s] {
		tk = Evolve(tk, Event{TicketID: "T1", Tenant: "acme", Time: t0.Add(time.Duration(i) * time.Minute), Data: p})
	}
	if tk.State != s {
		t.Fatalf("fixture for %q folded to %q", s, tk.State)
	}
	return tk
}

// validCommand is a command of each name that passes field validation in any state it
// is allowed in.
var validCommand = map[string]Payload{
	"open":         validOpen(),
	"route":        Routed{Group: "network", Tier: 2},
	"assign":       Assigned{Agent: "carol"},
	"respond":      Responded{Message: "on it"},
	"comment":      Commented{Body: "note"},
	"hold":         Held{Reason: AwaitingVendor},
	"resume":       Resumed{},
	"reprioritize": Reprioritized{Impact: Low, Urgency: Low},
	"recategorize": Recategorized{Category: "firewall"},
	"escalate":     Escalated{Tier: 3},
	"resolve":      Resolved{Code: "fixed"},
	"reopen":       Reopened{Reason: "again"},
	"close":        Closed{},
	"cancel":       Cancelled{Reason: "dup"},
	"link":         Linked{Kind: LinkProblem, Target: "P9"},
}

// allowed is the state machine of design.md: per state, each allowed command and the
// state after it. Every pair missing here must be refused.
var allowed = map[State]map[string]State{
	StateNone: {"open": StateNew},
	StateNew: {"route": StateNew, "assign": StateAssigned, "comment": StateNew, "reprioritize": StateNew,
		"recategorize": StateNew, "escalate": StateNew, "cancel": StateCancelled, "link": StateNew},
	StateAssigned: {"route": StateAssigned, "assign": StateAssigned, "respond": StateInProgress, "comment": StateAssigned,
		"reprioritize": StateAssigned, "recategorize": StateAssigned, "escalate": StateAssigned, "cancel": StateCancelled, "link": StateAssigned},
	StateInProgress: {"route": StateInProgress, "assign": StateInProgress, "respond": StateInProgress, "comment": StateInProgress,
		"hold": StateOnHold, "reprioritize": StateInProgress, "recategorize": StateInProgress, "escalate": StateInProgress,
		"resolve": StateResolved, "cancel": StateCancelled, "link": StateInProgress},
	StateOnHold: {"route": StateOnHold, "assign": StateOnHold, "comment": StateOnHold, "resume": StateInProgress,
		"reprioritize": StateOnHold, "recategorize": StateOnHold, "escalate": StateOnHold, "resolve": StateResolved,
		"cancel": StateCancelled, "link": StateOnHold},
	StateResolved:  {"comment": StateResolved, "reopen": StateInProgress, "close": StateClosed, "link": StateResolved},
	StateClosed:    {},
	StateCancelled: {},
}

func TestStateMachineEveryPair(t *testing.T) {
	for state, okCmds := range allowed {
		for name, cmd := range validCommand {
			tk := ticketIn(t, state)
			now := t0.Add(time.Hour)
			t.Run(string(state)+"/"+name, func(t *testing.T) {
				evs, err := Decide(tk, cmd, now)
				next, ok := okCmds[name]
				if !ok {
					var te *TransitionError
					if !errors.As(err, &te) {
						t.Fatalf("Decide = %v, %v; want a TransitionError", evs, err)
					}
					want := slices.Sorted(func(yield func(string) bool) {
						for c := range okCmds {
							if !yield(c) {
								return
							}
						}
					})
					if te.Command != name || te.State != state || !slices.Equal(te.Allowed, want) {
						t.Fatalf("TransitionError = %+v, want allowed %v", te, want)
					}
					return
				}
				if err != nil {
					t.Fatalf("Decide: %v", err)
				}
				for _, e := range evs {
					tk = Evolve(tk, Event{TicketID: "T1", Tenant: "acme", Time: now, Data: e})
				}
				if tk.State != next {
					t.Fatalf("state after %s = %q, want %q", name, tk.State, next)
				}
			})
		}
	}
}

func TestPriorityMatrix(t *testing.T) {
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
		o := validOpen()
		o.Impact, o.Urgency = c.impact, c.urgency
		evs, err := Decide(Ticket{}, o, t0)
		if err != nil || evs[0].(Opened).Priority != c.want {
			t.Errorf("open %s/%s: %v, %v; want priority %q", c.impact, c.urgency, evs, err, c.want)
		}
	}
	for _, bad := range []struct {
		impact, urgency Level
		field           string
	}{{"huge", High, "impact"}, {High, "", "urgency"}} {
		var ve *ValidationError
		if _, err := PriorityOf(bad.impact, bad.urgency); !errors.As(err, &ve) || ve.Field != bad.field {
			t.Errorf("PriorityOf(%q, %q) = %v, want a ValidationError on %s", bad.impact, bad.urgency, err, bad.field)
		}
	}
}

func TestFieldValidation(t *testing.T) {
	open := func(f func(*Opened)) Payload { o := validOpen(); f(&o); return o }
	inProgress, resolved := ticketIn(t, StateInProgress), ticketIn(t, StateResolved)
	cases := []struct {
		name  string
		tk    Ticket
		cmd   Payload
		now   time.Time
		field string
	}{
		{"open bad type", Ticket{}, open(func(o *Opened) { o.Type = "outage" }), t0, "type"},
		{"open no title", Ticket{}, open(func(o *Opened) { o.Title = " " }), t0, "title"},
		{"open long title", Ticket{}, open(func(o *Opened) { o.Title = string(make([]byte, 201)) + "x" }), t0, "title"},
		{"open no requester", Ticket{}, open(func(o *Opened) { o.Requester.Name = "" }), t0, "requester.name"},
		{"open bad email", Ticket{}, open(func(o *Opened) { o.Requester.Email = "ann" }), t0, "requester.email"},
		{"open bad urgency", Ticket{}, open(func(o *Opened) { o.Urgency = "soon" }), t0, "urgency"},
		{"open no category", Ticket{}, open(func(o *Opened) { o.Category = "" }), t0, "category"},
		{"open no source", Ticket{}, open(func(o *Opened) { o.Source = "" }), t0, "source"},
		{"open contradicting priority", Ticket{}, open(func(o *Opened) { o.Priority = "P5" }), t0, "priority"},
		{"route no group", inProgress, Routed{Tier: 1}, t0, "group"},
		{"route tier 5", inProgress, Routed{Group: "g", Tier: 5}, t0, "tier"},
		{"assign no agent", inProgress, Assigned{}, t0, "agent"},
		{"respond empty", inProgress, Responded{}, t0, "message"},
		{"comment empty", inProgress, Commented{}, t0, "body"},
		{"hold bad reason", inProgress, Held{Reason: "lunch"}, t0, "reason"},
		{"reprioritize unchanged", inProgress, Reprioritized{Impact: High, Urgency: Medium}, t0, "impact"},
		{"reprioritize bad level", inProgress, Reprioritized{Impact: High, Urgency: "x"}, t0, "urgency"},
		{"recategorize unchanged", inProgress, Recategorized{Category: "network"}, t0, "category"},
		{"escalate down", inProgress, Escalated{Tier: 1}, t0, "tier"},
		{"escalate beyond 4", inProgress, Escalated{Tier: 5}, t0, "tier"},
		{"escalate to vendor without vendor", inProgress, Escalated{Tier: 4, VendorCase: "C1"}, t0, "vendor"},
		{"escalate to vendor without case", inProgress, Escalated{Tier: 4, Vendor: "V"}, t0, "vendor_case"},
		{"link bad kind", inProgress, Linked{Kind: "friend", Target: "X"}, t0, "kind"},
		{"link to itself", inProgress, Linked{Kind: LinkParent, Target: "T1"}, t0, "target"},
		{"reopen after window", resolved, Reopened{}, resolved.ResolvedAt.Add(ReopenWindow + time.Second), "reopen"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ve *ValidationError
			if evs, err := Decide(c.tk, c.cmd, c.now); !errors.As(err, &ve) || ve.Field != c.field {
				t.Fatalf("Decide = %v, %v; want a ValidationError on %s", evs, err, c.field)
			}
		})
	}
}

func TestReopenWithinWindow(t *testing.T) {
	tk := ticketIn(t, StateResolved)
	evs, err := Decide(tk, &Reopened{}, tk.ResolvedAt.Add(ReopenWindow))
	if err != nil || len(evs) != 1 {
		t.Fatalf("reopen at the window's end: %v, %v", evs, err)
	}
	tk = Evolve(tk, Event{Time: tk.ResolvedAt.Add(ReopenWindow), Data: evs[0]})
	if tk.State != StateInProgress || tk.Reopens != 1 || !tk.ResolvedAt.IsZero() {
		t.Fatalf("after reopen: %+v", tk)
	}
}

func TestEscalation(t *testing.T) {
	tk := ticketIn(t, StateInProgress)
	evs, err := Decide(tk, Escalated{}, t0)
	if err != nil || evs[0].(Escalated).Tier != 2 {
		t.Fatalf("escalate without tier: %v, %v; want the next tier, 2", evs, err)
	}
	evs, err = Decide(tk, Escalated{Tier: 4, Vendor: "Fortinet", VendorCase: "FN-1"}, t0)
	if err != nil || len(evs) != 2 || evs[1] != (Held{Reason: AwaitingVendor}) {
		t.Fatalf("escalate to vendor: %v, %v; want escalated then held awaiting_vendor", evs, err)
	}
	for _, e := range evs {
		tk = Evolve(tk, Event{Time: t0, Data: e})
	}
	if tk.Tier != 4 || tk.Vendor != "Fortinet" || tk.VendorCase != "FN-1" || tk.State != StateOnHold ||
		tk.HoldReason != AwaitingVendor || tk.Escalations != 1 {
		t.Fatalf("after vendor escalation: %+v", tk)
	}
}

func TestEvolveRecordsFacts(t *testing.T) {
	tk := ticketIn(t, StateNew)
	if tk.ID != "T1" || tk.Tenant != "acme" || tk.Priority != "" || tk.Tier != 1 || !tk.OpenedAt.Equal(t0) || tk.Version != 1 {
		t.Fatalf("opened: %+v", tk)
	}
	tk = Evolve(tk, Event{Time: t0, Data: &Reprioritized{Impact: High, Urgency: High, Priority: "P1"}})
	tk = Evolve(tk, Event{Time: t0, Data: Linked{Kind: LinkProblem, Target: "P1"}})
	tk = Evolve(tk, Event{Time: t0, Data: Routed{Group: "net", Tier: 2}})
	if tk.Priority != "P1" || len(tk.Links) != 1 || tk.Group != "net" || tk.Tier != 2 || tk.Version != 4 {
		t.Fatalf("after facts: %+v", tk)
	}
}

func TestCommandNames(t *testing.T) {
	for name := range validCommand {
		p, ok := NewCommand(name)
		if !ok || CommandName(p) != name {
			t.Errorf("NewCommand(%q) = %T, %v; CommandName = %q", name, p, ok, CommandName(p))
		}
	}
	if _, ok := NewCommand("explode"); ok {
		t.Error("unknown command accepted")
	}
}
