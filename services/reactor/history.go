package reactor

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/ledgerdesk/ledgerdesk/events"
)

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

// Decide returns the events a service wants recorded for a ticket, given its trusted
// history, with ids from DerivedID. Events already recorded are dropped (events.Store.Update).
type Decide func(h events.Trail) ([]events.Event, error)

// Apply records the service's decision about a ticket exactly once, through the one
// update path (events.Store.Update: load the trusted history, decide, drop the events
// already recorded, append the rest atomically behind the head, start over after a lost
// race, at most events.DefaultAttempts times). It fills in the envelope: source, actor,
// correlation and, where unset, causation from cause. It returns the events appended
// (none when everything was already recorded).
func (s *Service) Apply(ctx context.Context, cause events.Event, decide Decide) ([]events.Event, error) {
	var refused error // decide's own error, returned as it is
	up, err := s.store.Update(ctx, cause.TicketID, func(h events.Trail) ([]events.Event, error) {
		wanted, err := decide(h)
		if err != nil {
			refused = err
			return nil, err
		}
		for i, e := range wanted {
			if e.ID == "" {
				refused = fmt.Errorf("%s: decided event %s without a derived id", s.name, e.Data.EventType())
				return nil, refused
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
			wanted[i] = e
		}
		return wanted, nil
	}, events.UpdateOptions{Via: s.committer})
	switch {
	case err == nil:
		return up.Events, nil
	case refused != nil && errors.Is(err, refused):
		return nil, err
	default:
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
}
