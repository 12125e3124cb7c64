package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/projections"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// maxPeriod bounds a report's period.
const maxPeriod = 400 * 24 * time.Hour

// period is a report's parameters: tenant, [from, to) and the moment it stands at.
type period struct {
	tenant   string
	loc      *time.Location
	from, to time.Time
	asOf     time.Time
	replay   bool                   // asOf came from as_of: the read models are replayed up to it
	doc      *tenantconfig.Document // the tenant's current configuration; nil without one
}

// parsePeriod reads tenant, from, to (RFC 3339, or YYYY-MM-DD for local midnight in the
// tenant's time zone; default the last full calendar month) and as_of.
func (h *Handler) parsePeriod(ctx context.Context, r *http.Request) (period, error) {
	q := r.URL.Query()
	p := period{loc: time.UTC, asOf: h.cfg.Now()}
	var err error
	if p.tenant, err = access.TenantParam(r); err != nil {
		return p, err
	}
	if p.doc, p.loc, err = CurrentConfig(ctx, h.cfg.Store, p.tenant); err != nil {
		return p, err
	}
	if raw := q.Get("as_of"); raw != "" {
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil || t.After(p.asOf) {
			return p, &events.ValidationError{Field: "as_of", Reason: "must be an RFC 3339 time, not in the future"}
		}
		p.asOf, p.replay = t, true
	}
	p.from, p.to, err = Period(q.Get("from"), q.Get("to"), p.asOf, p.loc)
	return p, err
}

// CurrentConfig is the tenant's current configuration document and its time zone, which a
// report is read in; nil and UTC for a tenant without one. A report is rare next to the
// events deciding reads configuration for: it reads the document from the stream (one
// request) rather than following it.
func CurrentConfig(ctx context.Context, store *events.Store, tenant string) (*tenantconfig.Document, *time.Location, error) {
	cv, err := store.CurrentConfig(ctx, tenant)
	if errors.Is(err, events.ErrNotFound) {
		return nil, time.UTC, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var doc tenantconfig.Document
	if err := json.Unmarshal(cv.Document, &doc); err != nil {
		return nil, nil, fmt.Errorf("decode configuration %d of %s: %w", cv.Version, tenant, err)
	}
	return &doc, doc.Location(), nil
}

// Period is a report's [from, to) from the API's from and to (RFC 3339, or YYYY-MM-DD for
// midnight in loc, the tenant's time zone): the last full calendar month before asOf
// when both are empty.
func Period(rawFrom, rawTo string, asOf time.Time, loc *time.Location) (from, to time.Time, err error) {
	switch {
	case rawFrom == "" && rawTo == "":
		local := asOf.In(loc)
		to = time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, loc)
		return to.AddDate(0, -1, 0), to, nil
	case rawFrom == "" || rawTo == "":
		return from, to, &events.ValidationError{Field: "from", Reason: "give both from and to, or neither for the last full month"}
	}
	if from, err = parseTime("from", rawFrom, loc); err != nil {
		return from, to, err
	}
	if to, err = parseTime("to", rawTo, loc); err != nil {
		return from, to, err
	}
	if !to.After(from) || to.Sub(from) > maxPeriod {
		return from, to, &events.ValidationError{Field: "to", Reason: "must be after from, at most 400 days later"}
	}
	return from, to, nil
}

func parseTime(field, raw string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, raw); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, raw, loc); err == nil {
		return t, nil
	}
	return time.Time{}, &events.ValidationError{Field: field, Reason: "must be an RFC 3339 time or a date YYYY-MM-DD"}
}

// readModels returns the read models the period is read from: the live ones, or for
// as_of a replay of the log up to that moment (release it with the returned func).
func (h *Handler) readModels(ctx context.Context, p period) (*projections.Projector, func(), error) {
	if !p.replay {
		return h.cfg.Projector, func() {}, nil
	}
	select {
	case h.replays <- struct{}{}:
	default:
		return nil, nil, events.NewError(events.KindUnavailable, "reporting: too many as_of replays",
			"as many as_of reports as the server computes at once are running; retry")
	}
	past, err := projections.Replay(ctx, h.cfg.Store, p.asOf)
	if err != nil {
		<-h.replays
		return nil, nil, err
	}
	return past, func() { _ = past.Close(); <-h.replays }, nil
}

// SummaryJSON is the summary report with the time zone its period is read in and the
// evidence sections, read from the EVIDENCE stream as recorded up to as_of, under the
// tenant's current evidence policy.
type SummaryJSON struct {
	projections.Summary
	TimeZone string        `json:"time_zone"`
	Backups  BackupSection `json:"backups"`
	Patches  PatchSection  `json:"patches"`
}

// summary serves GET /v1/reports/summary: JSON, CSV (Accept: text/csv) or a printable
// HTML page (format=html).
func (h *Handler) summary(w http.ResponseWriter, r *http.Request) error {
	p, err := h.parsePeriod(r.Context(), r)
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "html" && format != "json" && format != "csv" {
		return &events.ValidationError{Field: "format", Reason: "must be json, csv or html"}
	}
	rm, release, err := h.readModels(r.Context(), p)
	if err != nil {
		return err
	}
	defer release()
	out, err := SummaryAt(r.Context(), h.cfg.Store.JetStream(), rm, p.doc, p.tenant, p.from, p.to, p.asOf)
	if err != nil {
		return err
	}
	if format == "" && strings.Contains(r.Header.Get("Accept"), "text/csv") {
		format = "csv"
	}
	writeSeq(w, out.Seq)
	switch format {
	case "html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="summary-`+out.Tenant+`.csv"`)
	default:
		w.Header().Set("Content-Type", "application/json")
	}
	return WriteSummary(w, out, format)
}

// SummaryAt is the summary report of a tenant's period [from, to) from read models rm
// standing at asOf (the live ones, or a replay of the log up to asOf): the figures, the
// time zone and the evidence sections (EVIDENCE as recorded up to asOf, under doc's
// evidence policy; doc nil: the tenant has no configuration, defaults apply). It is what
// GET /v1/reports/summary answers, and what `ledgerdesk audit replay` rebuilds.
func SummaryAt(ctx context.Context, js jetstream.JetStream, rm *projections.Projector, doc *tenantconfig.Document, tenant string, from, to, asOf time.Time) (SummaryJSON, error) {
	s, err := rm.Summary(tenant, from, to, asOf)
	if err != nil {
		return SummaryJSON{}, err
	}
	out := SummaryJSON{Summary: s, TimeZone: time.UTC.String()}
	if doc != nil {
		out.TimeZone = doc.Location().String()
	}
	if out.Backups, out.Patches, err = evidenceSections(ctx, js, doc, tenant, from, to, asOf); err != nil {
		return SummaryJSON{}, err
	}
	return out, nil
}

// WriteSummary writes a summary as JSON (format "" or "json"), CSV rows of figure, key
// and value ("csv"), or the printable HTML page ("html").
func WriteSummary(w io.Writer, s SummaryJSON, format string) error {
	switch format {
	case "html":
		return writeSummaryHTML(w, s)
	case "csv":
		return writeSummaryCSV(w, s)
	case "", "json":
		return json.NewEncoder(w).Encode(s)
	}
	return fmt.Errorf("reporting: format %q: want json, csv or html", format)
}

// TrendsJSON is the trends report.
type TrendsJSON struct {
	Tenant     string                         `json:"tenant"`
	From       time.Time                      `json:"from"`
	To         time.Time                      `json:"to"`
	AsOf       time.Time                      `json:"as_of"`
	TimeZone   string                         `json:"time_zone"`
	MinTickets int                            `json:"min_tickets"`
	MinShare   float64                        `json:"min_share"`
	Candidates []projections.ProblemCandidate `json:"problem_candidates"`
	Seq        uint64                         `json:"seq"`
}

// trends serves GET /v1/reports/trends?tenant=&from=&to=&as_of=&min_tickets=&min_share=.
func (h *Handler) trends(w http.ResponseWriter, r *http.Request) error {
	p, err := h.parsePeriod(r.Context(), r)
	if err != nil {
		return err
	}
	opts := projections.TrendOptions{Location: p.loc, MinTickets: 3, MinShare: 0.5}
	q := r.URL.Query()
	if raw := q.Get("min_tickets"); raw != "" {
		if opts.MinTickets, err = strconv.Atoi(raw); err != nil || opts.MinTickets < 2 {
			return &events.ValidationError{Field: "min_tickets", Reason: "must be a whole number of at least 2"}
		}
	}
	if raw := q.Get("min_share"); raw != "" {
		if opts.MinShare, err = strconv.ParseFloat(raw, 64); err != nil || opts.MinShare <= 0 || opts.MinShare > 1 {
			return &events.ValidationError{Field: "min_share", Reason: "must be a fraction above 0, at most 1"}
		}
	}
	rm, release, err := h.readModels(r.Context(), p)
	if err != nil {
		return err
	}
	defer release()
	candidates, seq, err := rm.Trends(p.tenant, p.from, p.to, opts)
	if err != nil {
		return err
	}
	if candidates == nil {
		candidates = []projections.ProblemCandidate{}
	}
	return writeJSON(w, seq, TrendsJSON{Tenant: p.tenant, From: p.from, To: p.to, AsOf: p.asOf, TimeZone: p.loc.String(),
		MinTickets: opts.MinTickets, MinShare: opts.MinShare, Candidates: candidates, Seq: seq})
}
