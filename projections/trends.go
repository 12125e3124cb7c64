package projections

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// TrendOptions set what counts as a recurring issue.
type TrendOptions struct {
	// Location is the tenant's time zone: weekdays and hours are local to it (default UTC).
	Location *time.Location
	// MinTickets is the least number of tickets a pattern needs (default 3).
	MinTickets int
	// MinShare is the least share of the category's tickets on one weekday or in one hour
	// of the day for a cluster (default 0.5).
	MinShare float64
}

func (o *TrendOptions) setDefaults() {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.MinTickets <= 0 {
		o.MinTickets = 3
	}
	if o.MinShare <= 0 {
		o.MinShare = 0.5
	}
}

// Trend patterns.
const (
	PatternWeekday   = "weekday"   // the category's tickets cluster on one weekday
	PatternHour      = "hour"      // … in one hour of the day
	PatternRequester = "requester" // one requester keeps opening them
)

// ProblemCandidate is a recurring issue worth a problem record, with its evidence.
type ProblemCandidate struct {
	Category string `json:"category"`
	Pattern  string `json:"pattern"`
	// Value is the weekday ("Monday"), the hour ("09:00") or the requester's e-mail.
	Value string `json:"value"`
	// Tickets is the number of the category's tickets that fit the pattern, of Total.
	Tickets int `json:"tickets"`
	Total   int `json:"total"`
	// ByWeekday (Sunday first) and ByHour count all the category's tickets of the period.
	ByWeekday [7]int  `json:"by_weekday"`
	ByHour    [24]int `json:"by_hour"`
	// TicketIDs are the tickets that fit the pattern, oldest first.
	TicketIDs []string `json:"ticket_ids"`
	Summary   string   `json:"summary"`
}

// Trends finds recurring issues among the tenant's tickets opened in [from, to): per
// category, a weekday or an hour of the day holding at least MinShare of its tickets
// and MinTickets of them, and requesters with at least MinTickets tickets. Candidates
// come most tickets first. It reads the tickets opened in the period (not all tickets).
func (p *Projector) Trends(tenant string, from, to time.Time, opts TrendOptions) ([]ProblemCandidate, uint64, error) {
	opts.setDefaults()
	snap := p.db.NewSnapshot()
	defer snap.Close()
	seq, err := getUint(snap, keyCheckpoint)
	if err != nil {
		return nil, 0, err
	}
	type ticket struct {
		id        string
		opened    time.Time
		requester string
	}
	byCategory := map[string][]ticket{}
	prefix := []byte(prefixOpened + part(tenant) + "\x00")
	lower := binary.BigEndian.AppendUint64(slices.Clone(prefix), uint64(from.UnixMilli()))
	upper := binary.BigEndian.AppendUint64(slices.Clone(prefix), uint64(to.UnixMilli()))
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, 0, err
	}
	for valid := it.First(); valid; valid = it.Next() {
		k := it.Key()[len(prefix):]
		var en openedEntry
		if err := json.Unmarshal(it.Value(), &en); err != nil {
			_ = it.Close()
			return nil, 0, err
		}
		opened := time.UnixMilli(int64(binary.BigEndian.Uint64(k))).In(opts.Location)
		byCategory[en.Category] = append(byCategory[en.Category], ticket{id: string(k[8:]), opened: opened, requester: en.Requester})
	}
	if err := it.Close(); err != nil {
		return nil, 0, err
	}
	var out []ProblemCandidate
	for category, tickets := range byCategory {
		base := ProblemCandidate{Category: category, Total: len(tickets)}
		for _, t := range tickets {
			base.ByWeekday[t.opened.Weekday()]++
			base.ByHour[t.opened.Hour()]++
		}
		fits := func(pattern, value string, keep func(ticket) bool) {
			c := base
			c.Pattern, c.Value, c.TicketIDs = pattern, value, nil
			for _, t := range tickets {
				if keep(t) {
					c.TicketIDs = append(c.TicketIDs, t.id)
				}
			}
			c.Tickets = len(c.TicketIDs)
			if c.Tickets < opts.MinTickets || pattern != PatternRequester && float64(c.Tickets) < opts.MinShare*float64(c.Total) {
				return
			}
			c.Summary = fmt.Sprintf("%d of %d %q tickets %s", c.Tickets, c.Total, category, map[string]string{
				PatternWeekday: "were opened on a " + value, PatternHour: "were opened between " + value + " and the next hour",
				PatternRequester: "came from " + value}[pattern])
			out = append(out, c)
		}
		for wd, n := range base.ByWeekday {
			if n > 0 {
				fits(PatternWeekday, time.Weekday(wd).String(), func(t ticket) bool { return int(t.opened.Weekday()) == wd })
			}
		}
		for h, n := range base.ByHour {
			if n > 0 {
				fits(PatternHour, fmt.Sprintf("%02d:00", h), func(t ticket) bool { return t.opened.Hour() == h })
			}
		}
		requesters := map[string]bool{}
		for _, t := range tickets {
			if t.requester != "" && !requesters[t.requester] {
				requesters[t.requester] = true
				fits(PatternRequester, t.requester, func(o ticket) bool { return o.requester == t.requester })
			}
		}
	}
	slices.SortFunc(out, func(a, b ProblemCandidate) int {
		return cmp.Or(cmp.Compare(b.Tickets, a.Tickets), cmp.Compare(a.Category, b.Category),
			cmp.Compare(a.Pattern, b.Pattern), cmp.Compare(a.Value, b.Value))
	})
	return out, seq, nil
}
