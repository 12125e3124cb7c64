package reactor

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// History is a ticket's recorded events as a service read them.
type History struct {
	Raws    []events.Raw
	Version uint64 // stream sequence of the last event: the expected version of the next append
	Hash    string // hash of the last accepted event: the prev hash of the next append
	ids     map[string]bool
}

// LoadHistory reads the events of a ticket its chain accepts (events.ErrNotFound for an
// unknown ticket; see events.Store.LoadTrusted).
func LoadHistory(ctx context.Context, store *events.Store, ticketID string) (History, error) {
	raws, head, version, err := store.LoadTrusted(ctx, ticketID)
	if err != nil {
		return History{}, err
	}
	h := History{Raws: raws, Version: version, Hash: head.Hash, ids: make(map[string]bool, len(raws))}
	for _, r := range raws {
		h.ids[r.ID] = true
	}
	return h, nil
}

// Has reports whether an event with the id is recorded.
func (h History) Has(id string) bool { return h.ids[id] }

// Events returns the recorded events (stream order).
func (h History) Events() []events.Event {
	out := make([]events.Event, len(h.Raws))
	for i, r := range h.Raws {
		out[i] = r.Event
	}
	return out
}

// Until returns the events up to and including stream sequence seq.
func (h History) Until(seq uint64) []events.Event {
	var out []events.Event
	for _, r := range h.Raws {
		if r.Sequence > seq {
			break
		}
		out = append(out, r.Event)
	}
	return out
}

// Ticket folds the whole history.
func (h History) Ticket() events.Ticket { return events.Fold(h.Events()) }

// idNamespace is the UUIDv5 namespace of derived event ids. NB: never change it: the ids
// of recorded effects are derived from it, and a change would repeat every effect on replay.
var idNamespace = uuid.MustParse("6f1d5d0e-6c1b-4a55-9d0e-2a8c9b7f3e41")

// DerivedID is the id of the effect named by parts (e.g. "routed") of the event cause:
// the same cause and parts give the same id on every replica and on every replay.
func DerivedID(cause string, parts ...string) string {
	name := cause
	for _, p := range parts {
		name += "/" + p
	}
	return uuid.NewSHA1(idNamespace, []byte(name)).String()
}

// Decide returns the events a service wants recorded for a ticket, given its history,
// with ids from DerivedID. Events already recorded are dropped by Apply.
type Decide func(h History) ([]events.Event, error)

// maxRaces bounds how often Apply re-reads and re-decides after losing a race for the
// ticket's head to another writer.
const maxRaces = 20

// Apply records the service's decision about a ticket exactly once: it loads the
// history, decides, drops the events already recorded, fills in the envelope
// (source, actor, correlation and, where unset, causation from cause) and appends the
// rest atomically behind the head; after a lost race it starts over. It returns the
// events appended (none when everything was already recorded).
func (s *Service) Apply(ctx context.Context, cause events.Event, decide Decide) ([]events.Event, error) {
	for range maxRaces {
		h, err := LoadHistory(ctx, s.store, cause.TicketID)
		if err != nil {
			return nil, fmt.Errorf("%s: load ticket %s: %w", s.name, cause.TicketID, err)
		}
		wanted, err := decide(h)
		if err != nil {
			return nil, err
		}
		var fresh []events.Event
		for _, e := range wanted {
			if e.ID == "" {
				return nil, fmt.Errorf("%s: decided event %s without a derived id", s.name, e.Data.EventType())
			}
			if h.Has(e.ID) {
				continue
			}
			e.Source, e.Actor = s.source, s.actor
			if e.CausationID == "" {
				e.CausationID = cause.ID
			}
			if e.CorrelationID == "" {
				e.CorrelationID = cause.CorrelationID
			}
			if e.CorrelationID == "" {
				e.CorrelationID = cause.ID
			}
			fresh = append(fresh, e)
		}
		if len(fresh) == 0 {
			return nil, nil
		}
		last := h.Raws[len(h.Raws)-1]
		res, err := s.store.Append(ctx, events.Append{Tenant: last.Tenant, TicketID: last.TicketID,
			ExpectedVersion: h.Version, PrevHash: h.Hash, Events: fresh})
		switch {
		case err == nil && res.Duplicate:
			continue // recorded meanwhile by another replica: decide again on the new history
		case err == nil:
			return res.Events, nil
		case errors.Is(err, events.ErrConflict), errors.Is(err, events.ErrDuplicate):
			continue
		default:
			return nil, fmt.Errorf("%s: append to ticket %s: %w", s.name, cause.TicketID, err)
		}
	}
	return nil, fmt.Errorf("%s: ticket %s: lost the race for its head %d times", s.name, cause.TicketID, maxRaces)
}
