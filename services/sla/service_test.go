package sla_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/services/reactor/reactortest"
	"github.com/ledgerdesk/ledgerdesk/services/sla"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// document gives P1 incidents a 2s response target and P3 incidents a 1h one, 24x7.
func document() tenantconfig.Document {
	return tenantconfig.Document{
		Tenant: "acme",
		SLAPolicies: []tenantconfig.SLAPolicy{
			{ID: "p1", Match: tenantconfig.PolicyMatch{Priorities: []events.Priority{"P1"}},
				Response: tenantconfig.Duration(2 * time.Second), Resolution: tenantconfig.Duration(time.Hour)},
			{ID: "rest", Response: tenantconfig.Duration(time.Hour), Resolution: tenantconfig.Duration(8 * time.Hour)},
		},
		Groups:       []tenantconfig.Group{{ID: "desk", Tier: 1, Agents: []tenantconfig.Agent{{ID: "alice"}}}},
		DefaultGroup: "desk",
	}
}

func incident(impact, urgency events.Level) events.Opened {
	p, err := events.PriorityOf(impact, urgency)
	if err != nil {
		panic(err)
	}
	o := eventstest.OpenedFixture("mail server down")
	o.Impact, o.Urgency, o.Priority = impact, urgency, p
	return o
}

func waitFor(t *testing.T, env reactortest.Env, ticket, typ string, n int, within time.Duration) []events.Raw {
	t.Helper()
	var got []events.Raw
	eventstest.CheckFor(t, within, 10*time.Millisecond, func() error {
		got = env.Events(t, ticket, typ)
		if len(got) < n {
			return fmt.Errorf("%d %s events, want %d", len(got), typ, n)
		}
		return nil
	})
	return got
}

func decode[T events.Payload](t *testing.T, r events.Raw) T {
	t.Helper()
	p, ok := r.Data.(T)
	if !ok {
		t.Fatalf("event %s carries %T", r.Type, r.Data)
	}
	return p
}

// TestTimersSurviveARestart: the service is down from just after the attach until just
// before the breach; the warnings and the breach are still appended, the breach within a
// second of its due time, each once.
func TestTimersSurviveARestart(t *testing.T) {
	env := reactortest.New(t)
	env.ApplyConfig(t, document())
	stop := env.Run(t, sla.New)
	opened := env.Open(t, "acme", incident(events.High, events.High))
	attached := decode[events.SLAAttached](t, waitFor(t, env, opened.TicketID, events.TypeSLAAttached, 1, 5*time.Second)[0])
	stop()
	if attached.Priority != "P1" || attached.PolicyID != "p1" || attached.Targets[0].Due == nil {
		t.Fatalf("attached %+v", attached)
	}
	due := *attached.Targets[0].Due
	if want := opened.Time.Add(2 * time.Second); !due.Equal(want) {
		t.Fatalf("response due %s, want open + 2s = %s", due, want)
	}
	time.Sleep(time.Until(due.Add(-300 * time.Millisecond))) // down until just before the due time
	env.Run(t, sla.New)
	breach := waitFor(t, env, opened.TicketID, events.TypeSLABreached, 1, 5*time.Second)[0]
	if late := breach.Time.Sub(due); late < 0 || late > time.Second {
		t.Errorf("breach appended %s after its due time, want within a second", late)
	}
	time.Sleep(500 * time.Millisecond) // any duplicate would arrive now
	warnings := env.Events(t, opened.TicketID, events.TypeSLAWarning)
	var percents []int
	for _, w := range warnings {
		percents = append(percents, decode[events.SLAWarning](t, w).Percent)
	}
	if fmt.Sprint(percents) != "[50 75 90]" || len(env.Events(t, opened.TicketID, events.TypeSLABreached)) != 1 {
		t.Errorf("warnings %v and %d breaches, want [50 75 90] and 1", percents, len(env.Events(t, opened.TicketID, events.TypeSLABreached)))
	}
}

// TestDownThroughTheDueTime: a breach that fell due while the service was down is
// appended as soon as it is back.
func TestDownThroughTheDueTime(t *testing.T) {
	env := reactortest.New(t)
	env.ApplyConfig(t, document())
	stop := env.Run(t, sla.New)
	opened := env.Open(t, "acme", incident(events.High, events.High))
	waitFor(t, env, opened.TicketID, events.TypeSLAAttached, 1, 5*time.Second)
	stop()
	time.Sleep(time.Until(opened.Time.Add(2500 * time.Millisecond)))
	restarted := time.Now()
	env.Run(t, sla.New)
	breach := waitFor(t, env, opened.TicketID, events.TypeSLABreached, 1, 5*time.Second)[0]
	if d := breach.Time.Sub(restarted); d > time.Second {
		t.Errorf("breach appended %s after the restart", d)
	}
}

// TestPriorityChangeRetargetsFromTheOpenTime: P3 → P1 re-attaches with targets measured
// from the original open time, and the pause rules hold on the way.
func TestPriorityChangeRetargetsFromTheOpenTime(t *testing.T) {
	env := reactortest.New(t)
	env.ApplyConfig(t, document())
	env.Run(t, sla.New)
	opened := env.Open(t, "acme", incident(events.Medium, events.Medium))
	first := decode[events.SLAAttached](t, waitFor(t, env, opened.TicketID, events.TypeSLAAttached, 1, 5*time.Second)[0])
	if first.PolicyID != "rest" || first.Reason != "opened" {
		t.Fatalf("first attach %+v", first)
	}
	env.Do(t, opened.TicketID, events.Reprioritized{Impact: events.High, Urgency: events.High})
	second := decode[events.SLAAttached](t, waitFor(t, env, opened.TicketID, events.TypeSLAAttached, 2, 5*time.Second)[1])
	if second.PolicyID != "p1" || second.Reason != "reprioritized" || second.Priority != "P1" {
		t.Fatalf("re-attach %+v", second)
	}
	if due := *second.Targets[0].Due; !due.Equal(opened.Time.Add(2 * time.Second)) {
		t.Errorf("re-targeted response due %s, want the original open time + 2s = %s", due, opened.Time.Add(2*time.Second))
	}
	env.Do(t, opened.TicketID, events.Assigned{Agent: "alice"})
	env.Do(t, opened.TicketID, events.Responded{Message: "looking"})
	held := env.Do(t, opened.TicketID, events.Held{Reason: events.AwaitingCustomer})[0]
	paused := waitFor(t, env, opened.TicketID, events.TypeSLAPaused, 1, 5*time.Second)[0]
	if paused.CausationID != held.ID || fmt.Sprint(decode[events.SLAPaused](t, paused).Clocks) != "[resolution]" {
		t.Errorf("paused %+v caused by %s, want the hold %s", paused.Data, paused.CausationID, held.ID)
	}
	resumed := env.Do(t, opened.TicketID, events.Resumed{})[0]
	r := waitFor(t, env, opened.TicketID, events.TypeSLAResumed, 1, 5*time.Second)[0]
	if r.CausationID != resumed.ID {
		t.Errorf("sla resumed caused by %s, want %s", r.CausationID, resumed.ID)
	}
	completed := waitFor(t, env, opened.TicketID, events.TypeSLACompleted, 1, 5*time.Second)[0]
	if c := decode[events.SLACompleted](t, completed); c.Clock != events.ClockResponse {
		t.Errorf("completed %+v, want the response clock's verdict", c)
	}
}

// TestReopenResumesTheResolutionClock: a reopen records the resolution clock's new due
// time, measured with the time it used before the resolve.
func TestReopenResumesTheResolutionClock(t *testing.T) {
	env := reactortest.New(t)
	env.ApplyConfig(t, document())
	env.Run(t, sla.New)
	opened := env.Open(t, "acme", incident(events.Medium, events.Medium))
	waitFor(t, env, opened.TicketID, events.TypeSLAAttached, 1, 5*time.Second)
	env.Do(t, opened.TicketID, events.Assigned{Agent: "alice"})
	env.Do(t, opened.TicketID, events.Responded{Message: "on it"})
	resolved := env.Do(t, opened.TicketID, events.Resolved{Code: "fixed"})[0]
	waitFor(t, env, opened.TicketID, events.TypeSLACompleted, 2, 5*time.Second)
	reopened := env.Do(t, opened.TicketID, events.Reopened{Reason: "still broken"})[0]
	r := waitFor(t, env, opened.TicketID, events.TypeSLAResumed, 1, 5*time.Second)[0]
	if r.CausationID != reopened.ID {
		t.Fatalf("sla resumed caused by %s, want the reopen %s", r.CausationID, reopened.ID)
	}
	var due *time.Time
	for _, tg := range decode[events.SLAResumed](t, r).Targets {
		if tg.Clock == events.ClockResolution {
			due = tg.Due
		}
	}
	// 8h of resolution target, of which the time between open and resolve is used.
	want := reopened.Time.Add(8*time.Hour - resolved.Time.Sub(opened.Time))
	if due == nil || due.Sub(want).Abs() > time.Millisecond {
		t.Errorf("resolution due after the reopen %v, want %s", due, want)
	}
}
