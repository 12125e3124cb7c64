package events

import "slices"

// The SLA pause/resume rule, written once. The SLA engine (services/sla Evaluate), the
// SLA service (which records the rule's decisions as SLA events) and the read models
// (projections, which read those records back) all call these functions; nothing else
// decides whether a clock runs.
//
// Both clocks start running when the ticket is opened. A hold for one of the policy's
// pausing reasons pauses every running clock, and resume runs the paused ones again; a
// hold for another reason changes nothing. The response clock stops at the first response
// (so it counts pause time only before it); resolve and close stop both clocks with a
// verdict, cancel stops them without one. A reopen runs the resolution clock on from
// where resolve stopped it (never a cancelled one, never the response clock). A priority
// change re-targets the clocks but never changes their state.

// ClockState is the state of one SLA clock. NB: persisted by the read models and shown
// over HTTP (projections.ClockStatus.State); never rename a value.
type ClockState string

const (
	ClockNone    ClockState = ""        // the ticket is not opened yet
	ClockRunning ClockState = "running" // counting business time
	ClockPaused  ClockState = "paused"  // a pausing hold stops it until resume
	ClockStopped ClockState = "stopped" // done, with a verdict: met or missed
	// ClockCancelled is done without a verdict (the ticket was cancelled). The read models
	// never show it: no SLA event records a cancellation.
	ClockCancelled ClockState = "cancelled"
)

// Done reports whether the clock counts no more (stopped or cancelled).
func (s ClockState) Done() bool { return s == ClockStopped || s == ClockCancelled }

// ClockStateAfter is the rule over the ticket's facts: the state of the named clock
// (ClockResponse or ClockResolution) after the ticket event p, from its state before.
// pausing are the hold reasons the ticket's SLA policy pauses the clocks for. SLA events
// (and any payload the rule does not name) leave the state as it is, so a verdict is a
// function of the ticket's own events.
func ClockStateAfter(clock string, before ClockState, p Payload, pausing []HoldReason) ClockState {
	if _, opened := deref(p).(Opened); before == ClockNone && !opened {
		return before // clocks start at open: nothing before it moves them
	}
	switch d := deref(p).(type) {
	case Opened:
		if before == ClockNone {
			return ClockRunning
		}
	case Held:
		if before == ClockRunning && slices.Contains(pausing, d.Reason) {
			return ClockPaused
		}
	case Resumed:
		if before == ClockPaused {
			return ClockRunning
		}
	case Responded:
		if clock == ClockResponse && !before.Done() {
			return ClockStopped
		}
	case Resolved, Closed:
		if !before.Done() {
			return ClockStopped
		}
	case Cancelled:
		if !before.Done() {
			return ClockCancelled
		}
	case Reopened:
		if clock == ClockResolution && before == ClockStopped {
			return ClockRunning
		}
	}
	return before
}

// RecordedClockState is the rule as the SLA service recorded it, for readers that do not
// have the policy (the read models): the state of the named clock after the SLA event p,
// from its state before. sla_paused names the clocks a pausing hold paused (running ones
// pause); sla_attached and sla_resumed give a due time to each running clock and none to
// a paused or stopped one (an attach keeps a stopped clock stopped); sla_completed stops
// its clock. Other payloads leave the state as it is.
func RecordedClockState(clock string, before ClockState, p Payload) ClockState {
	switch d := deref(p).(type) {
	case SLAAttached:
		if t, ok := targetOf(d.Targets, clock); ok {
			switch {
			case t.Due != nil:
				return ClockRunning
			case before == ClockStopped:
				return ClockStopped
			default:
				return ClockPaused
			}
		}
	case SLAPaused:
		if before == ClockRunning && slices.Contains(d.Clocks, clock) {
			return ClockPaused
		}
	case SLAResumed:
		if t, ok := targetOf(d.Targets, clock); ok && t.Due != nil {
			return ClockRunning
		}
	case SLACompleted:
		if d.Clock == clock {
			return ClockStopped
		}
	}
	return before
}

// RecordsDue reports whether an SLA event records a clock in state s with a due time
// (sla_attached and sla_resumed targets): only a running clock has one.
func RecordsDue(s ClockState) bool { return s == ClockRunning }

func targetOf(targets []SLATarget, clock string) (SLATarget, bool) {
	for _, t := range targets {
		if t.Clock == clock {
			return t, true
		}
	}
	return SLATarget{}, false
}
