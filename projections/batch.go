package projections

import (
	"errors"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// pending is one batch's work. What its events read and change again and again — ticket
// views, counters, report buckets — is read from the store once, kept in memory while the
// batch's events apply and written once by flush; everything else goes straight into the
// write batch. Reads never see the batch's own writes, so it is a plain (not indexed)
// Pebble batch. Views come from the projector's cache of committed views when it has
// them, and go back to it once the batch has committed (cache).
type pending struct {
	db      *pebble.DB
	b       *pebble.Batch
	cached  *simplelru.LRU[string, *View]
	views   map[string]*View
	counts  map[string]int64 // counter key → delta
	buckets map[string]*hourBucket
	// refused are the batch's events that fail their ticket's chain, applied to nothing.
	refused []events.Refused
}

func newPending(db *pebble.DB, cached *simplelru.LRU[string, *View]) *pending {
	return &pending{db: db, b: db.NewBatch(), cached: cached, views: map[string]*View{}, counts: map[string]int64{}, buckets: map[string]*hourBucket{}}
}

// apply checks that an event links to its ticket's chain (else it is refused and counts
// nowhere), folds it into its ticket's view, moves the view's index entries and records
// the report figures.
func (pd *pending) apply(r events.Raw) error {
	v, err := pd.view(r.TicketID)
	if err != nil {
		return err
	}
	if _, err := (events.ChainHead{Tenant: v.Ticket.Tenant, Hash: v.Hash, Sequence: v.Seq}).Link(r); err != nil {
		var refused events.Refused
		if !errors.As(err, &refused) {
			return err
		}
		pd.refused = append(pd.refused, refused)
		return nil
	}
	e := r.Event
	before := *v
	oldEntries := entries(v)
	v.apply(e)
	if err := pd.record(&before, v, e); err != nil {
		return err
	}
	gone, added := diff(oldEntries, entries(v))
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
	return nil
}

func (pd *pending) view(id string) (*View, error) {
	if v, ok := pd.views[id]; ok {
		return v, nil
	}
	v, ok := pd.cached.Get(id)
	if !ok {
		v = &View{}
		if err := getJSON(pd.db, []byte(prefixView+id), v); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	pd.views[id] = v
	return v, nil
}

// cache hands the batch's views to the projector's cache once the batch has committed.
func (pd *pending) cache() {
	for id, v := range pd.views {
		if v.Seq != 0 { // else only refused events named it: it does not exist
			pd.cached.Add(id, v)
		}
	}
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

// flush writes the views, counters and buckets the batch changed.
func (pd *pending) flush() error {
	for id, v := range pd.views {
		if v.Seq == 0 {
			continue // only refused events named this ticket: it does not exist
		}
		if err := setJSON(pd.b, []byte(prefixView+id), v); err != nil {
			return err
		}
	}
	for key, hb := range pd.buckets {
		if err := setJSON(pd.b, []byte(key), hb); err != nil {
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
