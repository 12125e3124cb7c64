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
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
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
}

// Handler serves /v1/queues, /v1/sla/board, /v1/tickets/{id}/view and /v1/reports/. Auth is the
// caller's concern.
type Handler struct {
	cfg     Config
	configs *reactor.Configs
	mux     *http.ServeMux
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
	h := &Handler{cfg: cfg, configs: reactor.NewConfigs(cfg.Store), mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /v1/queues", h.read(h.queue))
	h.mux.HandleFunc("GET /v1/tickets/{id}/view", h.read(h.view))
	h.mux.HandleFunc("GET /v1/sla/board", h.read(h.board))
	h.mux.HandleFunc("GET /v1/reports/summary", h.read(h.summary))
	h.mux.HandleFunc("GET /v1/reports/trends", h.read(h.trends))
	h.mux.HandleFunc("/", httpx.NotFound)
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// read wraps a query: it waits for min_seq, then runs it and writes its errors as problems.
func (h *Handler) read(query func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h.waitForMinSeq(r)
		if err == nil {
			err = query(w, r)
		}
		if err != nil {
			h.fail(w, r, err)
		}
	}
}

// errNotCaughtUp is a read whose min_seq the read models did not reach within MaxWait.
var errNotCaughtUp = errors.New("reporting: read models behind min_seq")

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
		return errNotCaughtUp
	}
	return nil
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errNotCaughtUp):
		w.Header().Set("Retry-After", "1")
		httpx.WriteProblem(w, httpx.NewProblem(http.StatusServiceUnavailable, httpx.KindUnavailable, "Read model behind",
			"the read models have not reached min_seq yet (they are at "+strconv.FormatUint(h.cfg.Projector.Seq(), 10)+"); retry"))
	case errors.Is(err, projections.ErrNotFound):
		httpx.WriteProblem(w, httpx.NewProblem(http.StatusNotFound, httpx.KindNotFound, "Not found", "no ticket with that id in the read models"))
	case errors.Is(err, projections.ErrBadCursor):
		p := httpx.NewProblem(http.StatusBadRequest, httpx.KindValidation, "Invalid field", "cursor: not a cursor a page handed out")
		p.Field = "cursor"
		httpx.WriteProblem(w, p)
	default:
		httpx.Fail(w, r, h.cfg.Logger, err)
	}
}

func writeSeq(w http.ResponseWriter, seq uint64) {
	w.Header().Set(HeaderSeq, strconv.FormatUint(seq, 10))
}
