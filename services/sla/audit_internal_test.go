package sla

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

const monthConfig = `
tenant: acme
calendars:
  - id: office
    time_zone: Europe/Berlin
    hours: { monday: ["08:00-18:00"], tuesday: ["08:00-18:00"], wednesday: ["08:00-18:00"], thursday: ["08:00-18:00"], friday: ["08:00-18:00"] }
    holidays: ["2026-11-18"]
sla_policies:
  - { id: p1, match: { priorities: [P1] }, response: 15m, resolution: 4h }
  - { id: office, calendar: office, response: 1h, resolution: 8h, pausing_reasons: [awaiting_customer, awaiting_vendor] }
groups: [{ id: desk, tier: 1, agents: [{ id: ann }] }]
default_group: desk
`

// month is a generated month of tickets with the SLA events the service records for
// them: every ticket's human events at random times of November 2026 (responses, holds
// that pause or not, priority changes, resolves, reopens), and between them the SLA
// service's own decisions (decideAt) at each event and at each timer it sets, as if it
// ran through the month.
type month struct {
	policies PolicyFor
	tickets  [][]events.Event
	end      time.Time
}

func generateMonth(t *testing.T, n int) month {
	t.Helper()
	doc, err := tenantconfig.Parse([]byte(monthConfig))
	if err != nil {
		t.Fatal(err)
	}
	m := month{policies: Policies(&doc, 3, nil, nil), end: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)}
	rng := rand.New(rand.NewPCG(11, 13))
	seq := uint64(0)
	levels := []events.Level{events.High, events.Medium, events.Low}
	for i := range n {
		id := fmt.Sprintf("t%03d", i)
		at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(29 * 24 * time.Hour))))
		o := eventstest.OpenedFixture("generated")
		o.Impact, o.Urgency = levels[rng.IntN(3)], levels[rng.IntN(3)]
		o.Priority, _ = events.PriorityOf(o.Impact, o.Urgency)
		human := []events.Payload{o}
		if rng.IntN(4) > 0 {
			human = append(human, events.Responded{Message: "on it"})
		}
		for range rng.IntN(3) {
			reasons := []events.HoldReason{events.AwaitingCustomer, events.AwaitingVendor, events.AwaitingChange}
			human = append(human, events.Held{Reason: reasons[rng.IntN(3)]}, events.Resumed{})
		}
		if rng.IntN(3) == 0 {
			imp, urg := levels[rng.IntN(3)], levels[rng.IntN(3)]
			p, _ := events.PriorityOf(imp, urg)
			human = append(human, events.Reprioritized{Impact: imp, Urgency: urg, Priority: p})
		}
		if rng.IntN(5) > 0 {
			human = append(human, events.Resolved{Code: "fixed"})
			if rng.IntN(4) == 0 {
				human = append(human, events.Reopened{Reason: "back"}, events.Resolved{Code: "fixed"})
			}
		}
		var log []events.Event
		seen := map[string]bool{}
		decide := func(now time.Time) time.Time {
			out, next := decideAt(log, m.policies, now)
			for _, e := range out {
				if !seen[e.ID] {
					seen[e.ID], seq = true, seq+1
					e.Tenant, e.TicketID, e.Time, e.Sequence = "acme", id, now, seq
					log = append(log, e)
				}
			}
			return next
		}
		var next time.Time
		for j, p := range human {
			for k := 0; !next.IsZero() && next.Before(at) && k < 100; k++ {
				next = decide(next) // a timer fires
			}
			seq++
			log = append(log, events.Event{ID: fmt.Sprintf("%s-h%d", id, j), Tenant: "acme", TicketID: id, Time: at, Sequence: seq,
				Type: p.EventType(), Data: p})
			next = decide(at)
			at = at.Add(time.Duration(1+rng.Int64N(int64(30*time.Hour))) / time.Duration(1+rng.IntN(20)))
		}
		for k := 0; !next.IsZero() && next.Before(m.end) && k < 100; k++ {
			next = decide(next)
		}
		m.tickets = append(m.tickets, log)
	}
	return m
}

func (m month) recheck() (verdicts int, out []Disagreement) {
	for _, evs := range m.tickets {
		n, d := Recheck(evs, m.policies, m.end)
		verdicts, out = verdicts+n, append(out, d...)
	}
	return verdicts, out
}

// TestRecheckAgreesOnAMonth: on a month of tickets with holds, reopens and priority
// changes, every recorded verdict is the one the events and the policy give, and none
// is missing; the month holds met, missed and breached verdicts of both clocks.
func TestRecheckAgreesOnAMonth(t *testing.T) {
	m := generateMonth(t, 300)
	verdicts, dis := m.recheck()
	if len(dis) > 0 {
		t.Fatalf("%d disagreements on the generated month, e.g. %+v", len(dis), dis[0])
	}
	seen := map[string]int{}
	for _, evs := range m.tickets {
		for _, e := range evs {
			switch p := e.Data.(type) {
			case events.SLACompleted:
				seen[p.Clock+" "+p.Outcome]++
			case events.SLABreached:
				seen[p.Clock+" breached"]++
			case events.SLAAttached:
				seen["attached "+p.Reason]++
			case events.SLAPaused:
				seen["paused"]++
			case events.Reopened:
				seen["reopened"]++
			}
		}
	}
	for _, want := range []string{"response met", "response missed", "resolution met", "resolution missed", "response breached",
		"resolution breached", "attached reprioritized", "paused", "reopened"} {
		if seen[want] == 0 {
			t.Errorf("the month has no %q: %v", want, seen)
		}
	}
	if verdicts < 300 {
		t.Fatalf("%d verdicts checked", verdicts)
	}
}

// TestRecheckNamesAnAlteredVerdict: a verdict changed in a copy of the month, or one
// removed, is named with its ticket, and nothing else is.
func TestRecheckNamesAnAlteredVerdict(t *testing.T) {
	find := func(m month, match func(events.Event) bool) (int, int) {
		for i, evs := range m.tickets {
			if j := slices.IndexFunc(evs, match); j >= 0 {
				return i, j
			}
		}
		t.Fatal("no such event in the month")
		return 0, 0
	}
	isCompleted := func(outcome string) func(events.Event) bool {
		return func(e events.Event) bool { c, ok := e.Data.(events.SLACompleted); return ok && c.Outcome == outcome }
	}
	for _, tc := range []struct {
		name   string
		change func(m month) (ticket string, seq uint64)
	}{
		{"missed recorded as met", func(m month) (string, uint64) {
			i, j := find(m, isCompleted(events.OutcomeMissed))
			c := m.tickets[i][j].Data.(events.SLACompleted)
			c.Outcome = events.OutcomeMet
			m.tickets[i][j].Data = c
			return m.tickets[i][j].TicketID, m.tickets[i][j].Sequence
		}},
		{"business time used changed", func(m month) (string, uint64) {
			i, j := find(m, isCompleted(events.OutcomeMet))
			c := m.tickets[i][j].Data.(events.SLACompleted)
			c.UsedMS += 60_000
			m.tickets[i][j].Data = c
			return m.tickets[i][j].TicketID, m.tickets[i][j].Sequence
		}},
		{"a completed verdict removed", func(m month) (string, uint64) {
			i, j := find(m, isCompleted(events.OutcomeMissed))
			id, stop := m.tickets[i][j].TicketID, m.tickets[i][j].CausationID
			m.tickets[i] = slices.Delete(m.tickets[i], j, j+1)
			return id, m.tickets[i][slices.IndexFunc(m.tickets[i], func(e events.Event) bool { return e.ID == stop })].Sequence
		}},
		{"a breach's due time moved", func(m month) (string, uint64) {
			i, j := find(m, func(e events.Event) bool { _, ok := e.Data.(events.SLABreached); return ok })
			b := m.tickets[i][j].Data.(events.SLABreached)
			b.Due = b.Due.Add(time.Hour)
			m.tickets[i][j].Data = b
			return m.tickets[i][j].TicketID, m.tickets[i][j].Sequence
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := generateMonth(t, 300)
			ticket, seq := tc.change(m)
			_, dis := m.recheck()
			if len(dis) != 1 || dis[0].TicketID != ticket || dis[0].Seq != seq {
				t.Fatalf("disagreements %+v; want one, naming ticket %s at seq %d", dis, ticket, seq)
			}
		})
	}
}
