package sla_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/calendar"
	"github.com/ledgerdesk/ledgerdesk/services/sla"
)

// t0 is a Monday morning.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// history builds a ticket's events at offsets from t0; ids are "e0", "e1", ….
type history []events.Event

func (h history) at(offset time.Duration, p events.Payload) history {
	return append(h, events.Event{ID: fmt.Sprintf("e%d", len(h)), Time: t0.Add(offset), Data: p})
}

func opened(p events.Priority) history {
	return history{}.at(0, events.Opened{Type: events.Incident, Priority: p})
}

// policies: P1 1h/4h, P3 4h/24h, 24x7 with the default warnings and pausing reasons; no
// policy for P5.
func policies(cal *calendar.Calendar) sla.PolicyFor {
	return func(tt events.TicketType, p events.Priority) (sla.Policy, bool) {
		pol := sla.Policy{Version: 3, CalendarID: "cal", Calendar: cal, Warnings: []int{50, 75, 90},
			Pausing: []events.HoldReason{events.AwaitingCustomer, events.AwaitingVendor}}
		switch p {
		case "P1":
			pol.ID, pol.Response, pol.Resolution = "p1", time.Hour, 4*time.Hour
		case "P3":
			pol.ID, pol.Response, pol.Resolution = "p3", 4*time.Hour, 24*time.Hour
		default:
			return sla.Policy{}, false
		}
		return pol, true
	}
}

func evaluate(h history, at time.Duration) sla.Status {
	return sla.Evaluate(h, policies(calendar.TwentyFourSeven()), t0.Add(at))
}

// TestEveryThreshold walks the response clock of a P1 through 50, 75 and 90 % to its
// breach: what has been crossed, and when the next timer is due.
func TestEveryThreshold(t *testing.T) {
	h := opened("P1")
	for _, tc := range []struct {
		at       time.Duration
		crossed  []int
		breached bool
		next     time.Duration // 0: none
	}{
		{0, nil, false, 30 * time.Minute},
		{29*time.Minute + 59*time.Second, nil, false, 30 * time.Minute},
		{30 * time.Minute, []int{50}, false, 45 * time.Minute},
		{45 * time.Minute, []int{50, 75}, false, 54 * time.Minute},
		{54 * time.Minute, []int{50, 75, 90}, false, time.Hour},
		{time.Hour - time.Millisecond, []int{50, 75, 90}, false, time.Hour},
		{time.Hour, []int{50, 75, 90}, true, 0},
		{5 * time.Hour, []int{50, 75, 90}, true, 0},
	} {
		st := evaluate(h, tc.at)
		c := st.Clocks[0]
		var next time.Duration
		if !c.Next.IsZero() {
			next = c.Next.Sub(t0)
		}
		if !st.Applies || c.Name != events.ClockResponse || !slices.Equal(c.Crossed, tc.crossed) ||
			c.Breached != tc.breached || next != tc.next || !c.Due.Equal(t0.Add(time.Hour)) || c.Elapsed != tc.at {
			t.Errorf("at %s: crossed %v breached %v next %s due %s elapsed %s; want %v %v %s due %s",
				tc.at, c.Crossed, c.Breached, next, c.Due.Sub(t0), c.Elapsed, tc.crossed, tc.breached, tc.next, time.Hour)
		}
	}
	if res := evaluate(h, 5*time.Hour).Clocks[1]; !res.Breached || !res.Due.Equal(t0.Add(4*time.Hour)) {
		t.Errorf("resolution clock at 5h: %+v, want breached at 4h", res)
	}
}

// TestPauseRules: before the first response a pausing hold pauses both clocks; after
// it only the resolution clock; a hold for a reason that does not pause pauses nothing.
func TestPauseRules(t *testing.T) {
	h := opened("P1").
		at(10*time.Minute, events.Held{Reason: events.AwaitingCustomer}). // e1: pauses both
		at(40*time.Minute, events.Resumed{}).
		at(50*time.Minute, events.Responded{Message: "on it"}).         // e3: response used 20m
		at(60*time.Minute, events.Held{Reason: events.AwaitingVendor}). // e4: pauses resolution
		at(90*time.Minute, events.Resumed{}).
		at(100*time.Minute, events.Held{Reason: events.AwaitingChange}) // not pausing

	during := evaluate(h[:2], 20*time.Minute)
	for _, c := range during.Clocks {
		if !c.Paused || c.PausedBy != "e1" || c.Running || c.Elapsed != 10*time.Minute || !c.Next.IsZero() {
			t.Errorf("during the first hold: %+v, want both paused by e1 at 10m used", c)
		}
	}
	if want := t0.Add(20*time.Minute + 50*time.Minute); !during.Clocks[0].Due.Equal(want) {
		t.Errorf("paused response due %s, want now + the 50m left", during.Clocks[0].Due.Sub(t0))
	}

	st := evaluate(h, 120*time.Minute)
	resp, res := st.Clocks[0], st.Clocks[1]
	if !resp.Stopped || resp.StoppedBy != "e3" || resp.Elapsed != 20*time.Minute || resp.Breached || !resp.Due.IsZero() {
		t.Errorf("response clock %+v, want stopped by e3 after 20m, met", resp)
	}
	// resolution: 0–10, 40–60, 90–120 = 60m
	if !res.Running || res.Paused || res.Elapsed != 60*time.Minute || !res.Due.Equal(t0.Add(120*time.Minute+3*time.Hour)) {
		t.Errorf("resolution clock %+v, want running with 60m used, due in 3h", res)
	}
	if !slices.Equal(res.Crossed, nil) || !res.Next.Equal(t0.Add(120*time.Minute+time.Hour)) {
		t.Errorf("resolution clock crossed %v next %s, want none and 50%% in 1h", res.Crossed, res.Next.Sub(t0))
	}

	// A hold while the response clock is already stopped pauses only the resolution clock.
	held := evaluate(h[:5], 70*time.Minute)
	if held.Clocks[0].Paused || !held.Clocks[1].Paused || held.Clocks[1].PausedBy != "e4" {
		t.Errorf("after the response, a hold paused response=%v resolution=%v", held.Clocks[0].Paused, held.Clocks[1].Paused)
	}
}

// TestRetargetIsRetroactive: P3 → P1 two hours in measures the P1 targets from the open
// time, keeping the pause accrued before, and so is breached at once.
func TestRetargetIsRetroactive(t *testing.T) {
	h := opened("P3").
		at(10*time.Minute, events.Held{Reason: events.AwaitingCustomer}).
		at(40*time.Minute, events.Resumed{}).
		at(2*time.Hour, events.Reprioritized{Priority: "P1"})
	before := evaluate(h, 119*time.Minute)
	if before.Policy.ID != "p3" || before.Clocks[0].Breached {
		t.Fatalf("before the change: policy %s breached %v", before.Policy.ID, before.Clocks[0].Breached)
	}
	st := evaluate(h, 2*time.Hour)
	resp := st.Clocks[0]
	if st.Policy.ID != "p1" || st.Priority != "P1" || st.Policy.Version != 3 {
		t.Fatalf("after the change: %+v", st)
	}
	// 1h of business time with the 30m hold excluded: due at 1h30.
	if !resp.Breached || !resp.Due.Equal(t0.Add(90*time.Minute)) || resp.Elapsed != 90*time.Minute {
		t.Errorf("re-targeted response clock %+v, want breached, due at 1h30, 1h30 used", resp)
	}
	if res := st.Clocks[1]; res.Breached || !slices.Equal(res.Crossed, nil) || !res.Due.Equal(t0.Add(4*time.Hour+30*time.Minute)) {
		t.Errorf("re-targeted resolution clock %+v, want due at 4h30", res)
	}
}

// TestResolveReopenCancel: resolve stops both clocks with a verdict, reopen runs the
// resolution clock on from where it stopped, cancel gives no verdict.
func TestResolveReopenCancel(t *testing.T) {
	h := opened("P1").
		at(2*time.Hour, events.Resolved{Code: "fixed"}). // e1: response never given
		at(3*time.Hour, events.Reopened{}).
		at(4*time.Hour, events.Resolved{Code: "fixed"}) // e3
	st := evaluate(h[:2], 150*time.Minute)
	if c := st.Clocks[0]; !c.Stopped || c.StoppedBy != "e1" || !c.Breached || !c.Due.Equal(t0.Add(time.Hour)) {
		t.Errorf("response clock stopped by the resolve: %+v, want missed, due at 1h", c)
	}
	if c := st.Clocks[1]; !c.Stopped || c.StoppedBy != "e1" || c.Breached || c.Elapsed != 2*time.Hour || c.Running {
		t.Errorf("resolution clock at the resolve: %+v, want met after 2h", c)
	}
	reopened := evaluate(h[:3], 3*time.Hour+30*time.Minute)
	if c := reopened.Clocks[1]; c.Stopped || !c.Running || c.Elapsed != 150*time.Minute || !c.Next.Equal(t0.Add(3*time.Hour+30*time.Minute+30*time.Minute)) {
		t.Errorf("resolution clock after reopen: %+v, want running with 2h30 used, 75%% in 30m", c)
	}
	if c := reopened.Clocks[0]; !c.Stopped || c.StoppedBy != "e1" {
		t.Errorf("response clock after reopen: %+v, want still stopped by e1", c)
	}
	again := evaluate(h, 5*time.Hour)
	if c := again.Clocks[1]; c.StoppedBy != "e3" || c.Elapsed != 3*time.Hour || c.Breached {
		t.Errorf("resolution clock after the second resolve: %+v, want met after 3h", c)
	}

	cancelled := evaluate(opened("P1").at(20*time.Minute, events.Cancelled{Reason: "duplicate"}), 2*time.Hour)
	for _, c := range cancelled.Clocks {
		if !c.Stopped || !c.Cancelled || c.StoppedBy != "e1" || c.Breached || c.Elapsed != 20*time.Minute {
			t.Errorf("after cancel: %+v", c)
		}
	}
}

// TestEvaluateSeesOnlyThePast: events after now do not count, and a ticket no policy
// matches has no SLA.
func TestEvaluateSeesOnlyThePast(t *testing.T) {
	h := opened("P1").at(30*time.Minute, events.Responded{Message: "hi"}).at(time.Hour, events.Reprioritized{Priority: "P3"})
	st := evaluate(h, 20*time.Minute)
	if st.Policy.ID != "p1" || st.Clocks[0].Stopped || st.Clocks[0].Elapsed != 20*time.Minute {
		t.Errorf("at 20m: %+v", st)
	}
	if st := evaluate(opened("P5"), time.Hour); st.Applies {
		t.Errorf("P5 has no policy, got %+v", st)
	}
	if st := sla.Evaluate(opened("P1"), policies(calendar.TwentyFourSeven()), t0.Add(-time.Second)); st.Applies {
		t.Error("a ticket opened after now has no SLA yet")
	}
	if st := sla.Evaluate(history{}.at(0, events.Responded{Message: "x"}), policies(calendar.TwentyFourSeven()), t0); st.Applies {
		t.Error("a history that does not begin with opened has no SLA")
	}
}

// TestBusinessCalendar: the clocks count only business hours; due times and timers fall
// on them across a weekend.
func TestBusinessCalendar(t *testing.T) {
	cal, err := calendar.Spec{TimeZone: "Europe/Berlin", Hours: map[string][]string{
		"monday": {"09:00-17:00"}, "tuesday": {"09:00-17:00"}, "wednesday": {"09:00-17:00"},
		"thursday": {"09:00-17:00"}, "friday": {"09:00-17:00"},
	}}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	berlin := cal.Location()
	friday := time.Date(2026, 3, 6, 16, 0, 0, 0, berlin)
	h := history{{ID: "e0", Time: friday, Data: events.Opened{Type: events.Incident, Priority: "P1"}}}
	saturday := time.Date(2026, 3, 7, 12, 0, 0, 0, berlin)
	st := sla.Evaluate(h, policies(cal), saturday)
	c := st.Clocks[0]
	monday := func(h, m int) time.Time { return time.Date(2026, 3, 9, h, m, 0, 0, berlin) }
	// 1h response: Friday 16:00–17:00 is a full business hour, so it is breached at 17:00.
	if c.Elapsed != time.Hour || !c.Breached {
		t.Errorf("response clock on Saturday: elapsed %s breached %v, want 1h and breached", c.Elapsed, c.Breached)
	}
	if want := time.Date(2026, 3, 6, 17, 0, 0, 0, berlin); !c.Due.Equal(want) {
		t.Errorf("response due %s, want Friday 17:00", c.Due.In(berlin))
	}
	res := st.Clocks[1] // 4h: 1h on Friday, 50 % (2h) on Monday 10:00, due Monday 12:00
	if res.Elapsed != time.Hour || !res.Next.Equal(monday(10, 0)) || !res.Due.Equal(monday(12, 0)) {
		t.Errorf("resolution clock on Saturday: elapsed %s next %s due %s, want 1h, Monday 10:00 and 12:00",
			res.Elapsed, res.Next.In(berlin), res.Due.In(berlin))
	}
}
