package intake

import (
	"errors"
	"net/http"
	"reflect"

	"github.com/google/uuid"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// idempotencyNamespace derives an open's event id from its Idempotency-Key, so that the
// log's duplicate window recognises a repeated request. NB: never change it.
var idempotencyNamespace = uuid.MustParse("6f0d3c8e-9a4b-4c55-8a61-3f1f8f2d7b10")

// createRequest is the body of POST /v1/tickets.
type createRequest struct {
	Tenant string `json:"tenant"`
	events.Opened
}

// create opens a ticket. With an Idempotency-Key, a repeat of the key (within the log's
// duplicate window, 24h by default) returns the ticket the first request opened and
// appends nothing; the same key with a different body is refused with 422.
func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := httpx.DecodeJSON(w, r, &req, false); err != nil {
		httpx.Fail(w, r, h.cfg.Logger, err)
		return
	}
	if !events.ValidToken(req.Tenant) {
		httpx.Fail(w, r, h.cfg.Logger, &events.ValidationError{Field: "tenant", Reason: "required: 1-64 letters, digits, '-' or '_'"})
		return
	}
	principal := access.From(r.Context())
	if !principal.Allows(req.Tenant) {
		httpx.Fail(w, r, h.cfg.Logger, access.ErrNoTenant)
		return
	}
	decided, err := events.Decide(events.Ticket{}, req.Opened, h.cfg.Now())
	if err != nil {
		httpx.Fail(w, r, h.cfg.Logger, err)
		return
	}
	id, err := uuid.NewV7()
	if err != nil {
		httpx.Fail(w, r, h.cfg.Logger, err)
		return
	}
	corr := httpx.CorrelationID(r)
	ev := events.Event{Data: decided[0], Source: Source, Actor: principal.Actor(), CorrelationID: corr, CausationID: corr}
	key := r.Header.Get("Idempotency-Key")
	if key != "" {
		if len(key) > 255 {
			httpx.Fail(w, r, h.cfg.Logger, &events.ValidationError{Field: "Idempotency-Key", Reason: "at most 255 characters"})
			return
		}
		ev.ID = uuid.NewSHA1(idempotencyNamespace, []byte(req.Tenant+"\x00"+key)).String()
	}
	ap, err := h.cfg.Committer.Append(r.Context(), events.Append{Tenant: req.Tenant, TicketID: id.String(), Events: []events.Event{ev}})
	if err != nil {
		httpx.Fail(w, r, h.cfg.Logger, err)
		return
	}
	if ap.Duplicate {
		h.replay(w, r, ap.Version, decided[0])
		return
	}
	t := events.Fold(ap.Events)
	w.Header().Set("Location", "/v1/tickets/"+t.ID)
	writeTicket(w, http.StatusCreated, t, ap.Version)
}

// replay answers a repeated Idempotency-Key with the ticket the key first opened.
func (h *Handler) replay(w http.ResponseWriter, r *http.Request, seq uint64, opened events.Payload) {
	first, err := h.cfg.Store.Get(r.Context(), seq)
	if err != nil {
		httpx.Fail(w, r, h.cfg.Logger, err)
		return
	}
	if !reflect.DeepEqual(first.Data, opened) {
		httpx.Fail(w, r, h.cfg.Logger, httpx.NewProblem(http.StatusUnprocessableEntity, httpx.KindIdempotencyReuse,
			"Idempotency-Key reused", "this Idempotency-Key opened a ticket with a different request"))
		return
	}
	tr, err := h.load(r.Context(), first.TicketID)
	if err != nil {
		if errors.Is(err, events.ErrNotFound) {
			err = errors.New("idempotent replay: original ticket not loadable")
		}
		httpx.Fail(w, r, h.cfg.Logger, err)
		return
	}
	t := tr.Ticket()
	w.Header().Set("Location", "/v1/tickets/"+t.ID)
	w.Header().Set("Idempotent-Replayed", "true")
	writeTicket(w, http.StatusCreated, t, tr.Version)
}
