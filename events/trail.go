package events

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"
)

// A Trail is also what a consumer of the log keeps per ticket in memory: it starts from
// LoadTrail or, at the ticket's first event, empty (Store.SubjectsOf tells that the event
// is the ticket's first message: the chain alone cannot tell a forged first event from
// the real one), follows the log with Extend,
// takes in what the consumer itself appended with Recorded, and lets several decisions
// in one batch see each other's events with WithPending. Every method applies the one
// chain rule (ChainHead.Link), so a trail followed event by event accepts and refuses
// exactly what LoadTrail would.

// FollowTrail is LoadTrail for a consumer that goes on following the ticket: a ticket
// whose messages the chain all refuses is not ErrNotFound but a trail that holds nothing,
// has seen them (Seen) and refuses every later event (nothing can start it again).
// ErrNotFound means the log has no message of the ticket.
func (s *Store) FollowTrail(ctx context.Context, ticketID string) (Trail, error) {
	history, last, err := s.load(ctx, ticketID)
	if err != nil {
		return Trail{}, err
	}
	return followed(ticketID, history, last), nil
}

// FollowOwnTrail is FollowTrail of a ticket whose messages are all under its own tenant's
// stored subject in partition p (TicketSubjects.OwnOnly tells): read on that literal
// subject, which the server finds by its index; a wildcard filter makes it look through
// the stream's blocks for matches, a cost that grows with the log.
func (s *Store) FollowOwnTrail(ctx context.Context, p int, tenant, ticketID string) (Trail, error) {
	history, last, err := s.loadFiltered(ctx, ticketID, StoredSubject(p, tenant, ticketID))
	if err != nil {
		return Trail{}, err
	}
	return followed(ticketID, history, last), nil
}

// followed is the trail of a ticket's loaded history (see FollowTrail).
func followed(ticketID string, history []Raw, last map[string]uint64) Trail {
	trusted, head, rejected := Trusted(history)
	// The next append is checked against the last message of the ticket's own subject:
	// a message under another tenant's subject of the same ticket id (refused by every
	// reader) must not make every append conflict.
	version := last[Subject(head.Tenant, ticketID)]
	var seen uint64
	for _, seq := range last {
		seen = max(seen, seq)
	}
	t := Trail{Raws: trusted, Head: head, Version: version, seen: seen}
	t.index()
	for _, err := range rejected {
		var re *RejectedError
		if errors.As(err, &re) {
			t.refuse(re)
		}
	}
	return t
}

func (t *Trail) refuse(err *RejectedError) {
	if t.refused == nil {
		t.refused = map[uint64]*RejectedError{}
	}
	t.refused[err.Sequence] = err
}

// Refusal is why the trail refused the message at stream sequence seq, or nil when it
// holds it or never saw it.
func (t Trail) Refusal(seq uint64) error {
	if err, ok := t.refused[seq]; ok {
		return err
	}
	return nil
}

// Extend folds the next event of the ticket, as the log delivers it, into the trail:
// nil when the chain accepts it, the *RejectedError otherwise. An event the trail has
// seen already (at or before Seen, e.g. one a loaded trail holds) changes nothing and
// answers nil; Holds tells whether the trail accepted it. A refused
// event of the ticket's own tenant still moves Version (the next append is checked
// against the last message of the ticket's subject); one of another tenant does not.
func (t *Trail) Extend(r Raw) error {
	if r.Sequence <= t.seen {
		return nil
	}
	next, err := t.Head.Link(r)
	if err == nil && len(t.Raws) == 0 && t.seen > 0 {
		err = &RejectedError{Sequence: r.Sequence, TicketID: r.TicketID, EventID: r.ID, event: r,
			Reason: "it claims to start its ticket, whose first message was refused: nothing can start it again"}
	}
	t.seen = r.Sequence
	if err != nil {
		if t.Head.Tenant == "" || r.Tenant == t.Head.Tenant {
			t.Version = r.Sequence
		}
		var re *RejectedError
		if errors.As(err, &re) {
			t.refuse(re)
		}
		return err
	}
	t.Head = next
	t.Version = r.Sequence
	t.Raws = append(t.Raws, r)
	t.index()
	return nil
}

// scannedIDs is how many events a trail holds before it indexes their ids (Has): a map
// costs a few hundred bytes a trail, and most tickets have a handful of events, which a
// scan finds as fast.
const scannedIDs = 16

// index brings the id index up to date after events were added to Raws: none while the
// trail is short, a map of every id once it is long.
func (t *Trail) index() {
	if t.ids == nil {
		if len(t.Raws) <= scannedIDs {
			return
		}
		t.ids, t.indexed = make(map[string]bool, 2*len(t.Raws)), 0
	}
	for _, r := range t.Raws[t.indexed:] {
		t.ids[r.ID] = true
	}
	t.indexed = len(t.Raws)
}

// Seen is the highest stream sequence of the ticket the trail has taken in, accepted or not.
func (t Trail) Seen() uint64 { return max(t.seen, t.Version) }

// Holds reports whether the trail accepted the event at stream sequence seq.
func (t Trail) Holds(seq uint64) bool {
	_, ok := slices.BinarySearchFunc(t.Raws, seq, func(r Raw, seq uint64) int {
		switch {
		case r.Sequence < seq:
			return -1
		case r.Sequence > seq:
			return 1
		}
		return 0
	})
	return ok
}

func (t Trail) ticketID() string {
	if len(t.Raws) == 0 {
		return ""
	}
	return t.Raws[0].TicketID
}

// Recorded takes in the events an append just stored behind the trail's head
// (Appended.Events, which carry their hashes and sequences). They need no check: they
// were built on this head and the append's optimistic concurrency proved nothing came
// between. The trail keeps no RawData for them.
func (t *Trail) Recorded(stored []Event) {
	for _, e := range stored {
		if e.Sequence <= t.seen {
			continue
		}
		t.Raws = append(t.Raws, Raw{Event: e})
		t.Head = ChainHead{Tenant: e.Tenant, Hash: e.Hash, Sequence: e.Sequence}
		t.Version, t.seen = e.Sequence, e.Sequence
	}
	t.index()
}

// WithPending returns a copy of the trail that holds pending as if they had been
// appended, with provisional sequences after Version: what a decision sees of the
// decisions made before it in the same batch. The copy is for deciding only; the
// original is unchanged and stays the base of the append.
func (t Trail) WithPending(pending []Event) Trail {
	if len(pending) == 0 {
		return t
	}
	out := t
	out.Raws = slices.Clone(t.Raws)
	out.ids = maps.Clone(t.ids)
	now := time.Now()
	for i, e := range pending {
		e.Sequence = t.Version + uint64(i) + 1
		e.Tenant, e.TicketID = t.Head.Tenant, t.ticketID()
		if e.Time.IsZero() {
			e.Time = now
		}
		if e.Type == "" && e.Data != nil {
			e.Type = e.Data.EventType()
		}
		out.Raws = append(out.Raws, Raw{Event: e})
	}
	out.index()
	out.Version = t.Version + uint64(len(pending))
	out.seen = out.Version
	return out
}
