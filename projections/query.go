package projections

import (
	"encoding/base64"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// ErrBadCursor is returned for a cursor that no page handed out.
var ErrBadCursor error = &events.KindError{Kind: events.KindValidation, Msg: "projections: invalid cursor",
	Detail: "not a cursor a page handed out", Field: "cursor"}

// queueOrderLen is the length of a queue key after its scope: due, priority, opened.
const queueOrderLen = 8 + 1 + 8

// Page is one page of an ordered index, read from one consistent snapshot.
type Page struct {
	// Seq is the stream sequence the page reflects.
	Seq uint64
	// Total is the number of tickets in the whole queue (or board column).
	Total uint64
	// Tickets are the page's tickets, in order.
	Tickets []View
	// Next is the cursor of the next page; "" on the last page.
	Next string
}

// Ticket returns the view of a ticket and the stream sequence it reflects.
func (p *Projector) Ticket(id string) (View, uint64, error) {
	snap := p.db.NewSnapshot()
	defer snap.Close()
	seq, err := getUint(snap, keyCheckpoint)
	if err != nil {
		return View{}, 0, err
	}
	var v View
	err = getJSON(snap, []byte(prefixView+id), &v)
	return v, seq, err
}

// Queue returns up to limit open tickets of the scope in queue order: the earliest next
// SLA due time first (tickets without a running clock last), then priority, then age.
// limit is at least 1; cursor is "" for the first page, else a Page.Next.
func (p *Projector) Queue(s QueueScope, limit int, cursor string) (Page, error) {
	scope := s.key()
	filter := func(v *View) bool {
		return (s.Group == "" || v.Ticket.Group == s.Group) && (s.Tier == nil || v.Ticket.Tier == *s.Tier)
	}
	if s.Agent == "" {
		filter = nil // the scope's own index is exact
	}
	return p.page(queuePrefix(scope), queueCountKey(scope), queueOrderLen, limit, cursor, filter)
}

// Board returns up to limit open tickets of a tenant at risk or breached (status
// BoardAtRisk or BoardBreached), the earliest due first.
func (p *Projector) Board(tenant, status string, limit int, cursor string) (Page, error) {
	if status != BoardAtRisk && status != BoardBreached {
		return Page{}, fmt.Errorf("projections: board status %q: want %s or %s", status, BoardAtRisk, BoardBreached)
	}
	return p.page(boardPrefix(tenant, status), boardCountKey(tenant, status), 8, limit, cursor, nil)
}

// page walks an index from the cursor. Each key is prefix, orderLen bytes of order, then
// the ticket id. filter, when set, drops tickets (Total then counts the unfiltered index).
func (p *Projector) page(prefix, countKey []byte, orderLen, limit int, cursor string, filter func(*View) bool) (Page, error) {
	limit = max(limit, 1)
	lower := prefix
	if cursor != "" {
		after, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(after) <= orderLen {
			return Page{}, ErrBadCursor
		}
		lower = append(append([]byte(nil), prefix...), after...)
		lower = append(lower, 0) // the first key after the cursor's
	}
	snap := p.db.NewSnapshot()
	defer snap.Close()
	var pg Page
	var err error
	if pg.Seq, err = getUint(snap, keyCheckpoint); err != nil {
		return Page{}, err
	}
	if pg.Total, err = getUint(snap, countKey); err != nil {
		return Page{}, err
	}
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return Page{}, err
	}
	defer it.Close()
	var last []byte // the last key visited
	for valid := it.First(); valid; valid = it.Next() {
		if len(pg.Tickets) == limit {
			pg.Next = base64.RawURLEncoding.EncodeToString(last[len(prefix):])
			break
		}
		key := it.Key()
		id := string(key[len(prefix)+orderLen:])
		var v View
		if err := getJSON(snap, []byte(prefixView+id), &v); err != nil {
			return Page{}, fmt.Errorf("index entry of ticket %s: %w", id, err)
		}
		last = append(last[:0], key...)
		if filter != nil && !filter(&v) {
			continue
		}
		pg.Tickets = append(pg.Tickets, v)
	}
	return pg, it.Error()
}
