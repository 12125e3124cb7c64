package projections

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// Report aggregates are kept per tenant and UTC hour, so a report over any period reads
// one bucket per hour of it and never the tickets themselves. A figure about tickets
// opened in a period (volume, MTTA, escalation rate) lives in the bucket of the hour the
// ticket was opened; a figure about an event (resolutions, reopens, SLA verdicts) in the
// bucket of the hour of that event. Periods are therefore read in whole UTC hours.
//
// NB: persisted format (see FormatVersion).
const (
	prefixReport  = "r\x00" // tenant, hour → hourBucket (JSON)
	prefixBacklog = "o\x00" // tenant, hour → open tickets opened in that hour (uint64)
	prefixOpened  = "t\x00" // tenant, opened ms, ticket id → openedEntry (JSON), for trends
)

// hourBucket is what happened in one tenant-hour.
type hourBucket struct {
	// Tickets opened in the hour, by their current type, category, priority and source.
	Opened     int            `json:"opened,omitempty"`
	ByType     map[string]int `json:"by_type,omitempty"`
	ByCategory map[string]int `json:"by_category,omitempty"`
	ByPriority map[string]int `json:"by_priority,omitempty"`
	BySource   map[string]int `json:"by_source,omitempty"`
	// Of those: how many got a first response and the total time to it; how many were
	// escalated at least once.
	Responded  int   `json:"responded,omitempty"`
	ResponseMS int64 `json:"response_ms,omitempty"`
	Escalated  int   `json:"escalated,omitempty"`

	// Resolutions in the hour: wall time from open, tier, first-contact resolutions.
	Resolved       int            `json:"resolved,omitempty"`
	ResolveWallMS  int64          `json:"resolve_wall_ms,omitempty"`
	ResolvedByTier map[string]int `json:"resolved_by_tier,omitempty"`
	FirstContact   int            `json:"first_contact,omitempty"`
	Reopened       int            `json:"reopened,omitempty"`
	// SLA verdicts in the hour, per clock; business time used by resolution clocks.
	SLAMet            map[string]int `json:"sla_met,omitempty"`
	SLAMissed         map[string]int `json:"sla_missed,omitempty"`
	BusinessResolved  int            `json:"business_resolved,omitempty"`
	BusinessResolveMS int64          `json:"business_resolve_ms,omitempty"`
}

func hourOf(t time.Time) uint64 { return uint64(t.Unix() / 3600) }

func reportKey(tenant string, hour uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixReport+part(tenant)+"\x00"), hour)
}

func openedKey(tenant string, opened time.Time, id string) []byte {
	k := binary.BigEndian.AppendUint64([]byte(prefixOpened+part(tenant)+"\x00"), uint64(opened.UnixMilli()))
	return append(k, id...)
}

// openedEntry is what trends need of a ticket.
type openedEntry struct {
	Category  string `json:"c"`
	Requester string `json:"r,omitempty"`
}

func backlogKey(tenant string, hour uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixBacklog+part(tenant)+"\x00"), hour)
}

func bump(m *map[string]int, k string, d int) {
	if *m == nil {
		*m = map[string]int{}
	}
	if (*m)[k] += d; (*m)[k] == 0 {
		delete(*m, k)
	}
}

// record updates the report aggregates for event e, which turned before into after.
func (pd *pending) record(before, after *View, e events.Event) error {
	t := after.Ticket
	if t.ID == "" || t.OpenedAt.IsZero() {
		return nil
	}
	if wasOpen := before.Ticket.State.IsOpen(); wasOpen != t.State.IsOpen() {
		d := int64(1)
		if wasOpen {
			d = -1
		}
		pd.counts[string(backlogKey(t.Tenant, hourOf(t.OpenedAt)))] += d
	}
	// The bucket the event's figures go to: the opening hour's or the event's own.
	var anchor time.Time
	switch e.Data.(type) {
	case events.Opened, events.Recategorized, events.Reprioritized, events.Responded, events.Escalated:
		anchor = t.OpenedAt
	case events.Resolved, events.Reopened, events.SLACompleted:
		anchor = e.Time
	default:
		return nil
	}
	hb, err := pd.bucket(t.Tenant, hourOf(anchor))
	if err != nil {
		return err
	}
	switch d := e.Data.(type) {
	case events.Opened:
		hb.Opened++
		bump(&hb.ByType, string(t.Type), 1)
		bump(&hb.ByCategory, t.Category, 1)
		bump(&hb.ByPriority, string(t.Priority), 1)
		bump(&hb.BySource, t.Source, 1)
		return pd.indexOpened(t)
	case events.Recategorized:
		bump(&hb.ByCategory, before.Ticket.Category, -1)
		bump(&hb.ByCategory, t.Category, 1)
		return pd.indexOpened(t)
	case events.Reprioritized:
		bump(&hb.ByPriority, string(before.Ticket.Priority), -1)
		bump(&hb.ByPriority, string(t.Priority), 1)
	case events.Responded:
		if !before.Ticket.Responded {
			hb.Responded++
			hb.ResponseMS += e.Time.Sub(t.OpenedAt).Milliseconds()
		}
	case events.Escalated:
		if before.Ticket.Escalations == 0 {
			hb.Escalated++
		}
	case events.Resolved:
		hb.Resolved++
		hb.ResolveWallMS += e.Time.Sub(t.OpenedAt).Milliseconds()
		bump(&hb.ResolvedByTier, strconv.Itoa(t.Tier), 1)
		if t.Tier <= 1 && t.Escalations == 0 && !after.Reassigned {
			hb.FirstContact++
		}
	case events.Reopened:
		hb.Reopened++
	case events.SLACompleted:
		if d.Outcome == events.OutcomeMet {
			bump(&hb.SLAMet, d.Clock, 1)
		} else {
			bump(&hb.SLAMissed, d.Clock, 1)
		}
		if d.Clock == events.ClockResolution {
			hb.BusinessResolved++
			hb.BusinessResolveMS += d.UsedMS
		}
	}
	return nil
}

// indexOpened writes the ticket's entry of the trends index.
func (pd *pending) indexOpened(t events.Ticket) error {
	return pd.setJSON(openedKey(t.Tenant, t.OpenedAt, t.ID), openedEntry{Category: t.Category, Requester: t.Requester.Email})
}

// Summary is a tenant's service report over a period. Durations are in milliseconds;
// rates are fractions (0.25 is 25 %), 0 when there is nothing to divide by.
type Summary struct {
	Tenant string    `json:"tenant"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// AsOf is the moment the figures stand at (the backlog's "now").
	AsOf time.Time `json:"as_of"`
	Seq  uint64    `json:"seq"`

	Opened     int            `json:"opened"`
	ByType     map[string]int `json:"by_type"`
	ByCategory map[string]int `json:"by_category"`
	ByPriority map[string]int `json:"by_priority"`
	BySource   map[string]int `json:"by_source"`

	// MTTA: mean time from open to first response of the period's tickets that got one.
	MTTAMS int64 `json:"mtta_ms"`
	// MTTR: mean time from open to resolve of the period's resolutions, in wall time and
	// in business time (the resolution clock of tickets with an SLA).
	MTTRWallMS     int64 `json:"mttr_wall_ms"`
	MTTRBusinessMS int64 `json:"mttr_business_ms"`
	Resolved       int   `json:"resolved"`
	// FirstContactResolution: share of resolutions at tier 1 without escalation or reassignment.
	FirstContactResolution float64 `json:"first_contact_resolution"`
	// SLACompliance per target ("response", "resolution"): met / (met + missed) of the
	// verdicts in the period.
	SLACompliance map[string]Compliance `json:"sla_compliance"`
	// Backlog is the open tickets by age at AsOf: "<1d", "1-3d", "3-7d", "7-30d", ">30d"
	// (ages by the hour opened). The tickets are those open in the read models, so AsOf
	// is the moment of the last event they include (the API replays the log up to an
	// as_of moment for that).
	Backlog      map[string]int `json:"backlog"`
	BacklogTotal int            `json:"backlog_total"`
	// ReopenRate: reopens per resolution in the period.
	ReopenRate float64 `json:"reopen_rate"`
	// EscalationRate: share of the period's tickets escalated at least once.
	EscalationRate float64 `json:"escalation_rate"`
	// ResolvedByTier: share of the period's resolutions at each tier.
	ResolvedByTier map[string]float64 `json:"resolved_by_tier"`
	// TopCategories: the five categories with the most tickets, most first.
	TopCategories []CategoryCount `json:"top_categories"`
}

// Compliance is one SLA target's verdicts.
type Compliance struct {
	Met    int     `json:"met"`
	Missed int     `json:"missed"`
	Rate   float64 `json:"rate"`
}

// CategoryCount is a category's ticket count.
type CategoryCount struct {
	Category string `json:"category"`
	Tickets  int    `json:"tickets"`
}

// BacklogBuckets are the age buckets of Summary.Backlog, in order, with their upper bounds.
var BacklogBuckets = []struct {
	Name  string
	Below time.Duration
}{{"<1d", 24 * time.Hour}, {"1-3d", 72 * time.Hour}, {"3-7d", 7 * 24 * time.Hour}, {"7-30d", 30 * 24 * time.Hour}, {">30d", 1<<63 - 1}}

// Summary computes a tenant's report for [from, to) (read in whole UTC hours) with the
// backlog as of asOf, from one consistent snapshot.
func (p *Projector) Summary(tenant string, from, to, asOf time.Time) (Summary, error) {
	snap := p.db.NewSnapshot()
	defer snap.Close()
	s := Summary{Tenant: tenant, From: from, To: to, AsOf: asOf, ByType: map[string]int{}, ByCategory: map[string]int{},
		ByPriority: map[string]int{}, BySource: map[string]int{}, SLACompliance: map[string]Compliance{},
		Backlog: map[string]int{}, ResolvedByTier: map[string]float64{}, TopCategories: []CategoryCount{}}
	var err error
	if s.Seq, err = getUint(snap, keyCheckpoint); err != nil {
		return Summary{}, err
	}
	var total hourBucket
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: reportKey(tenant, hourOf(from)), UpperBound: reportKey(tenant, hourOf(to.Add(time.Hour-1)))})
	if err != nil {
		return Summary{}, err
	}
	for valid := it.First(); valid; valid = it.Next() {
		var hb hourBucket
		if err := json.Unmarshal(it.Value(), &hb); err != nil {
			_ = it.Close()
			return Summary{}, err
		}
		total.add(&hb)
	}
	if err := it.Close(); err != nil {
		return Summary{}, err
	}
	s.Opened, s.Resolved = total.Opened, total.Resolved
	merge(s.ByType, total.ByType)
	merge(s.ByCategory, total.ByCategory)
	merge(s.ByPriority, total.ByPriority)
	merge(s.BySource, total.BySource)
	s.MTTAMS = mean(total.ResponseMS, total.Responded)
	s.MTTRWallMS = mean(total.ResolveWallMS, total.Resolved)
	s.MTTRBusinessMS = mean(total.BusinessResolveMS, total.BusinessResolved)
	s.FirstContactResolution = rate(total.FirstContact, total.Resolved)
	s.ReopenRate = rate(total.Reopened, total.Resolved)
	s.EscalationRate = rate(total.Escalated, total.Opened)
	for tier, n := range total.ResolvedByTier {
		s.ResolvedByTier[tier] = rate(n, total.Resolved)
	}
	for _, clock := range []string{events.ClockResponse, events.ClockResolution} {
		met, missed := total.SLAMet[clock], total.SLAMissed[clock]
		s.SLACompliance[clock] = Compliance{Met: met, Missed: missed, Rate: rate(met, met+missed)}
	}
	for c, n := range s.ByCategory {
		s.TopCategories = append(s.TopCategories, CategoryCount{c, n})
	}
	slices.SortFunc(s.TopCategories, func(a, b CategoryCount) int {
		return cmp.Or(cmp.Compare(b.Tickets, a.Tickets), cmp.Compare(a.Category, b.Category))
	})
	s.TopCategories = s.TopCategories[:min(5, len(s.TopCategories))]
	if err := s.backlog(snap, tenant, asOf); err != nil {
		return Summary{}, err
	}
	return s, nil
}

// backlog counts the open tickets by the age of their opening hour at asOf.
func (s *Summary) backlog(snap *pebble.Snapshot, tenant string, asOf time.Time) error {
	for _, b := range BacklogBuckets {
		s.Backlog[b.Name] = 0
	}
	prefix := []byte(prefixBacklog + part(tenant) + "\x00")
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		hour := binary.BigEndian.Uint64(it.Key()[len(prefix):])
		n := int(binary.BigEndian.Uint64(it.Value()))
		age := asOf.Sub(time.Unix(int64(hour)*3600, 0))
		if age < 0 {
			continue // opened after asOf
		}
		for _, b := range BacklogBuckets {
			if age < b.Below {
				s.Backlog[b.Name] += n
				break
			}
		}
		s.BacklogTotal += n
	}
	return it.Error()
}

func (h *hourBucket) add(o *hourBucket) {
	h.Opened += o.Opened
	h.Responded += o.Responded
	h.ResponseMS += o.ResponseMS
	h.Escalated += o.Escalated
	h.Resolved += o.Resolved
	h.ResolveWallMS += o.ResolveWallMS
	h.FirstContact += o.FirstContact
	h.Reopened += o.Reopened
	h.BusinessResolved += o.BusinessResolved
	h.BusinessResolveMS += o.BusinessResolveMS
	for _, m := range []struct {
		dst *map[string]int
		src map[string]int
	}{
		{&h.ByType, o.ByType}, {&h.ByCategory, o.ByCategory}, {&h.ByPriority, o.ByPriority}, {&h.BySource, o.BySource},
		{&h.ResolvedByTier, o.ResolvedByTier}, {&h.SLAMet, o.SLAMet}, {&h.SLAMissed, o.SLAMissed},
	} {
		for k, v := range m.src {
			bump(m.dst, k, v)
		}
	}
}

func merge(dst, src map[string]int) {
	for k, v := range src {
		dst[k] += v
	}
}

func mean(sum int64, n int) int64 {
	if n == 0 {
		return 0
	}
	return sum / int64(n)
}

func rate(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}
