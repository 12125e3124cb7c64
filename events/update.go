package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Trail is a ticket's trusted history: what a decision about the ticket may build on.
type Trail struct {
	// Raws are the events the ticket's chain accepts (see Trusted), in stream order.
	Raws []Raw
	// Head is the last accepted event: the next event's PrevHash names Head.Hash, and its
	// tenant is Head.Tenant.
	Head ChainHead
	// Version is the stream sequence of the last message on the ticket's stored subject
	// (tickets.<partition>.<Head.Tenant>.<id>), accepted or not: the expected version of the next append.
	Version uint64
	ids     map[string]bool // the ids of Raws[:indexed], once the trail is long (index)
	indexed int
	seen    uint64                    // the highest sequence of the ticket taken in (see Extend)
	refused map[uint64]*RejectedError // why each refused message of the ticket was refused
}

// LoadTrail reads a ticket's trusted history; ErrNotFound when the ticket has no event
// its chain accepts. Everything that decides about a ticket works on this history, so
// that a refused event is never built on.
func (s *Store) LoadTrail(ctx context.Context, ticketID string) (Trail, error) {
	t, err := s.FollowTrail(ctx, ticketID)
	if err == nil && len(t.Raws) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return Trail{}, err
	}
	return t, nil
}

// Has reports whether the trail holds an event with the id.
func (t Trail) Has(id string) bool {
	if t.ids != nil {
		return t.ids[id]
	}
	return slices.ContainsFunc(t.Raws, func(r Raw) bool { return r.ID == id })
}

// Events returns the trail's events in stream order.
func (t Trail) Events() []Event { return t.Until(t.Version) }

// Until returns the trail's events up to and including stream sequence seq.
func (t Trail) Until(seq uint64) []Event {
	raws := t.upTo(seq)
	out := make([]Event, 0, len(raws))
	for _, r := range raws {
		out = append(out, r.Event)
	}
	return out
}

// upTo is the trail's raws up to and including stream sequence seq: the ones before the
// first beyond it.
func (t Trail) upTo(seq uint64) []Raw {
	for i, r := range t.Raws {
		if r.Sequence > seq {
			return t.Raws[:i]
		}
	}
	return t.Raws
}

// Ticket folds the whole trail, as Fold(t.Events()) does without copying the events:
// every reacting service folds every ticket of every batch it handles.
func (t Trail) Ticket() Ticket {
	var k Ticket
	for _, r := range t.upTo(t.Version) {
		k = Evolve(k, r.Event)
	}
	return k
}

// Appender appends one ticket's events after its head, as Store.Append does (ErrConflict
// when the ticket is no longer at ExpectedVersion, ErrDuplicate or Appended.Duplicate for
// an event id already appended). *Store satisfies it, and so does a group committer that
// gathers the appends of many tickets into atomic batches.
type Appender interface {
	Append(ctx context.Context, a Append) (Appended, error)
}

// DefaultAttempts is how often Update decides when UpdateOptions.Attempts is 0: the first
// decision and up to DefaultAttempts-1 re-decisions after lost races.
const DefaultAttempts = 20

// UpdateOptions tunes Update. The zero value appends through the store and decides up to
// DefaultAttempts times.
type UpdateOptions struct {
	// Via appends the decided events (default: the store itself).
	Via Appender
	// Attempts bounds how often the ticket is loaded and decided: 1 refuses retries, so a
	// lost race returns the conflict (what a conditional request, If-Match, wants);
	// 0 means DefaultAttempts.
	Attempts int
	// From, when set, is the trusted history to decide on first instead of loading it
	// (a consumer's trail, brought up to date); a lost race loads the stored history.
	From *Trail
}

// Updated is the outcome of an Update.
type Updated struct {
	// Trail is the history the successful decision saw.
	Trail Trail
	// Events are the events appended, as stored (none for a no-op).
	Events []Event
	// Version is the ticket's version after the update (Trail.Version for a no-op).
	Version uint64
}

// Update is the one way to add events to an existing ticket: it loads the ticket's
// trusted history (LoadTrail, or takes opts.From the first time), lets decide choose the
// events, and appends them through opts.Via behind the history's head with optimistic
// concurrency; when another writer got there first it starts over, loading and deciding
// again on the new history.
//
// The contract:
//   - decide sees the trusted history only: a forged or refused event is never in it, the
//     new events link to Trail.Head, and ExpectedVersion is Trail.Version (so a forged
//     message at the end of the ticket is stepped over, never built on). decide may be
//     called several times, each time on a newer history; it must not have effects of its
//     own beyond returning events.
//   - The events decide returns get Tenant (Head.Tenant), TicketID, ExpectedVersion and
//     PrevHash from the path; an event whose ID the history already holds is dropped (it
//     is recorded: this is how derived events stay exactly-once). Nothing left is a no-op:
//     Update appends nothing and returns the trail with Version = Trail.Version.
//   - A race is lost when the append answers ErrConflict, ErrDuplicate or
//     Appended.Duplicate. Update decides at most opts.Attempts times (DefaultAttempts when
//     0), then returns an error that wraps the last ErrConflict or ErrDuplicate.
//   - decide's own error is returned as it is, unwrapped, and nothing is appended.
//     Loading errors wrap ErrNotFound for a ticket without a trusted event; append errors
//     other than a lost race are returned wrapped, without a retry.
func (s *Store) Update(ctx context.Context, ticketID string, decide func(Trail) ([]Event, error), opts UpdateOptions) (Updated, error) {
	via, attempts := opts.Via, opts.Attempts
	if via == nil {
		via = s
	}
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	var lost error
	for attempt := range attempts {
		var trail Trail
		if attempt == 0 && opts.From != nil {
			trail = *opts.From
		} else {
			var err error
			if trail, err = s.LoadTrail(ctx, ticketID); err != nil {
				return Updated{}, fmt.Errorf("update ticket %s: %w", ticketID, err)
			}
		}
		decided, err := decide(trail)
		if err != nil {
			return Updated{}, err
		}
		fresh := make([]Event, 0, len(decided))
		for _, e := range decided {
			if e.ID == "" || !trail.Has(e.ID) {
				fresh = append(fresh, e)
			}
		}
		if len(fresh) == 0 {
			return Updated{Trail: trail, Version: trail.Version}, nil
		}
		ap, err := via.Append(ctx, Append{Tenant: trail.Head.Tenant, TicketID: ticketID,
			ExpectedVersion: trail.Version, PrevHash: trail.Head.Hash, Events: fresh})
		switch {
		case err == nil && ap.Duplicate:
			lost = fmt.Errorf("%w: event %s already appended", ErrDuplicate, fresh[0].ID)
		case err == nil:
			return Updated{Trail: trail, Events: ap.Events, Version: ap.Version}, nil
		case errors.Is(err, ErrConflict), errors.Is(err, ErrDuplicate):
			lost = err
		default:
			return Updated{}, fmt.Errorf("update ticket %s: %w", ticketID, err)
		}
	}
	return Updated{}, fmt.Errorf("update ticket %s: lost the race for its head %d times: %w", ticketID, attempts, lost)
}
