package projections

import (
	"slices"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// View is the read model of one ticket: its state folded from the log and its SLA status
// as the SLA events recorded it.
type View struct {
	Ticket events.Ticket `json:"ticket"`
	// Seq is the stream sequence of the ticket's last accepted event.
	Seq uint64 `json:"seq"`
	// Hash is the hash of the ticket's last accepted event: what its next event must link to.
	Hash string `json:"hash,omitempty"`
	// SLA is nil for a ticket without an SLA.
	SLA *SLAStatus `json:"sla,omitempty"`
	// Reassigned is true once the ticket went from one agent to another.
	Reassigned bool `json:"reassigned,omitempty"`
}

// SLAStatus is the SLA policy attached to a ticket and the state of its clocks.
type SLAStatus struct {
	PolicyID      string        `json:"policy_id"`
	PolicyVersion int           `json:"policy_version"`
	Calendar      string        `json:"calendar"`
	Clocks        []ClockStatus `json:"clocks"`
}

// Clock states.
const (
	ClockRunning = "running"
	ClockPaused  = "paused"
	ClockStopped = "stopped"
)

// ClockStatus is one SLA clock as the log tells it.
type ClockStatus struct {
	Clock    string     `json:"clock"`
	TargetMS int64      `json:"target_ms"`
	State    string     `json:"state"`
	Due      *time.Time `json:"due,omitempty"` // while running
	Warnings []int      `json:"warnings,omitempty"`
	Breached bool       `json:"breached"`
	Outcome  string     `json:"outcome,omitempty"` // met or missed, once stopped
	UsedMS   int64      `json:"used_ms,omitempty"` // business time used, once stopped
}

// Board statuses.
const (
	BoardAtRisk   = "at_risk"  // a warning was raised, no target breached yet
	BoardBreached = "breached" // a running clock is past its target
)

// apply folds one event of the ticket into the view.
func (v *View) apply(e events.Event) {
	if a, ok := e.Data.(events.Assigned); ok && v.Ticket.Agent != "" && a.Agent != v.Ticket.Agent {
		v.Reassigned = true
	}
	v.Ticket = events.Evolve(v.Ticket, e)
	v.Seq, v.Hash = e.Sequence, e.Hash
	switch d := e.Data.(type) {
	case events.SLAAttached:
		prev := v.SLA
		v.SLA = &SLAStatus{PolicyID: d.PolicyID, PolicyVersion: d.PolicyVersion, Calendar: d.Calendar}
		for _, t := range d.Targets {
			c := ClockStatus{Clock: t.Clock, TargetMS: t.TargetMS, State: ClockPaused}
			if t.Due != nil {
				c.State, c.Due = ClockRunning, t.Due
			} else if old := prev.clock(t.Clock); old != nil && old.State == ClockStopped {
				c.State, c.Outcome, c.UsedMS = ClockStopped, old.Outcome, old.UsedMS
			}
			v.SLA.Clocks = append(v.SLA.Clocks, c)
		}
	case events.SLAPaused:
		for _, name := range d.Clocks {
			if c := v.SLA.clock(name); c != nil && c.State == ClockRunning {
				c.State, c.Due = ClockPaused, nil
			}
		}
	case events.SLAResumed:
		for _, t := range d.Targets {
			if c := v.SLA.clock(t.Clock); c != nil && t.Due != nil {
				c.State, c.Due, c.Outcome, c.UsedMS = ClockRunning, t.Due, "", 0
			}
		}
	case events.SLAWarning:
		if c := v.SLA.clock(d.Clock); c != nil && !slices.Contains(c.Warnings, d.Percent) {
			c.Warnings = append(c.Warnings, d.Percent)
			slices.Sort(c.Warnings)
		}
	case events.SLABreached:
		if c := v.SLA.clock(d.Clock); c != nil {
			c.Breached = true
		}
	case events.SLACompleted:
		if c := v.SLA.clock(d.Clock); c != nil {
			c.State, c.Due, c.Outcome, c.UsedMS = ClockStopped, nil, d.Outcome, d.UsedMS
			c.Breached = c.Breached || d.Outcome == events.OutcomeMissed
		}
	}
}

func (s *SLAStatus) clock(name string) *ClockStatus {
	if s == nil {
		return nil
	}
	for i := range s.Clocks {
		if s.Clocks[i].Clock == name {
			return &s.Clocks[i]
		}
	}
	return nil
}

// NextDue is the earliest due time of the ticket's running SLA clocks (zero: none runs).
func (v *View) NextDue() time.Time {
	var next time.Time
	if v.SLA == nil {
		return next
	}
	for _, c := range v.SLA.Clocks {
		if c.State == ClockRunning && c.Due != nil && (next.IsZero() || c.Due.Before(next)) {
			next = *c.Due
		}
	}
	return next
}

// Board is the ticket's place on the SLA board: breached while a running or paused clock
// is breached, at risk while one has a warning; "" otherwise and once the ticket is done.
func (v *View) Board() string {
	if v.SLA == nil || !v.Ticket.State.IsOpen() {
		return ""
	}
	status := ""
	for _, c := range v.SLA.Clocks {
		switch {
		case c.State == ClockStopped:
		case c.Breached:
			return BoardBreached
		case len(c.Warnings) > 0:
			status = BoardAtRisk
		}
	}
	return status
}
