package events

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// ownSubjectFilter is the subject filter of one ticket's messages under its own tenant:
// its stored subject, in whichever partition.
func ownSubjectFilter(tenant, ticketID string) string {
	return SubjectPrefix + ".*." + tenant + "." + ticketID
}

// headerNumPending is the header of a batched direct get's answer that counts the
// messages still to come in it.
const headerNumPending = "Nats-Num-Pending"

// lastMessages returns the last message of every subject the filters match, in one
// batched direct get (jetstreamext.GetLastMsgsFor; the stream allows direct gets), or an
// error when they match more than the server sends in one answer.
func (s *Store) lastMessages(ctx context.Context, filters []string) ([]*jetstream.RawStreamMsg, error) {
	if len(filters) == 0 {
		return nil, nil
	}
	// A request the server never answers (one it dropped under load) must not hold a
	// caller forever: the committer's workers wait on this one.
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	// No batch size: the server would stop at it without saying so, and a subject left
	// out could be another tenant's of a ticket id (see TicketSubjects.Started). Without
	// one it sends every match, or refuses more than 1,024 with an error, which callers
	// answer by reading the tickets whole; an answer it cut short at its byte limit says
	// so in its last message's pending count.
	msgs, err := jetstreamext.GetLastMsgsFor(ctx, s.reads, StreamName, filters)
	if err != nil {
		return nil, fmt.Errorf("last messages of %d tickets: %w", len(filters), err)
	}
	var out []*jetstream.RawStreamMsg
	for m, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			break // no subject matched
		}
		if err != nil {
			return nil, fmt.Errorf("last messages of %d tickets: %w", len(filters), err)
		}
		out = append(out, m)
	}
	if n := len(out); n > 0 {
		if pending := out[n-1].Header.Get(headerNumPending); pending != "" && pending != "0" {
			return nil, fmt.Errorf("last messages of %d tickets: the answer stopped with %s more", len(filters), pending)
		}
	}
	return out, nil
}

// ticketOfSubject is the tenant and ticket a stored subject names: its last two tokens
// (in every layout of the log).
func ticketOfSubject(subject string) (tenant, ticketID string) {
	tokens := strings.Split(subject, ".")
	if len(tokens) < 3 {
		return "", ""
	}
	return tokens[len(tokens)-2], tokens[len(tokens)-1]
}

// Heads returns the last message of each ticket (id → tenant) of partition p, decoded,
// in one request on the tickets' literal stored subjects: a consumer whose trail of a
// ticket ends before it has fallen behind what other writers appended. A ticket whose
// last message does not decode is missing from the map.
func (s *Store) Heads(ctx context.Context, p int, tickets map[string]string) (map[string]Raw, error) {
	filters := make([]string, 0, len(tickets))
	for id, tenant := range tickets {
		filters = append(filters, StoredSubject(p, tenant, id))
	}
	msgs, err := s.lastMessages(ctx, filters)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Raw, len(msgs))
	for _, m := range msgs {
		if r, err := FromMsg(m.Subject, m.Header, m.Data, m.Sequence); err == nil && tickets[r.TicketID] == r.Tenant {
			out[r.TicketID] = r
		}
	}
	return out, nil
}

// staleAppends returns the appends (indexes into appends) whose ExpectedVersion is no
// longer the last message of their ticket's subject, in one request: the entries that
// made an atomic batch fail with a wrong last sequence.
func (s *Store) staleAppends(ctx context.Context, appends []Append, members []int) (map[int]bool, error) {
	filters := make([]string, len(members))
	for k, i := range members {
		filters[k] = ownSubjectFilter(appends[i].Tenant, appends[i].TicketID)
	}
	msgs, err := s.lastMessages(ctx, filters)
	if err != nil {
		return nil, err
	}
	type key struct{ tenant, ticket string }
	last := map[key]uint64{}
	for _, m := range msgs {
		tenant, ticket := ticketOfSubject(m.Subject)
		last[key{tenant, ticket}] = m.Sequence
	}
	stale := map[int]bool{}
	for _, i := range members {
		if last[key{appends[i].Tenant, appends[i].TicketID}] != appends[i].ExpectedVersion {
			stale[i] = true
		}
	}
	return stale, nil
}

// readBatch is how many messages one batched direct get of a ticket's history asks for.
const readBatch = 256

// messagesAfter returns the messages the filter matches after stream sequence after, in
// order, in as many batched direct gets (jetstreamext.GetBatch) as there are readBatch
// messages: one request for a ticket's whole history.
func (s *Store) messagesAfter(ctx context.Context, filter string, after uint64) ([]*jetstream.RawStreamMsg, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var out []*jetstream.RawStreamMsg
	for {
		msgs, err := jetstreamext.GetBatch(ctx, s.reads, StreamName, readBatch,
			jetstreamext.GetBatchSeq(after+1), jetstreamext.GetBatchSubject(filter))
		if err != nil {
			return nil, err
		}
		n := 0
		for m, err := range msgs {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				break
			}
			if err != nil {
				return nil, err
			}
			out = append(out, m)
			after = m.Sequence
			n++
		}
		if n < readBatch {
			return out, nil
		}
	}
}

// Between returns the events a ticket's stored subject (partition p, tenant) holds after
// stream sequence from and up to to, one direct get each (next by subject, on the literal
// subject: a wildcard makes the server look through every message after from): what a
// consumer's trail misses when other writers moved the ticket on, usually an event or
// two, which Heads has just shown end at to. A message that does not decode is left out.
func (s *Store) Between(ctx context.Context, p int, tenant, ticketID string, from, to uint64) ([]Raw, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var out []Raw
	for seq := from + 1; seq <= to; {
		m, err := s.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(StoredSubject(p, tenant, ticketID)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("events of ticket %s after seq %d: %w", ticketID, seq-1, err)
		}
		if m.Sequence > to {
			break
		}
		if r, err := FromMsg(m.Subject, m.Header, m.Data, m.Sequence); err == nil {
			out = append(out, r)
		}
		seq = m.Sequence + 1
	}
	return out, nil
}

// TicketSubjects is, for each of some ticket ids, the stored subjects that hold messages
// of it: the subject of every tenant the id was ever published under (Store.SubjectsOf).
type TicketSubjects map[string][]string

// SubjectsOf returns the stored subjects of each ticket id, in one request for the last
// message of every subject of the ids (TicketFilter), which the server answers from each
// subject's last block; an error when they match more subjects than the server sends in
// one answer (more than 1,024).
func (s *Store) SubjectsOf(ctx context.Context, ids []string) (TicketSubjects, error) {
	filters := make([]string, len(ids))
	for i, id := range ids {
		filters[i] = TicketFilter(id)
	}
	msgs, err := s.lastMessages(ctx, filters)
	if err != nil {
		return nil, err
	}
	out := make(TicketSubjects, len(ids))
	for _, m := range msgs {
		_, id := ticketOfSubject(m.Subject)
		out[id] = append(out[id], m.Subject)
	}
	return out, nil
}

// Started tells whether an event that claims to start its ticket (no prevhash) really is
// the first message of its ticket under any tenant's subject; ts must hold the ticket's
// subjects as read after the event was stored. It is, when the server proved it as it
// stored the event (Raw.StartsTicket), or else when both hold:
//   - the server checked, as it stored the event, that its own stored subject was empty
//     (Raw.OpensSubject);
//   - no other tenant's subject holds a message of the ticket id.
//
// A claim that fails the second only because another tenant's message came later is
// answered false too: the caller then reads the ticket's history, which tells exactly.
func (ts TicketSubjects) Started(r Raw) bool {
	return r.StartsTicket() || r.PrevHash == "" && r.OpensSubject && ts.OwnOnly(r.Partition, r.Tenant, r.TicketID)
}

// StartsTicket tells whether an event that claims to start its ticket (no prevhash) was
// proved, by the server as it stored it, to be the first message of its ticket id under
// any tenant's subject (Raw.OpensTicket): a reader takes it as the start of the ticket
// without asking the log.
func (r Raw) StartsTicket() bool { return r.PrevHash == "" && r.OpensTicket }

// OwnOnly tells whether the ticket's messages are all under its own tenant's stored
// subject in partition p, and there are some: then FollowOwnTrail reads its whole history.
func (ts TicketSubjects) OwnOnly(p int, tenant, ticketID string) bool {
	subjects := ts[ticketID]
	return len(subjects) == 1 && subjects[0] == StoredSubject(p, tenant, ticketID)
}
