package projections

import (
	"encoding/json"
	"errors"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// pending is one batch's work. What its events read and change again and again — ticket
// views and their index entries, counters, report buckets — is read once, kept in memory
// while the batch's events apply and written once by flush; everything else goes straight
// into the write batch. Tickets come from the projector's cache of committed state when it
// has them (else from the store) and go back to it once the batch has committed (cache).
// Reads never see the batch's own writes, so it is a plain (not indexed) Pebble batch.
type pending struct {
	db      *pebble.DB
	b       *pebble.Batch
	cached  *simplelru.LRU[string, *ticketState]
	tickets map[string]*ticketState
	counts  map[string]int64 // counter key → delta
	buckets map[string]*hourBucket
	// refused are the batch's events that fail their ticket's chain, applied to nothing.
	refused []events.Refused
}

// ticketState is a ticket's view and the index entries the store holds for it. Between
// batches (in the cache) entries are those of view; within a batch view moves on and
// entries stay those of the batch's start until flush moves the index.
type ticketState struct {
	view    *View
	entries []entry
}

func newPending(db *pebble.DB, cached *simplelru.LRU[string, *ticketState]) *pending {
	return &pending{db: db, b: db.NewBatch(), cached: cached, tickets: map[string]*ticketState{},
		counts: map[string]int64{}, buckets: map[string]*hourBucket{}}
}

func (pd *pending) setJSON(key []byte, v any) error {
	val, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return pd.b.Set(key, val, nil)
}

// apply checks that an event links to its ticket's chain (else it is refused and counts
// nowhere), folds it into its ticket's view and records the report figures.
func (pd *pending) apply(c events.Checked) error {
	r := c.Raw()
	ts, err := pd.ticket(r.TicketID)
	if err != nil {
		return err
	}
	v := ts.view
	if _, err := (events.ChainHead{Tenant: v.Ticket.Tenant, Hash: v.Hash, Sequence: v.Seq}).LinkChecked(c); err != nil {
		var refused events.Refused
		if !errors.As(err, &refused) {
			return err
		}
		pd.refused = append(pd.refused, refused)
		return nil
	}
	e := r.Event
	before := *v
	v.apply(e)
	return pd.record(&before, v, e)
}

func (pd *pending) ticket(id string) (*ticketState, error) {
	if ts, ok := pd.tickets[id]; ok {
		return ts, nil
	}
	ts, ok := pd.cached.Get(id)
	if !ok {
		v := &View{}
		if err := getJSON(pd.db, []byte(prefixView+id), v); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		ts = &ticketState{view: v, entries: entries(v)}
	}
	pd.tickets[id] = ts
	return ts, nil
}

func (pd *pending) bucket(tenant string, hour uint64) (*hourBucket, error) {
	key := string(reportKey(tenant, hour))
	if hb, ok := pd.buckets[key]; ok {
		return hb, nil
	}
	hb := &hourBucket{}
	if err := getJSON(pd.db, []byte(key), hb); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	pd.buckets[key] = hb
	return hb, nil
}

// flush writes the views the batch changed and moves their index entries from those of
// the batch's start to those of its end (an entry a ticket had only in between is never
// written), then writes the counters and buckets.
func (pd *pending) flush() error {
	var key, view []byte // reused: the batch copies what it is given
	for id, ts := range pd.tickets {
		if ts.view.Seq == 0 { // only refused events named this ticket: it does not exist
			continue
		}
		var err error
		if view, err = appendViewJSON(view[:0], ts.view); err != nil {
			return err
		}
		key = append(append(key[:0], prefixView...), id...)
		if err := pd.b.Set(key, view, nil); err != nil {
			return err
		}
		now := entries(ts.view)
		gone, added := diff(ts.entries, now)
		for _, en := range gone {
			if err := pd.b.Delete(en.key, nil); err != nil {
				return err
			}
			pd.counts[string(en.count)]--
		}
		for _, en := range added {
			if err := pd.b.Set(en.key, nil, nil); err != nil {
				return err
			}
			pd.counts[string(en.count)]++
		}
		ts.entries = now
	}
	for key, hb := range pd.buckets {
		if err := pd.setJSON([]byte(key), hb); err != nil {
			return err
		}
	}
	for key, delta := range pd.counts {
		if delta == 0 {
			continue
		}
		n, err := getUint(pd.db, []byte(key))
		if err != nil {
			return err
		}
		if n = uint64(int64(n) + delta); n == 0 {
			err = pd.b.Delete([]byte(key), nil)
		} else {
			err = pd.b.Set([]byte(key), u64(n), nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// cache hands the batch's tickets to the projector's cache once the batch has committed.
func (pd *pending) cache() {
	for id, ts := range pd.tickets {
		if ts.view.Seq != 0 { // else only refused events named it: it does not exist
			pd.cached.Add(id, ts)
		}
	}
}
