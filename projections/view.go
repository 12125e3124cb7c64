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

// Clock states, as the pause/resume rule names them (events.RecordedClockState).
const (
	ClockRunning = events.ClockRunning
	ClockPaused  = events.ClockPaused
	ClockStopped = events.ClockStopped
)

// ClockStatus is one SLA clock as the log tells it.
type ClockStatus struct {
	Clock    string            `json:"clock"`
	TargetMS int64             `json:"target_ms"`
	State    events.ClockState `json:"state"`         // running, paused or stopped
	Due      *time.Time        `json:"due,omitempty"` // while running
	Warnings []int             `json:"warnings,omitempty"`
	Breached bool              `json:"breached"`
	Outcome  string            `json:"outcome,omitempty"` // met or missed, once stopped
	UsedMS   int64             `json:"used_ms,omitempty"` // business time used, once stopped
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
			c := ClockStatus{Clock: t.Clock, TargetMS: t.TargetMS}
			if old := prev.clock(t.Clock); old != nil {
				c.State, c.Outcome, c.UsedMS = old.State, old.Outcome, old.UsedMS
			}
			v.SLA.Clocks = append(v.SLA.Clocks, c)
		}
		v.SLA.record(d)
	case events.SLAPaused, events.SLAResumed, events.SLACompleted:
		v.SLA.record(d)
	case events.SLAWarning:
		if c := v.SLA.clock(d.Clock); c != nil && !slices.Contains(c.Warnings, d.Percent) {
			c.Warnings = append(c.Warnings, d.Percent)
			slices.Sort(c.Warnings)
		}
	case events.SLABreached:
		if c := v.SLA.clock(d.Clock); c != nil {
			c.Breached = true
		}
	}
}

// record moves the clocks by an SLA event under the pause/resume rule as the SLA service
// recorded it (events.RecordedClockState): a clock has a due time while it runs, and an
// outcome once stopped.
func (s *SLAStatus) record(p events.Payload) {
	if s == nil {
		return
	}
	var targets []events.SLATarget
	switch d := p.(type) {
	case events.SLAAttached:
		targets = d.Targets
	case events.SLAResumed:
		targets = d.Targets
	}
	for i := range s.Clocks {
		c := &s.Clocks[i]
		c.State = events.RecordedClockState(c.Clock, c.State, p)
		if c.State != ClockStopped {
			c.Outcome, c.UsedMS = "", 0
		}
		if c.State != ClockRunning {
			c.Due = nil
			continue
		}
		for _, t := range targets {
			if t.Clock == c.Clock && t.Due != nil {
				c.Due = t.Due
			}
		}
	}
	if d, ok := p.(events.SLACompleted); ok {
		if c := s.clock(d.Clock); c != nil {
			c.Outcome, c.UsedMS = d.Outcome, d.UsedMS
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
