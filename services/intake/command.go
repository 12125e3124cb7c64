package intake

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// commandRetries bounds how often a command without If-Match is re-decided after losing
// a race with a concurrent command on the same ticket.
const commandRetries = 3

// exposedCommands are the command names POST /v1/tickets/{id}/{command} accepts.
var exposedCommands = []string{"assign", "cancel", "close", "comment", "escalate", "hold", "link",
	"recategorize", "reopen", "reprioritize", "resolve", "respond", "resume"}

// command applies one command to a ticket. With If-Match the ticket must still be at that
// version (else 412). Without it, a command that loses a race is decided again against
// the new state, so two conflicting commands never both apply. A refused command
// appends nothing.
func (h *Handler) command(w http.ResponseWriter, r *http.Request) {
	h.run(w, r, r.PathValue("command"))
}

// comment is POST /v1/tickets/{id}/comment: a route of its own, for its own operation.
func (h *Handler) comment(w http.ResponseWriter, r *http.Request) { h.run(w, r, "comment") }

func (h *Handler) run(w http.ResponseWriter, r *http.Request, name string) {
	cmd, ok := events.NewCommand(name)
	if !ok || !slices.Contains(exposedCommands, name) {
		p := httpx.NewProblem(http.StatusNotFound, httpx.KindUnknownCommand, "Unknown command",
			name+" is not a ticket command; commands: "+strings.Join(exposedCommands, ", "))
		p.Allowed = exposedCommands
		httpx.WriteProblem(w, p)
		return
	}
	if err := httpx.DecodeJSON(w, r, cmd, true); err != nil {
		httpx.Fail(w, r, h.cfg.Logger, err)
		return
	}
	want, conditional, err := ifMatch(r)
	if err != nil {
		httpx.Fail(w, r, h.cfg.Logger, err)
		return
	}
	attempts := commandRetries + 1
	if conditional {
		attempts = 1 // a lost race is the caller's to resolve: 412
	}
	corr, actor := httpx.CorrelationID(r), access.From(r.Context()).Actor()
	up, err := h.cfg.Store.Update(r.Context(), r.PathValue("id"), func(tr events.Trail) ([]events.Event, error) {
		if err := visible(r.Context(), tr); err != nil {
			return nil, err
		}
		if conditional && tr.Version != want {
			return nil, preconditionFailed(tr.Version)
		}
		decided, err := events.Decide(tr.Ticket(), cmd, h.cfg.Now())
		if err != nil {
			return nil, err
		}
		evs := make([]events.Event, len(decided))
		for i, p := range decided {
			evs[i] = events.Event{Data: p, Source: Source, Actor: actor, CorrelationID: corr, CausationID: corr}
		}
		return evs, nil
	}, events.UpdateOptions{Via: h.cfg.Committer, Attempts: attempts})
	if conditional && errors.Is(err, events.ErrConflict) {
		err = preconditionFailed(0)
	}
	if err != nil {
		httpx.Fail(w, r, h.cfg.Logger, err)
		return
	}
	writeTicket(w, http.StatusOK, events.Fold(append(up.Trail.Events(), up.Events...)), up.Version)
}

func preconditionFailed(current uint64) *httpx.Problem {
	detail := "the ticket changed since the If-Match version; reload and retry"
	if current > 0 {
		detail = "the ticket is at a newer version than If-Match; reload and retry"
	}
	return httpx.NewProblem(http.StatusPreconditionFailed, httpx.KindPreconditionFailed, "Precondition failed", detail)
}
