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
// moment. Close the result when done.
func Replay(ctx context.Context, store *events.Store, until time.Time) (*Projector, error) {
	p, err := Open("replay", Options{FS: vfs.NewMem(), BatchSize: 10000})
	if err != nil {
		return nil, err
	}
	last, err := store.LastSequence(ctx)
	if err != nil || last == 0 {
		return p, err
	}
	done := make(chan error, 1)
	var batch []events.Raw
	// Every message, even one that is not an event (refused by Apply), moves the replay on.
	step := func(seq uint64) error {
		if len(batch) < p.opts.BatchSize && seq < last {
			return nil
		}
		if err := p.Apply(batch); err != nil {
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
	sub, err := store.Subscribe(ctx, 1, func(r events.Raw) error {
		if !r.Time.After(until) {
			batch = append(batch, r)
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
