package reporting

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/projections"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/intake"
)

// Page sizes of queues and the SLA board.
const (
	defaultLimit = 50
	maxLimit     = 500
)

// ViewJSON is a ticket's read-model view as the API returns it.
type ViewJSON struct {
	Ticket  intake.TicketJSON      `json:"ticket"`
	SLA     *projections.SLAStatus `json:"sla,omitempty"`
	NextDue *time.Time             `json:"next_due,omitempty"`
	// SLABoard is at_risk or breached while the ticket is on the SLA board.
	SLABoard string `json:"sla_board,omitempty"`
}

func viewJSON(v projections.View) ViewJSON {
	j := ViewJSON{Ticket: intake.NewTicketJSON(v.Ticket, v.Seq), SLA: v.SLA, SLABoard: v.Board()}
	if due := v.NextDue(); !due.IsZero() {
		j.NextDue = &due
	}
	return j
}

// PageJSON is one page of a queue or of the SLA board.
type PageJSON struct {
	Total      uint64     `json:"total"`
	Tickets    []ViewJSON `json:"tickets"`
	NextCursor string     `json:"next_cursor,omitempty"`
	Seq        uint64     `json:"seq"`
}

// NewPageJSON renders a page as the API answers it.
func NewPageJSON(pg projections.Page) PageJSON {
	out := PageJSON{Total: pg.Total, Tickets: make([]ViewJSON, 0, len(pg.Tickets)), NextCursor: pg.Next, Seq: pg.Seq}
	for _, v := range pg.Tickets {
		out.Tickets = append(out.Tickets, viewJSON(v))
	}
	return out
}

func writePage(w http.ResponseWriter, pg projections.Page) error {
	return writeJSON(w, pg.Seq, NewPageJSON(pg))
}

func writeJSON(w http.ResponseWriter, seq uint64, v any) error {
	writeSeq(w, seq)
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// queue serves GET /v1/queues?tenant=&group=&tier=&agent=&limit=&cursor=.
func (h *Handler) queue(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	tenant, err := access.TenantParam(r)
	if err != nil {
		return err
	}
	scope := projections.QueueScope{Tenant: tenant, Group: q.Get("group"), Agent: q.Get("agent")}
	if raw := q.Get("tier"); raw != "" {
		tier, err := strconv.Atoi(raw)
		if err != nil || tier < 0 || tier > events.MaxTier {
			return &events.ValidationError{Field: "tier", Reason: "must be a support tier 0 to 4"}
		}
		scope.Tier = &tier
	}
	limit, err := pageLimit(q.Get("limit"))
	if err != nil {
		return err
	}
	pg, err := h.cfg.Projector.Queue(scope, limit, q.Get("cursor"))
	if err != nil {
		return err
	}
	return writePage(w, pg)
}

// board serves GET /v1/sla/board?tenant=&status=at_risk|breached&limit=&cursor=.
func (h *Handler) board(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	tenant, err := access.TenantParam(r)
	if err != nil {
		return err
	}
	status := q.Get("status")
	if status != projections.BoardAtRisk && status != projections.BoardBreached {
		return &events.ValidationError{Field: "status", Reason: "must be at_risk or breached"}
	}
	limit, err := pageLimit(q.Get("limit"))
	if err != nil {
		return err
	}
	pg, err := h.cfg.Projector.Board(tenant, status, limit, q.Get("cursor"))
	if err != nil {
		return err
	}
	return writePage(w, pg)
}

// view serves GET /v1/tickets/{id}/view.
func (h *Handler) view(w http.ResponseWriter, r *http.Request) error {
	v, seq, err := h.cfg.Projector.Ticket(r.PathValue("id"))
	if err != nil {
		return err
	}
	if !access.From(r.Context()).Allows(v.Ticket.Tenant) {
		return projections.ErrNotFound
	}
	return writeJSON(w, seq, viewJSON(v))
}

func pageLimit(raw string) (int, error) {
	if raw == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxLimit {
		return 0, &events.ValidationError{Field: "limit", Reason: "must be 1 to " + strconv.Itoa(maxLimit)}
	}
	return n, nil
}
