package reporting

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/projections"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// HeaderSeq carries the stream sequence a read model answered at. NB: API contract.
const HeaderSeq = "X-Ledgerdesk-Seq"

// Config wires the reporting API.
type Config struct {
	Projector *projections.Projector // required: the live read models
	Store     *events.Store          // required: tenant configurations and as_of replays
	Logger    *zap.Logger            // required
	// MaxWait bounds how long a read with min_seq waits for the read models (default 5s);
	// then it answers 503 with Retry-After.
	MaxWait time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxReplays bounds the as_of reports computed at once (default 2): each replays the
	// whole log into memory, so more answer 503 with Retry-After instead of exhausting
	// the process.
	MaxReplays int
}

// Handler serves /v1/queues, /v1/sla/board, /v1/tickets/{id}/view and /v1/reports/.
// Authentication is the caller's concern (access.Guard); every route declares its
// operation, and a tenant outside the caller's scope answers 404.
type Handler struct {
	cfg     Config
	replays chan struct{} // one token per as_of replay running
	routes  *httpx.Routes
}

// NewHandler returns the reporting API; it refuses missing dependencies.
func NewHandler(cfg Config) (*Handler, error) {
	var errs []error
	if cfg.Projector == nil {
		errs = append(errs, errors.New("reporting: Projector is required"))
	}
	if cfg.Store == nil {
		errs = append(errs, errors.New("reporting: Store is required"))
	}
	if cfg.Logger == nil {
		errs = append(errs, errors.New("reporting: Logger is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxReplays <= 0 {
		cfg.MaxReplays = 2
	}
	h := &Handler{cfg: cfg, replays: make(chan struct{}, cfg.MaxReplays), routes: httpx.NewRoutes()}
	rs := h.routes
	tenant := httpx.Param{Name: "tenant", Description: "the tenant (default: the caller's one tenant)"}
	page := []httpx.Param{{Name: "limit", Description: "tickets a page (1 to 500, default 50)"}, {Name: "cursor", Description: "next_cursor of the page before"}}
	minSeq := httpx.Param{Name: "min_seq", Description: "answer once the read models are at this stream sequence (at most 5 s)"}
	period := []httpx.Param{tenant, {Name: "from", Description: "first day, YYYY-MM-DD (tenant's zone)"}, {Name: "to", Description: "last day, YYYY-MM-DD"},
		{Name: "as_of", Description: "RFC 3339: the report as it stood then, replayed from the log"}, minSeq}
	access.Handle(rs, access.OpQueueRead, httpx.Route{Method: "GET", Path: "/v1/queues", ID: "getQueue",
		Summary: "A queue of open tickets by SLA due time", Response: PageJSON{},
		Query: append([]httpx.Param{tenant, {Name: "group"}, {Name: "tier"}, {Name: "agent"}, minSeq}, page...)}, h.read(h.queue))
	access.Handle(rs, access.OpTicketRead, httpx.Route{Method: "GET", Path: "/v1/tickets/{id}/view", ID: "getTicketView",
		Summary: "The ticket's read model: the ticket with its SLA clocks", Response: ViewJSON{}, Query: []httpx.Param{minSeq}}, h.read(h.view))
	access.Handle(rs, access.OpQueueRead, httpx.Route{Method: "GET", Path: "/v1/sla/board", ID: "getSLABoard",
		Summary: "Tickets at risk of or past their SLA", Response: PageJSON{},
		Query: append([]httpx.Param{tenant, {Name: "status", Description: "at_risk or breached"}, minSeq}, page...)}, h.read(h.board))
	access.Handle(rs, access.OpReportRead, httpx.Route{Method: "GET", Path: "/v1/reports/summary", ID: "getSummaryReport",
		Summary: "The monthly ticket summary: JSON, CSV (Accept: text/csv) or printable HTML (format=html)", Response: SummaryJSON{},
		Query: append(period, httpx.Param{Name: "format", Description: "json (default), csv or html"})}, h.read(h.summary))
	access.Handle(rs, access.OpReportRead, httpx.Route{Method: "GET", Path: "/v1/reports/trends", ID: "getTrendsReport",
		Summary: "Recurring categories and sources over a period", Response: TrendsJSON{},
		Query: append(period, httpx.Param{Name: "min_tickets"}, httpx.Param{Name: "min_share"})}, h.read(h.trends))
	return h, nil
}

// Routes are the reporting API's routes.
func (h *Handler) Routes() *httpx.Routes { return h.routes }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.routes.ServeHTTP(w, r) }

// read wraps a query: it waits for min_seq, then runs it and writes its errors as problems.
func (h *Handler) read(query func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h.waitForMinSeq(r)
		if err == nil {
			err = query(w, r)
		}
		if err != nil {
			httpx.Fail(w, r, h.cfg.Logger, err)
		}
	}
}

func (h *Handler) waitForMinSeq(r *http.Request) error {
	raw := r.URL.Query().Get("min_seq")
	if raw == "" {
		return nil
	}
	seq, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return &events.ValidationError{Field: "min_seq", Reason: "must be a stream sequence (a whole number)"}
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.MaxWait)
	defer cancel()
	if err := h.cfg.Projector.WaitFor(ctx, seq); err != nil {
		return events.NewError(events.KindUnavailable, "reporting: read models behind min_seq",
			"the read models have not reached min_seq yet (they are at "+strconv.FormatUint(h.cfg.Projector.Seq(), 10)+"); retry")
	}
	return nil
}

func writeSeq(w http.ResponseWriter, seq uint64) {
	w.Header().Set(HeaderSeq, strconv.FormatUint(seq, 10))
}
