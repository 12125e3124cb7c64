//go:build bench

package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/projections"
)

// queryLoadNote says how the query rows get their data.
const queryLoadNote = "read models loaded by Projector.Apply in batches of 10,000 (no HTTP, no log)"

// loadReadModels applies synthetic events for tickets to a Pebble store in dir: tickets
// spread over the year before `end`, routed to one of 8 groups and 40 agents, with an SLA
// attached; one ticket in resolveEvery, drawn at random, is also responded and resolved.
// It returns the number of events applied and of tickets left open.
func loadReadModels(t *testing.T, p *projections.Projector, tickets, resolveEvery int, end time.Time) (applied, open int) {
	rng := rand.New(rand.NewPCG(1, 2))
	categories := []string{"network", "email", "printing", "accounts", "endpoint", "backup", "vpn", "m365"}
	priorities := []events.Priority{"P1", "P2", "P3", "P4", "P5"}
	var batch []events.Raw
	seq := uint64(0)
	heads := map[string]string{} // each ticket's last hash: the projector accepts chained events only
	add := func(id string, at time.Time, payload events.Payload) {
		seq++
		r, err := events.Seal(events.Event{ID: fmt.Sprint(seq), Tenant: "acme", TicketID: id, Time: at, Data: payload}, heads[id])
		if err != nil {
			t.Fatal(err)
		}
		r.Sequence, heads[id] = seq, r.Hash
		batch = append(batch, r)
		if len(batch) == 10_000 {
			if err := p.Apply(batch); err != nil {
				t.Fatal(err)
			}
			applied += len(batch)
			batch = batch[:0]
		}
	}
	year := 365 * 24 * time.Hour
	for i := range tickets {
		id := fmt.Sprintf("t%08d", i)
		opened := end.Add(-year + year/time.Duration(tickets)*time.Duration(i))
		due := opened.Add(time.Duration(1+rng.IntN(48)) * time.Hour)
		group := fmt.Sprintf("g%d", i%8)
		add(id, opened, events.Opened{Type: events.Incident, Title: "t", Category: categories[rng.IntN(len(categories))],
			Priority: priorities[rng.IntN(len(priorities))], Source: "email", Requester: events.Requester{Email: fmt.Sprintf("u%d@acme.example", rng.IntN(500))}})
		add(id, opened, events.Routed{Group: group, Tier: 1})
		add(id, opened, events.Assigned{Agent: fmt.Sprintf("a%d", i%40), Group: group})
		add(id, opened, events.SLAAttached{PolicyID: "p", PolicyVersion: 1, Targets: []events.SLATarget{
			{Clock: events.ClockResponse, TargetMS: 3_600_000, Due: &due}, {Clock: events.ClockResolution, TargetMS: 28_800_000, Due: &due}}})
		open++
		if resolveEvery > 0 && rng.IntN(resolveEvery) == 0 {
			open--
			add(id, opened.Add(time.Hour), events.Responded{Message: "m"})
			add(id, opened.Add(3*time.Hour), events.Resolved{})
			add(id, opened.Add(3*time.Hour), events.SLACompleted{Clock: events.ClockResolution, Outcome: events.OutcomeMet, UsedMS: 10_800_000})
		}
	}
	if len(batch) > 0 {
		if err := p.Apply(batch); err != nil {
			t.Fatal(err)
		}
		applied += len(batch)
	}
	return applied, open
}

// measureQueries loads the read models with openTickets open tickets (for the queue page)
// and tickets making up about summaryEvents events (for the summary), then times a 50-
// ticket queue page (random groups and depths) and a tenant's monthly summary.
func measureQueries(t *testing.T, openTickets, summaryEvents int) []Result {
	p, err := projections.Open(t.TempDir(), projections.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	end := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	// One ticket in 4 resolved (7 events), the others open (4 events): 4.75 events a ticket.
	tickets := max(openTickets*4/3, summaryEvents*4/19)
	start := time.Now()
	loaded, open := loadReadModels(t, p, tickets, 4, end)
	loadTook := time.Since(start)

	rng := rand.New(rand.NewPCG(3, 4))
	var pageLat []time.Duration
	for i := range 2000 {
		scope := projections.QueueScope{Tenant: "acme", Group: fmt.Sprintf("g%d", rng.IntN(8))}
		if i%4 == 0 {
			scope = projections.QueueScope{Tenant: "acme"}
		}
		t0 := time.Now()
		pg, err := p.Queue(scope, 50, "")
		if err != nil || len(pg.Tickets) != 50 {
			t.Fatalf("queue page: %d tickets, %v", len(pg.Tickets), err)
		}
		pageLat = append(pageLat, time.Since(t0))
	}
	var summaryLat []time.Duration
	for m := range 12 {
		from := end.AddDate(0, -m-1, 0)
		t0 := time.Now()
		s, err := p.Summary("acme", from, from.AddDate(0, 1, 0), end)
		if err != nil || s.Opened == 0 {
			t.Fatalf("summary: %+v %v", s, err)
		}
		summaryLat = append(summaryLat, time.Since(t0))
	}
	page := Measured("query.queue_page_p99_ms", float64(Percentile(pageLat, 99))/float64(time.Millisecond), "ms")
	page.Target = &Target{Op: "<=", Limit: 5, On: "value"}
	page.Note = fmt.Sprintf("%d open tickets; %s", open, queryLoadNote)
	sum := Measured("query.summary_ms", float64(Percentile(summaryLat, 100))/float64(time.Millisecond), "ms")
	sum.Target = &Target{Op: "<=", Limit: 50, On: "value"}
	sum.Note = fmt.Sprintf("slowest of 12 monthly summaries over %d events (%.0f events/s loaded); %s", loaded, float64(loaded)/loadTook.Seconds(), queryLoadNote)
	return []Result{page, sum}
}
