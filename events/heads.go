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
	// out could be another tenant's of a ticket id (see Started). Without one it sends
	// every match, or refuses more than 1,024 with an error, which callers answer by
	// reading the tickets whole.
	msgs, err := jetstreamext.GetLastMsgsFor(ctx, s.js, StreamName, filters)
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

// OwnSubjectOnly tells, for tickets of partition p (id → tenant), which have messages
// under their own tenant's stored subject only (and at least one there), in one request
// for the last message of every subject of the ids (TicketFilter), which the server
// answers from each subject's last block: those may be read with FollowOwnTrail.
func (s *Store) OwnSubjectOnly(ctx context.Context, p int, tickets map[string]string) (map[string]bool, error) {
	filters := make([]string, 0, len(tickets))
	for id := range tickets {
		filters = append(filters, TicketFilter(id))
	}
	msgs, err := s.lastMessages(ctx, filters)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(tickets))
	foreign := map[string]bool{}
	for _, m := range msgs {
		_, id := ticketOfSubject(m.Subject)
		if tenant, ok := tickets[id]; ok && m.Subject == StoredSubject(p, tenant, id) {
			out[id] = true
		} else {
			foreign[id] = true
		}
	}
	for id := range foreign {
		delete(out, id)
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
		msgs, err := jetstreamext.GetBatch(ctx, s.js, StreamName, readBatch,
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

// Started tells, for events that claim to start their ticket (no prevhash), which really
// are the first message of their ticket under any tenant's subject, in one request for all
// of them. A claim holds when both are true:
//   - the server checked, as it stored the event, that its own stored subject was empty
//     (Raw.OpensSubject);
//   - no other tenant's subject holds a message of the ticket id: one batched direct get of
//     the last message of every subject of the ids (TicketFilter), which the server answers
//     from each subject's last block.
//
// A claim that fails the second only because another tenant's message came later is
// answered false too: the caller then reads the ticket's history, which tells exactly.
func (s *Store) Started(ctx context.Context, claims []Raw) (map[string]bool, error) {
	out := make(map[string]bool, len(claims))
	filters := make([]string, 0, len(claims))
	tenants := make(map[string]string, len(claims))
	for _, r := range claims {
		if r.PrevHash != "" || !r.OpensSubject {
			out[r.TicketID] = false
			continue
		}
		out[r.TicketID] = true
		tenants[r.TicketID] = r.Tenant
		filters = append(filters, TicketFilter(r.TicketID))
	}
	msgs, err := s.lastMessages(ctx, filters)
	if err != nil {
		return nil, fmt.Errorf("first messages of %d tickets: %w", len(filters), err)
	}
	for _, m := range msgs {
		if tenant, id := ticketOfSubject(m.Subject); tenant != tenants[id] {
			out[id] = false
		}
	}
	return out, nil
}
