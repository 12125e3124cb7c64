package sla

import (
	"slices"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/calendar"
)

// Policy is an SLA policy resolved for evaluation: targets in business time of Calendar.
type Policy struct {
	ID         string
	Version    int // configuration version the policy comes from
	CalendarID string
	Calendar   *calendar.Calendar
	Response   time.Duration
	Resolution time.Duration
	Warnings   []int               // percentages of a target, ascending
	Pausing    []events.HoldReason // hold reasons that pause the clocks (see events.ClockStateAfter)
}

// PolicyFor returns the policy of a ticket type and priority; false: no SLA applies.
type PolicyFor func(events.TicketType, events.Priority) (Policy, bool)

// Clock is the state of one SLA clock (response or resolution) at the evaluation instant.
type Clock struct {
	Name   string        // events.ClockResponse or events.ClockResolution
	Target time.Duration // business time allowed
	// Elapsed is the business time used: up to now while the clock runs or is paused, up
	// to the event that stopped it otherwise.
	Elapsed time.Duration
	// State is the clock's state under the pause/resume rule (events.ClockStateAfter);
	// Running, Paused and Stopped (with Cancelled) say the same as booleans.
	State events.ClockState
	// Running is true while the clock counts: not paused and not stopped.
	Running bool
	// Paused is true while a pausing hold stops the clock; PausedBy is the hold's id.
	Paused   bool
	PausedBy string
	// Stopped is true once the clock is done: the response clock at the first response,
	// both at resolve and cancel. StoppedBy is the id of that event; Cancelled says the
	// ticket was cancelled, which gives no verdict.
	Stopped   bool
	StoppedBy string
	Cancelled bool
	// Due is when Elapsed reaches Target: the instant it did for a breached clock, the
	// projected instant for a running one, the instant it would if resumed now for a
	// paused one; zero for a stopped clock within its target.
	Due time.Time
	// Breached is true once Elapsed reached Target.
	Breached bool
	// Crossed lists the policy's warning percentages Elapsed has reached.
	Crossed []int
	// Next is, for a running clock, the instant it reaches its next warning or its
	// target; zero when nothing is left to reach or the clock does not run.
	Next time.Time
}

// Status is the SLA verdict of a ticket at one instant.
type Status struct {
	// Applies is false when the ticket has no SLA: its history does not begin with
	// opened, or no policy matches its type and current priority.
	Applies  bool
	Policy   Policy
	Priority events.Priority
	OpenedAt time.Time
	// Clocks are the response clock, then the resolution clock.
	Clocks []Clock
}

// Evaluate computes the SLA status of a ticket from its events as they stood at now
// (later events are ignored), so a verdict can be recomputed at any time by anyone.
//
// The policy is the one for the ticket's type and its latest priority, applied to the
// whole history: a priority change re-targets retroactively from the open time, with the
// pauses already accrued kept. Which clock runs, pauses or stops at each event is the
// pause/resume rule, events.ClockStateAfter with the policy's pausing reasons: both start
// at open; a pausing hold pauses the running ones; the response clock stops at the first
// response (or at resolve) and so pauses only before it; the resolution clock stops at
// resolve, runs on after a reopen and is cancelled with the ticket.
func Evaluate(evs []events.Event, policyFor PolicyFor, now time.Time) Status {
	if len(evs) == 0 {
		return Status{}
	}
	opened, ok := evs[0].Data.(events.Opened)
	if !ok || evs[0].Time.After(now) {
		return Status{}
	}
	st := Status{Priority: opened.Priority, OpenedAt: evs[0].Time}
	history := evs[:1]
	for i, e := range evs[1:] {
		if e.Time.After(now) {
			break
		}
		history = evs[:i+2]
		if r, ok := e.Data.(events.Reprioritized); ok {
			st.Priority = r.Priority
		}
	}
	st.Policy, st.Applies = policyFor(opened.Type, st.Priority)
	if !st.Applies {
		return st
	}
	p := st.Policy
	response := &clock{Clock: Clock{Name: events.ClockResponse, Target: p.Response}}
	resolution := &clock{Clock: Clock{Name: events.ClockResolution, Target: p.Resolution}}
	walk(history, now, p.Pausing, func(e events.Event, _, after clocks) {
		response.step(e, after[responseClock])
		resolution.step(e, after[resolutionClock])
	})
	st.Clocks = []Clock{response.settle(p, now), resolution.settle(p, now)}
	return st
}

// clocks are the states of a ticket's response and resolution clocks.
type clocks [2]events.ClockState

const (
	responseClock   = 0
	resolutionClock = 1
)

var clockNames = [2]string{responseClock: events.ClockResponse, resolutionClock: events.ClockResolution}

// walk folds the pause/resume rule (events.ClockStateAfter) over the history up to now,
// calling f with each event and the clocks' states before and after it.
func walk(evs []events.Event, now time.Time, pausing []events.HoldReason, f func(e events.Event, before, after clocks)) {
	var cs clocks
	for _, e := range evs {
		if e.Time.After(now) {
			break
		}
		before := cs
		for i, name := range clockNames {
			cs[i] = events.ClockStateAfter(name, cs[i], e.Data, pausing)
		}
		f(e, before, cs)
	}
}

// clock accumulates the business intervals one clock ran in.
type clock struct {
	Clock
	since time.Time      // start of the interval running now; zero when not running
	spans [][2]time.Time // finished intervals [from, to)
}

func (c *clock) run(at time.Time) {
	if c.since.IsZero() {
		c.since = at
	}
}

func (c *clock) halt(at time.Time) {
	if !c.since.IsZero() {
		c.spans = append(c.spans, [2]time.Time{c.since, at})
		c.since = time.Time{}
	}
}

// step moves the clock into the state the rule (events.ClockStateAfter) gives it after e.
func (c *clock) step(e events.Event, next events.ClockState) {
	if next == c.State {
		return
	}
	c.State = next
	switch next {
	case events.ClockRunning: // at open, on resume, on reopen: the time used is kept
		c.Paused, c.PausedBy = false, ""
		c.Stopped, c.StoppedBy = false, ""
		c.run(e.Time)
	case events.ClockPaused:
		c.halt(e.Time)
		c.Paused, c.PausedBy = true, e.ID
	case events.ClockStopped, events.ClockCancelled:
		c.halt(e.Time)
		c.Paused, c.PausedBy = false, ""
		c.Stopped, c.StoppedBy, c.Cancelled = true, e.ID, next == events.ClockCancelled
	}
}

// settle computes the derived fields of the clock as it stands at now.
func (c *clock) settle(p Policy, now time.Time) Clock {
	cal := p.Calendar
	spans := c.spans
	c.Running = !c.since.IsZero()
	if c.Running {
		spans = append(slices.Clip(spans), [2]time.Time{c.since, now})
	}
	c.Elapsed = 0
	for _, s := range spans {
		c.Elapsed += cal.Between(s[0], s[1])
	}
	c.Crossed = nil
	for _, pct := range p.Warnings {
		if c.Elapsed >= threshold(c.Target, pct) {
			c.Crossed = append(c.Crossed, pct)
		}
	}
	c.Breached = c.Elapsed >= c.Target
	switch {
	case c.Breached:
		c.Due = reached(cal, spans, c.Target)
	case !c.Stopped:
		c.Due = cal.Add(now, c.Target-c.Elapsed)
	}
	if c.Running && !c.Breached {
		next := c.Target
		for _, pct := range p.Warnings {
			if t := threshold(c.Target, pct); t > c.Elapsed {
				next = t
				break
			}
		}
		c.Next = cal.Add(now, next-c.Elapsed)
	}
	return c.Clock
}

// threshold is pct percent of target.
func threshold(target time.Duration, pct int) time.Duration {
	return target * time.Duration(pct) / 100
}

// reached is the instant the business time used over spans reached d.
func reached(cal *calendar.Calendar, spans [][2]time.Time, d time.Duration) time.Time {
	var used time.Duration
	for _, s := range spans {
		in := cal.Between(s[0], s[1])
		if used+in >= d {
			return cal.Add(s[0], d-used)
		}
		used += in
	}
	return time.Time{}
}
