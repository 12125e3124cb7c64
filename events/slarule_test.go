package events_test

import (
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// Short names of the clocks and their states for the tables below.
const (
	none      = events.ClockNone
	running   = events.ClockRunning
	paused    = events.ClockPaused
	stopped   = events.ClockStopped
	cancelled = events.ClockCancelled
	resp      = events.ClockResponse
	res       = events.ClockResolution
)

// TestClockStateAfter is the pause/resume rule over a ticket's facts, clock by clock.
func TestClockStateAfter(t *testing.T) {
	pausing := []events.HoldReason{events.AwaitingCustomer, events.AwaitingVendor}
	customer, vendor := events.Held{Reason: events.AwaitingCustomer}, events.Held{Reason: events.AwaitingVendor}
	change, problem := events.Held{Reason: events.AwaitingChange}, events.Held{Reason: events.AwaitingProblem}
	for _, tc := range []struct {
		name    string
		clock   string
		before  events.ClockState
		event   events.Payload
		pausing []events.HoldReason
		want    events.ClockState
	}{
		{"open starts the response clock", resp, none, events.Opened{}, pausing, running},
		{"open starts the resolution clock", res, none, events.Opened{}, pausing, running},
		{"a second open changes nothing", res, paused, events.Opened{}, pausing, paused},
		{"a response before open changes nothing", resp, none, events.Responded{}, pausing, none},
		{"a resolve before open changes nothing", res, none, events.Resolved{}, pausing, none},
		{"a cancel before open changes nothing", res, none, events.Cancelled{}, pausing, none},
		{"a pausing hold pauses the response clock", resp, running, customer, pausing, paused},
		{"a pausing hold pauses the resolution clock", res, running, vendor, pausing, paused},
		{"a hold for another reason does not pause", res, running, change, pausing, running},
		{"awaiting_problem does not pause by default", resp, running, problem, pausing, running},
		{"the policy names what pauses", res, running, change, []events.HoldReason{events.AwaitingChange}, paused},
		{"a policy without pausing reasons never pauses", res, running, customer, nil, running},
		{"a hold does not pause a stopped clock", resp, stopped, customer, pausing, stopped},
		{"a hold does not pause a cancelled clock", res, cancelled, customer, pausing, cancelled},
		{"a pointer payload counts the same", res, running, &events.Held{Reason: events.AwaitingCustomer}, pausing, paused},
		{"resume runs a paused clock", res, paused, events.Resumed{}, pausing, running},
		{"resume leaves a stopped clock", resp, stopped, events.Resumed{}, pausing, stopped},
		{"resume leaves a running clock", res, running, events.Resumed{}, pausing, running},
		{"the first response stops the response clock", resp, running, events.Responded{}, pausing, stopped},
		{"a response while paused stops the response clock", resp, paused, events.Responded{}, pausing, stopped},
		{"a response does not touch the resolution clock", res, running, events.Responded{}, pausing, running},
		{"resolve stops the response clock", resp, running, events.Resolved{}, pausing, stopped},
		{"resolve stops the resolution clock", res, running, events.Resolved{}, pausing, stopped},
		{"resolve stops a paused clock", res, paused, events.Resolved{}, pausing, stopped},
		{"close stops the resolution clock", res, running, events.Closed{}, pausing, stopped},
		{"close keeps a stopped clock", res, stopped, events.Closed{}, pausing, stopped},
		{"cancel cancels a running clock", res, running, events.Cancelled{}, pausing, cancelled},
		{"cancel cancels a paused clock", resp, paused, events.Cancelled{}, pausing, cancelled},
		{"cancel keeps the response clock's verdict", resp, stopped, events.Cancelled{}, pausing, stopped},
		{"reopen runs the resolution clock again", res, stopped, events.Reopened{}, pausing, running},
		{"reopen leaves the response clock stopped", resp, stopped, events.Reopened{}, pausing, stopped},
		{"reopen never runs a cancelled clock", res, cancelled, events.Reopened{}, pausing, cancelled},
		{"a priority change never changes a state", res, paused, events.Reprioritized{Priority: "P1"}, pausing, paused},
		{"comments change nothing", resp, running, events.Commented{Body: "x"}, pausing, running},
		{"SLA events are no facts", res, running, events.SLAPaused{Clocks: []string{res}}, pausing, running},
		{"a completion is no fact", resp, running, events.SLACompleted{Clock: resp}, pausing, running},
	} {
		if got := events.ClockStateAfter(tc.clock, tc.before, tc.event, tc.pausing); got != tc.want {
			t.Errorf("%s: %s clock %q after %T = %q, want %q", tc.name, tc.clock, tc.before, tc.event, got, tc.want)
		}
	}
}

// TestRecordedClockState is the rule as the SLA events record it, for readers without the
// policy.
func TestRecordedClockState(t *testing.T) {
	due := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	targets := []events.SLATarget{{Clock: resp}, {Clock: res, Due: &due}} // response without a due time
	for _, tc := range []struct {
		name   string
		clock  string
		before events.ClockState
		event  events.Payload
		want   events.ClockState
	}{
		{"attached with a due time runs", res, none, events.SLAAttached{Targets: targets}, running},
		{"attached without one is paused", resp, none, events.SLAAttached{Targets: targets}, paused},
		{"a re-attach pauses a running clock it gives no due time", resp, running, events.SLAAttached{Targets: targets}, paused},
		{"a re-attach keeps a stopped clock stopped", resp, stopped, events.SLAAttached{Targets: targets}, stopped},
		{"a re-attach runs a clock it gives a due time", res, paused, events.SLAAttached{Targets: targets}, running},
		{"an attach without the clock leaves it", res, running, events.SLAAttached{Targets: targets[:1]}, running},
		{"paused pauses a named running clock", res, running, events.SLAPaused{Clocks: []string{res}}, paused},
		{"paused leaves a clock it does not name", resp, running, events.SLAPaused{Clocks: []string{res}}, running},
		{"paused leaves a stopped clock", resp, stopped, events.SLAPaused{Clocks: []string{resp, res}}, stopped},
		{"resumed runs a clock it gives a due time", res, paused, events.SLAResumed{Targets: targets}, running},
		{"resumed runs a stopped clock again (reopen)", res, stopped, events.SLAResumed{Targets: targets}, running},
		{"resumed without a due time leaves the clock", resp, stopped, events.SLAResumed{Targets: targets}, stopped},
		{"completed stops its clock", resp, running, events.SLACompleted{Clock: resp}, stopped},
		{"completed stops a paused clock", res, paused, events.SLACompleted{Clock: res}, stopped},
		{"completed leaves the other clock", res, running, events.SLACompleted{Clock: resp}, running},
		{"warnings change no state", res, running, events.SLAWarning{Clock: res, Percent: 50}, running},
		{"breaches change no state", res, paused, events.SLABreached{Clock: res}, paused},
		{"ticket events are not records", res, running, events.Held{Reason: events.AwaitingCustomer}, running},
		{"a resolve is not a record either", resp, running, events.Resolved{}, running},
	} {
		if got := events.RecordedClockState(tc.clock, tc.before, tc.event); got != tc.want {
			t.Errorf("%s: %s clock %q after %T = %q, want %q", tc.name, tc.clock, tc.before, tc.event, got, tc.want)
		}
	}
}

// TestRecordsAgreeWithTheRule: a due time is recorded exactly for the state a reader takes
// for running, and a completed clock reads as done.
func TestRecordsAgreeWithTheRule(t *testing.T) {
	due := time.Now()
	for _, s := range []events.ClockState{events.ClockRunning, events.ClockPaused, events.ClockStopped} {
		target := events.SLATarget{Clock: events.ClockResolution}
		if events.RecordsDue(s) {
			target.Due = &due
		}
		got := events.RecordedClockState(events.ClockResolution, s, events.SLAAttached{Targets: []events.SLATarget{target}})
		if got != s {
			t.Errorf("a %s clock recorded in an attach reads back as %s", s, got)
		}
	}
	if !events.ClockStopped.Done() || !events.ClockCancelled.Done() || events.ClockPaused.Done() || events.ClockRunning.Done() {
		t.Error("Done: want true for stopped and cancelled only")
	}
}
