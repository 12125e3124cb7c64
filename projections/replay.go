package projections

import (
	"context"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// Replay builds read models in memory from the events of the log recorded at or before
// until, reading the log to its current end: the read models as they stood at that
// moment (each ticket up to its first accepted event after until). Close the result when
// done.
func Replay(ctx context.Context, store *events.Store, until time.Time) (*Projector, error) {
	// A replay holds all of its read models in memory already: a small view cache only.
	p, err := Open("replay", Options{FS: vfs.NewMem(), BatchSize: 10000, CachedViews: 1000, NoTree: true})
	if err != nil {
		return nil, err
	}
	// A ticket stands as of its last accepted event at or before until: its first accepted
	// event after until cuts it there, even when a later event carries an earlier time
	// (the clocks of the services that append are not in step), so that its chain is
	// never broken in the middle. Refused events cut nothing (apply leaves them out); every
	// message, even one that is not an event, moves the replay on.
	heads := map[string]events.ChainHead{}
	cut := map[string]bool{}
	var batch []events.LogEntry
	err = events.WalkLog(ctx, store.JetStream(), false, func(e events.LogEntry, _ uint64) error {
		if e.Undecodable == nil {
			// Checked once by the feed: the batch links it again without hashing.
			r := e.Event.Raw()
			if head, err := heads[r.TicketID].LinkChecked(e.Event); err == nil {
				heads[r.TicketID] = head
				if r.Time.After(until) {
					cut[r.TicketID] = true
				} else if !cut[r.TicketID] {
					batch = append(batch, e)
				}
			}
		}
		if len(batch) < p.opts.BatchSize {
			return nil
		}
		err := p.apply(batch)
		batch = batch[:0]
		return err
	})
	if err == nil {
		err = p.apply(batch)
	}
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}
