package sla

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/calendar"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// Disagreement is an SLA verdict the log records that its events and policy do not give,
// or one they give that the log does not record.
type Disagreement struct {
	TicketID string `json:"ticket_id"`
	Seq      uint64 `json:"seq,omitempty"` // the recorded verdict's stream sequence
	Clock    string `json:"clock"`
	// Recorded and Recomputed are the verdict as the log holds it and as the events give
	// it, e.g. "missed, 5400000 ms of 3600000" or "none".
	Recorded   string `json:"recorded"`
	Recomputed string `json:"recomputed"`
	Detail     string `json:"detail"`
}

// recordGrace is how long after a clock's due time, or its stop, the log may still lack
// its verdict: the SLA service appends within a second of either.
const recordGrace = time.Minute

// Recheck recomputes every SLA verdict of a ticket's history (its accepted events, in
// order) with the policies its SLA was attached with: each completed verdict (met or
// missed, business time used, target) and each breach (due time) the log records, as
// Evaluate gives it at the instant it was recorded; and the verdicts due by asOf that
// the log lacks. It returns the verdicts it checked and every disagreement.
func Recheck(evs []events.Event, policyFor PolicyFor, asOf time.Time) (verdicts int, out []Disagreement) {
	named := func(e events.Event, clock, recorded, recomputed, detail string) {
		out = append(out, Disagreement{TicketID: e.TicketID, Seq: e.Sequence, Clock: clock, Recorded: recorded, Recomputed: recomputed, Detail: detail})
	}
	completedBy := map[string]bool{} // clock name + the event that stopped it
	lastAttach := -1
	breachedSince := map[string]bool{} // a breach recorded since the latest attach, by clock
	for i, e := range evs {
		switch p := e.Data.(type) {
		case events.SLAAttached:
			lastAttach = i
			clear(breachedSince)
		case events.SLACompleted:
			verdicts++
			completedBy[p.Clock+" "+e.CausationID] = true
			recorded := fmt.Sprintf("%s, %d ms of %d", p.Outcome, p.UsedMS, p.TargetMS)
			c := clockOf(Evaluate(evs, policyFor, e.Time), p.Clock)
			switch {
			case c == nil:
				named(e, p.Clock, recorded, "none", "a completed verdict where the events and the policy give no SLA")
			case !c.Stopped || c.Cancelled:
				named(e, p.Clock, recorded, "none", fmt.Sprintf("a completed verdict, but the %s clock had not stopped then (state %s)", p.Clock, c.State))
			default:
				outcome := events.OutcomeMet
				if c.Breached {
					outcome = events.OutcomeMissed
				}
				if got := fmt.Sprintf("%s, %d ms of %d", outcome, c.Elapsed.Milliseconds(), c.Target.Milliseconds()); got != recorded {
					named(e, p.Clock, recorded, got, "the recorded verdict differs from the one the events and the policy give")
				}
			}
		case events.SLABreached:
			verdicts++
			breachedSince[p.Clock] = true
			recorded := "breached, due " + p.Due.UTC().Format(time.RFC3339Nano)
			c := clockOf(Evaluate(evs, policyFor, e.Time), p.Clock)
			switch {
			case c == nil:
				named(e, p.Clock, recorded, "none", "a breach where the events and the policy give no SLA")
			case !c.Breached:
				named(e, p.Clock, recorded, fmt.Sprintf("within target, %d ms of %d used", c.Elapsed.Milliseconds(), c.Target.Milliseconds()),
					"a breach recorded before the clock reached its target")
			case !c.Due.Equal(p.Due):
				named(e, p.Clock, recorded, "breached, due "+c.Due.UTC().Format(time.RFC3339Nano), "the breach records another due time")
			}
		}
	}
	if lastAttach < 0 {
		return verdicts, out
	}
	st := Evaluate(evs, policyFor, asOf)
	for _, c := range st.Clocks {
		switch {
		case c.Stopped && !c.Cancelled && !completedBy[c.Name+" "+c.StoppedBy]:
			stop := slices.IndexFunc(evs, func(e events.Event) bool { return e.ID == c.StoppedBy })
			if stop >= 0 && evs[stop].Time.Add(recordGrace).Before(asOf) {
				outcome := events.OutcomeMet
				if c.Breached {
					outcome = events.OutcomeMissed
				}
				named(evs[stop], c.Name, "none", fmt.Sprintf("%s, %d ms of %d", outcome, c.Elapsed.Milliseconds(), c.Target.Milliseconds()),
					"the clock stopped at this event, but no completed verdict is recorded")
			}
		case c.Breached && !c.Stopped && !breachedSince[c.Name] && c.Due.Add(recordGrace).Before(asOf):
			named(evs[len(evs)-1], c.Name, "none", "breached, due "+c.Due.UTC().Format(time.RFC3339Nano),
				"the clock passed its target, but no breach is recorded since its targets were last attached")
		}
	}
	return verdicts, out
}

func clockOf(st Status, name string) *Clock {
	for i := range st.Clocks {
		if st.Clocks[i].Name == name {
			return &st.Clocks[i]
		}
	}
	return nil
}

// AuditReport is what AuditLog found.
type AuditReport struct {
	Tenant        string         `json:"tenant"`
	Tickets       int            `json:"tickets"`  // tickets opened in the period
	WithSLA       int            `json:"with_sla"` // of them, with an SLA attached
	Verdicts      int            `json:"verdicts"` // recorded verdicts checked
	Disagreements []Disagreement `json:"disagreements"`
}

// AuditLog rechecks (Recheck) the SLA verdicts of the tenant's tickets opened in [from,
// to), as of asOf: it reads the log through store, keeps each ticket's events its chain
// accepts (as every reader does), and takes the policies of the configuration version each
// ticket's SLA was first attached with (as the service does) from the CONFIG stream.
func AuditLog(ctx context.Context, store *events.Store, tenant string, from, to, asOf time.Time) (AuditReport, error) {
	rep := AuditReport{Tenant: tenant}
	heads := map[string]events.ChainHead{}
	histories := map[string][]events.Event{}
	var order []string
	err := events.WalkLog(ctx, store.JetStream(), false, func(e events.LogEntry, _ uint64) error {
		if e.Undecodable != nil || e.Event.Raw().Tenant != tenant {
			return nil
		}
		r := e.Event.Raw()
		head, err := heads[r.TicketID].LinkChecked(e.Event)
		if err != nil { // no reader acts on it, and neither does this one
			var re *events.RejectedError
			if errors.As(err, &re) && slaType(r.Type) {
				rep.Disagreements = append(rep.Disagreements, Disagreement{TicketID: r.TicketID, Seq: r.Sequence, Recorded: r.Type, Recomputed: "refused",
					Detail: "a recorded SLA event its ticket's chain refuses, so it counts for nothing: " + re.Reason + " (audit verify names it)"})
			}
			return nil
		}
		heads[r.TicketID] = head
		if _, seen := histories[r.TicketID]; !seen {
			if r.Type != events.TypeOpened || r.Time.Before(from) || !r.Time.Before(to) {
				histories[r.TicketID] = nil // not opened in the period
				return nil
			}
			order = append(order, r.TicketID)
		} else if histories[r.TicketID] == nil {
			return nil
		}
		histories[r.TicketID] = append(histories[r.TicketID], r.Event)
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("sla audit: %w", err)
	}
	policies := map[int]PolicyFor{}
	for _, id := range order {
		evs := histories[id]
		rep.Tickets++
		version := 0
		for _, e := range evs {
			if a, ok := e.Data.(events.SLAAttached); ok {
				version = a.PolicyVersion
				break
			}
		}
		if version == 0 {
			continue
		}
		rep.WithSLA++
		pf, ok := policies[version]
		if !ok {
			if pf, err = versionPolicies(ctx, store, tenant, version); err != nil {
				return rep, err
			}
			policies[version] = pf
		}
		n, dis := Recheck(evs, pf, asOf)
		rep.Verdicts += n
		rep.Disagreements = append(rep.Disagreements, dis...)
	}
	return rep, nil
}

// slaType reports whether an event type is one the SLA service records.
func slaType(t string) bool {
	return slices.Contains([]string{events.TypeSLAAttached, events.TypeSLAPaused, events.TypeSLAResumed, events.TypeSLAWarning,
		events.TypeSLABreached, events.TypeSLACompleted}, t)
}

// versionPolicies are the policies of a tenant's configuration version, each calendar
// compiled once.
func versionPolicies(ctx context.Context, store *events.Store, tenant string, version int) (PolicyFor, error) {
	cv, err := store.ConfigAt(ctx, tenant, uint64(version))
	if errors.Is(err, events.ErrNotFound) {
		return nil, fmt.Errorf("sla audit: tickets of %s name configuration version %d, which CONFIG does not hold", tenant, version)
	}
	if err != nil {
		return nil, err
	}
	doc, err := tenantconfig.Parse(cv.Document)
	if err != nil {
		return nil, fmt.Errorf("sla audit: configuration %d of %s: %w", version, tenant, err)
	}
	compiled := map[string]*calendar.Calendar{}
	compile := func(id string) (*calendar.Calendar, error) {
		if c, ok := compiled[id]; ok {
			return c, nil
		}
		c, err := doc.CompileCalendar(id)
		if err == nil {
			compiled[id] = c
		}
		return c, err
	}
	return Policies(&doc, version, compile, nil), nil
}
