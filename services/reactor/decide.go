package reactor

import (
	"context"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// Decider decides about one ticket of a batch: t is the ticket's trusted history up to
// and including the batch's events of it (and possibly later ones, when it was just
// loaded), causes are those events in stream order (redeliveries included). It must be a
// function of its arguments and the service's configuration: it may be called again for
// the same causes on a newer history (after a lost race, a redelivery or a replay), and
// the events it returns carry ids from DerivedID, so that the ones already recorded are
// dropped. It must not have effects of its own; Decision.Then and Decision.Later are
// where effects go.
type Decider func(ctx context.Context, t events.Trail, causes []events.Raw) (Decision, error)

// Decision is what a Decider wants done about a ticket.
type Decision struct {
	// Events are recorded behind the ticket's head with the rest of the batch, through
	// the process's group committer; an event the history holds already is dropped.
	// CausationID defaults to the last cause, CorrelationID to the cause's.
	Events []events.Event
	// Then, when set, runs once Events are recorded and before the causes are acked
	// (a batch's tickets' Then run all at once); an error redelivers the causes.
	Then func(ctx context.Context) error
	// Later, when set, runs off the batch, concurrently with the next batches: the causes
	// stay unacked until it returns (so Config.MaxAckPending bounds the Later work of a
	// partition), and the events it returns are then recorded through the one update
	// path. For work that waits on the outside world (webhook deliveries and their
	// retries); it must not keep the Trail it was decided on. An error redelivers the
	// causes; giving the partition up cancels its ctx.
	Later func(ctx context.Context) ([]events.Event, error)
}

// PerCause adapts a decision per cause event into a Decider: decide is called for each
// cause in order, on the history with the events decided for the earlier causes added as
// if recorded (events.Trail.WithPending); each decided event's CausationID defaults to
// its cause.
func PerCause(decide func(ctx context.Context, t events.Trail, cause events.Raw) ([]events.Event, error)) Decider {
	return func(ctx context.Context, t events.Trail, causes []events.Raw) (Decision, error) {
		var out []events.Event
		for _, c := range causes {
			evs, err := decide(ctx, t.WithPending(out), c)
			if err != nil {
				return Decision{}, err
			}
			for _, e := range evs {
				if e.CausationID == "" {
					e.CausationID = c.ID
				}
				if e.CorrelationID == "" {
					e.CorrelationID = CorrelationOf(c.Event)
				}
				out = append(out, e)
			}
		}
		return Decision{Events: out}, nil
	}
}

// CorrelationOf is the correlation id effects of cause carry: its own, or its id.
func CorrelationOf(cause events.Event) string {
	if cause.CorrelationID != "" {
		return cause.CorrelationID
	}
	return cause.ID
}
