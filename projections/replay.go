package projections

import (
	"context"
	"errors"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ledgerdesk/ledgerdesk/events"
)

var errReplayed = errors.New("projections: replay done")

// Replay builds read models in memory from the events of the log recorded at or before
// until, reading the log to its current end: the read models as they stood at that
// moment (each ticket up to its first accepted event after until). Close the result when
// done.
func Replay(ctx context.Context, store *events.Store, until time.Time) (*Projector, error) {
	// A replay holds all of its read models in memory already: a small view cache only.
	p, err := Open("replay", Options{FS: vfs.NewMem(), BatchSize: 10000, CachedViews: 1000})
	if err != nil {
		return nil, err
	}
	last, err := store.LastSequence(ctx)
	if err != nil || last == 0 {
		return p, err
	}
	done := make(chan error, 1)
	var batch []logEntry // checked once here: the batch links them without hashing again
	// Every message, even one that is not an event (refused by Apply), moves the replay on.
	step := func(seq uint64) error {
		if len(batch) < p.opts.BatchSize && seq < last {
			return nil
		}
		if err := p.apply(batch); err != nil {
			done <- err
			return err
		}
		batch = batch[:0]
		if seq >= last {
			done <- nil
			return errReplayed
		}
		return nil
	}
	// A ticket stands as of its last accepted event at or before until: its first accepted
	// event after until cuts it there, even when a later event carries an earlier time
	// (the clocks of the services that append are not in step), so that its chain is
	// never broken in the middle. Refused events cut nothing (Apply leaves them out).
	heads := map[string]events.ChainHead{}
	cut := map[string]bool{}
	sub, err := store.Subscribe(ctx, 1, func(r events.Raw) error {
		checked := events.Check(r)
		if head, err := heads[r.TicketID].LinkChecked(checked); err == nil {
			heads[r.TicketID] = head
			if r.Time.After(until) {
				cut[r.TicketID] = true
			} else if !cut[r.TicketID] {
				batch = append(batch, logEntry{event: checked})
			}
		}
		return step(r.Sequence)
	}, func(u *events.Undecodable) error { return step(u.Sequence) })
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	defer sub.Stop()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}
