package intake

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// Source is the ce-source of events the intake appends.
const Source = "/ledgerdesk/intake"

// Config wires the intake API.
type Config struct {
	Store     *events.Store     // required: reads
	Committer *events.Committer // required: appends
	Logger    *zap.Logger       // required
	Now       func() time.Time  // clock; default time.Now
}

// Handler serves the intake routes under /v1/tickets. Authentication is the caller's
// concern (access.Guard); every route declares its operation, and the request's principal
// is the actor of every event it causes and sees only its tenants' tickets.
type Handler struct {
	cfg    Config
	routes *httpx.Routes
}

// NewHandler returns the intake API; it refuses missing dependencies.
func NewHandler(cfg Config) (*Handler, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("intake: Store is required"))
	}
	if cfg.Committer == nil {
		errs = append(errs, errors.New("intake: Committer is required"))
	}
	if cfg.Logger == nil {
		errs = append(errs, errors.New("intake: Logger is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, routes: httpx.NewRoutes()}
	rs := h.routes
	access.Handle(rs, access.OpTicketOpen, httpx.Route{Method: "POST", Path: "/v1/tickets", ID: "openTicket",
		Summary: "Open a ticket (Idempotency-Key: a repeat within 24 h returns the same ticket)",
		Request: createRequest{}, Status: http.StatusCreated, Response: TicketJSON{}}, h.create)
	access.Handle(rs, access.OpTicketRead, httpx.Route{Method: "GET", Path: "/v1/tickets/{id}", ID: "getTicket",
		Summary: "The ticket folded from its events (ETag: its version)", Response: TicketJSON{}}, h.get)
	access.Handle(rs, access.OpTicketRead, httpx.Route{Method: "GET", Path: "/v1/tickets/{id}/events", ID: "getTicketEvents",
		Summary: "The ticket's events in log order, a CloudEvents batch", Response: []events.Structured{},
		ResponseType: "application/cloudevents-batch+json"}, h.history)
	access.Handle(rs, access.OpTicketComment, httpx.Route{Method: "POST", Path: "/v1/tickets/{id}/comment", ID: "commentTicket",
		Summary: "Comment on a ticket", Request: events.Commented{}, Response: TicketJSON{}}, h.comment)
	access.Handle(rs, access.OpTicketCommand, httpx.Route{Method: "POST", Path: "/v1/tickets/{id}/{command}", ID: "commandTicket",
		Summary: "Apply a command (" + strings.Join(exposedCommands, ", ") + "); its body is the data of the event it appends " +
			"(GET /v1/contracts); If-Match makes it conditional", Request: CommandBody{}, Response: TicketJSON{},
		PathParams: []httpx.Param{{Name: "command", Enum: exposedCommands}}}, h.command)
	return h, nil
}

// CommandBody stands for a command's body in the OpenAPI document: the fields of the
// event type the command appends, whose schemas GET /v1/contracts lists.
type CommandBody map[string]any

// Routes are the intake's routes.
func (h *Handler) Routes() *httpx.Routes { return h.routes }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.routes.ServeHTTP(w, r) }

func writeTicket(w http.ResponseWriter, status int, t events.Ticket, version uint64) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", strconv.Quote(strconv.FormatUint(version, 10)))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(NewTicketJSON(t, version))
}

// load reads a ticket's trusted history (see events.Store.LoadTrail) as the caller may
// see it.
func (h *Handler) load(ctx context.Context, id string) (events.Trail, error) {
	tr, err := h.cfg.Store.LoadTrail(ctx, id)
	if err != nil {
		return events.Trail{}, err
	}
	return tr, visible(ctx, tr)
}

// visible refuses a ticket of a tenant outside the caller's scope with events.ErrNotFound,
// as if it did not exist.
func visible(ctx context.Context, tr events.Trail) error {
	if !access.From(ctx).Allows(tr.Head.Tenant) {
		return events.ErrNotFound
	}
	return nil
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	tr, err := h.load(r.Context(), r.PathValue("id"))
	if err != nil {
		httpx.Fail(w, r, h.cfg.Logger, err)
		return
	}
	writeTicket(w, http.StatusOK, tr.Ticket(), tr.Version)
}

// history serves the ticket's events as a CloudEvents JSON batch, in log order: the events
// its chain accepts (a refused one is for the auditors' tools, never shown as the ticket's).
func (h *Handler) history(w http.ResponseWriter, r *http.Request) {
	tr, err := h.load(r.Context(), r.PathValue("id"))
	if err != nil {
		httpx.Fail(w, r, h.cfg.Logger, err)
		return
	}
	out := make([]events.Structured, len(tr.Raws))
	for i, e := range tr.Raws {
		out[i] = e.ToStructured()
	}
	w.Header().Set("Content-Type", "application/cloudevents-batch+json")
	w.Header().Set("ETag", strconv.Quote(strconv.FormatUint(tr.Version, 10)))
	_ = json.NewEncoder(w).Encode(out)
}

// ifMatch parses an optional If-Match: "<version>" header; ok is false when absent.
func ifMatch(r *http.Request) (version uint64, ok bool, err error) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" {
		return 0, false, nil
	}
	v = strings.TrimPrefix(v, "W/")
	n, perr := strconv.ParseUint(strings.Trim(v, `"`), 10, 64)
	if perr != nil {
		return 0, false, httpx.NewProblem(http.StatusBadRequest, httpx.KindValidation, "Invalid If-Match",
			`If-Match must be an ETag of this API: "<version>"`)
	}
	return n, true, nil
}
