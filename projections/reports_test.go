package projections_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/projections"
)

// script is a log written by hand: events with their times, in order.
type script struct {
	raws []events.Raw
}

func (s *script) at(when, tenant, ticket string, p events.Payload) {
	t, err := time.Parse("2006-01-02 15:04", when)
	if err != nil {
		panic(err)
	}
	s.raws = append(s.raws, events.Raw{Event: events.Event{ID: ticket + "-" + when, Tenant: tenant, TicketID: ticket,
		Time: t, Data: p, Sequence: uint64(len(s.raws) + 1)}})
}

func opened(tt events.TicketType, category string, p events.Priority, source string) events.Opened {
	return events.Opened{Type: tt, Title: "t", Category: category, Priority: p, Source: source}
}

func completed(clock, outcome string, used time.Duration) events.SLACompleted {
	return events.SLACompleted{Clock: clock, Outcome: outcome, UsedMS: used.Milliseconds()}
}

// march is the fixture of TestSummaryFigures; the comments give what each ticket adds to
// acme's March 2026 report.
func march() *script {
	s := &script{}
	const met, missed = events.OutcomeMet, events.OutcomeMissed
	// T5: opened in February, resolved on 1 March at tier 1 after 48h: a first-contact resolution.
	s.at("2026-02-27 10:00", "acme", "T5", opened(events.Incident, "network", "P3", "email"))
	s.at("2026-02-27 10:05", "acme", "T5", events.Assigned{Agent: "ann"})
	s.at("2026-03-01 10:00", "acme", "T5", events.Resolved{})
	// T1: response after 30m, resolved after 2h at tier 1 (first contact); both SLAs met.
	s.at("2026-03-02 09:00", "acme", "T1", opened(events.Incident, "network", "P2", "email"))
	s.at("2026-03-02 09:05", "acme", "T1", events.Assigned{Agent: "ann"})
	s.at("2026-03-02 09:30", "acme", "T1", events.Responded{Message: "on it"})
	s.at("2026-03-02 09:30", "acme", "T1", completed(events.ClockResponse, met, 30*time.Minute))
	s.at("2026-03-02 11:00", "acme", "T1", events.Resolved{})
	s.at("2026-03-02 11:00", "acme", "T1", completed(events.ClockResolution, met, 2*time.Hour))
	// T2: reassigned, response after 1h, resolved after 24h at tier 1 (not first contact);
	// resolution SLA missed with 10h of business time.
	s.at("2026-03-03 10:00", "acme", "T2", opened(events.ServiceRequest, "accounts", "P3", "portal"))
	s.at("2026-03-03 10:05", "acme", "T2", events.Assigned{Agent: "ann"})
	s.at("2026-03-03 10:10", "acme", "T2", events.Assigned{Agent: "bob"})
	s.at("2026-03-03 11:00", "acme", "T2", events.Responded{Message: "hi"})
	s.at("2026-03-03 11:00", "acme", "T2", completed(events.ClockResponse, met, time.Hour))
	s.at("2026-03-04 10:00", "acme", "T2", events.Resolved{})
	s.at("2026-03-04 10:00", "acme", "T2", completed(events.ClockResolution, missed, 10*time.Hour))
	// T3: escalated to tier 2, response after 1h (missed), resolved after 4h, reopened,
	// resolved again 26h after its open; resolution met both times (4h, then 5h).
	s.at("2026-03-05 08:00", "acme", "T3", opened(events.Incident, "network", "P1", "alertmanager"))
	s.at("2026-03-05 08:05", "acme", "T3", events.Assigned{Agent: "cat"})
	s.at("2026-03-05 08:30", "acme", "T3", events.Escalated{Tier: 2})
	s.at("2026-03-05 09:00", "acme", "T3", events.Responded{Message: "looking"})
	s.at("2026-03-05 09:00", "acme", "T3", completed(events.ClockResponse, missed, time.Hour))
	s.at("2026-03-05 12:00", "acme", "T3", events.Resolved{})
	s.at("2026-03-05 12:00", "acme", "T3", completed(events.ClockResolution, met, 4*time.Hour))
	s.at("2026-03-06 09:00", "acme", "T3", events.Reopened{})
	s.at("2026-03-06 10:00", "acme", "T3", events.Resolved{})
	s.at("2026-03-06 10:00", "acme", "T3", completed(events.ClockResolution, met, 5*time.Hour))
	// T4: printing, recategorized to hardware, never answered: in the backlog, 11.5 days old.
	s.at("2026-03-20 12:00", "acme", "T4", opened(events.Incident, "printing", "P4", "email"))
	s.at("2026-03-20 13:00", "acme", "T4", events.Recategorized{Category: "hardware"})
	// T6: opened half an hour before the end of the month: in the backlog, under a day old.
	s.at("2026-03-31 23:30", "acme", "T6", opened(events.Incident, "email", "P2", "phone"))
	// Not acme's, and not March's.
	s.at("2026-03-10 10:00", "globex", "G1", opened(events.Incident, "network", "P1", "email"))
	s.at("2026-04-01 08:00", "acme", "T7", opened(events.Incident, "network", "P1", "email"))
	return s
}

// TestSummaryFigures checks every figure of the summary against the hand-computed values
// of the March fixture.
func TestSummaryFigures(t *testing.T) {
	p := open(t, vfs.NewMem(), 1000)
	defer p.Close()
	if err := p.Apply(eventstest.Seal(t, march().raws)); err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	got, err := p.Summary("acme", from, to, to)
	if err != nil {
		t.Fatal(err)
	}
	want := projections.Summary{
		Tenant: "acme", From: from, To: to, AsOf: to, Seq: p.Seq(),
		Opened:     5, // T1 T2 T3 T4 T6
		ByType:     map[string]int{"incident": 4, "service_request": 1},
		ByCategory: map[string]int{"network": 2, "accounts": 1, "hardware": 1, "email": 1},
		ByPriority: map[string]int{"P1": 1, "P2": 2, "P3": 1, "P4": 1},
		BySource:   map[string]int{"email": 2, "portal": 1, "alertmanager": 1, "phone": 1},
		MTTAMS:     (50 * time.Minute).Milliseconds(), // (30m + 1h + 1h) / 3
		// resolutions: T5 48h, T1 2h, T2 24h, T3 4h, T3 26h
		Resolved:               5,
		MTTRWallMS:             (104 * time.Hour / 5).Milliseconds(),
		MTTRBusinessMS:         (21 * time.Hour / 4).Milliseconds(), // 2h + 10h + 4h + 5h
		FirstContactResolution: 0.4,                                 // T5, T1
		SLACompliance: map[string]projections.Compliance{
			"response":   {Met: 2, Missed: 1, Rate: 2.0 / 3},
			"resolution": {Met: 3, Missed: 1, Rate: 0.75},
		},
		Backlog:        map[string]int{"<1d": 1, "1-3d": 0, "3-7d": 0, "7-30d": 1, ">30d": 0},
		BacklogTotal:   2, // T4, T6; April's T7 was opened after asOf
		ReopenRate:     0.2,
		EscalationRate: 0.2,
		ResolvedByTier: map[string]float64{"1": 0.6, "2": 0.4},
		TopCategories: []projections.CategoryCount{
			{Category: "network", Tickets: 2}, {Category: "accounts", Tickets: 1}, {Category: "email", Tickets: 1}, {Category: "hardware", Tickets: 1},
		},
	}
	g, _ := json.MarshalIndent(got, "", " ")
	w, _ := json.MarshalIndent(want, "", " ")
	if string(g) != string(w) {
		t.Errorf("summary:\n%s\nwant\n%s", g, w)
	}
}
