package projections

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
)

// ErrNotFound is returned for a ticket the read models do not know (yet).
var ErrNotFound error = events.NewError(events.KindNotFound, "projections: not found", "no ticket with that id in the read models")

// Options configure a Projector.
type Options struct {
	// FS is the file system of the Pebble store (default: the OS's; vfs.NewMem() in tests).
	FS vfs.FS
	// BatchSize bounds the events applied in one Pebble batch (default 100,000).
	BatchSize int
	// BatchTickets bounds the tickets one batch changes (default 16,384): a batch holds a
	// view and its index entries per ticket in memory and writes each once, so this is
	// what a batch costs in memory and in writes, whatever its number of events. A
	// projector at the log's head applies what has arrived, far smaller batches.
	BatchTickets int
	// CachedViews bounds the committed ticket views (with their index entries) kept
	// decoded in memory between batches, least recently used evicted first (default
	// 20,000), so that a ticket's next event reads its view neither from Pebble nor from
	// JSON.
	CachedViews int
	// Refused, when set, is told of every message of the log the read models leave out,
	// once its batch is committed: events that fail their ticket's chain and messages that
	// are not ledgerdesk events (events.Refused). A crash between the commit and the call
	// loses the call, never an event.
	Refused func(events.Refused)
	// NoTree leaves the log's Merkle tree out (TreeHead stays empty): for read models of
	// part of the log, such as Replay's.
	NoTree bool
}

func (o *Options) setDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100_000
	}
	if o.BatchTickets <= 0 {
		o.BatchTickets = 16_384
	}
	if o.CachedViews <= 0 {
		o.CachedViews = 20_000
	}
}

// Projector maintains the read models in a Pebble store in dir. It is safe for concurrent
// use: batches (Run, Apply) and Rebuild apply one at a time, while any number of readers
// query committed state.
type Projector struct {
	db   *pebble.DB
	opts Options

	progress events.Progress // the last committed stream sequence

	// applying serialises batches and Rebuild: the one writer of the store and of tickets.
	applying sync.Mutex
	// tickets caches committed views and their index entries by ticket id (guarded by
	// applying); a batch's pending state takes tickets from it and changes them, so a
	// batch that fails empties it (apply).
	tickets *simplelru.LRU[string, *ticketState]
	// synced is when a commit last waited for its fsync (guarded by applying).
	synced time.Time
	// tree is the log's Merkle tree, committed with the read models.
	tree *logTree

	// beforeCommit, when set (tests), runs before each batch commits; an error aborts the
	// batch as a crash inside it would.
	beforeCommit func(lastSeq uint64) error
}

// Open opens (or creates) the read models in dir. A store written in another
// FormatVersion is emptied, so the next Run rebuilds it from sequence 1.
func Open(dir string, opts Options) (*Projector, error) {
	opts.setDefaults()
	db, err := pebble.Open(dir, &pebble.Options{FS: opts.FS, Logger: quietLogger{}, MemTableSize: memTableSize})
	if err != nil {
		return nil, fmt.Errorf("open read models: %w", err)
	}
	tickets, err := simplelru.NewLRU[string, *ticketState](opts.CachedViews, nil)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open read models: %w", err)
	}
	p := &Projector{db: db, opts: opts, tickets: tickets, tree: &logTree{rng: audit.Ranges.NewEmptyRange(0)}}
	format, err := p.getUint(keyFormat)
	if err == nil && format != FormatVersion {
		err = p.Rebuild()
	}
	var seq uint64
	if err == nil {
		seq, err = p.getUint(keyCheckpoint)
	}
	if err == nil {
		p.tree, err = loadTree(db)
	}
	p.progress.Set(seq)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return p, nil
}

// memTableSize is Pebble's memtable (its default is 4 MiB). Every batch rewrites the
// views it touches, so a rebuild overwrites each view once per event: a memtable that
// holds a few hundred thousand views keeps the overwritten versions out of the sstables,
// which otherwise cost the rebuild a core in compactions.
const memTableSize = 32 << 20

// quietLogger drops Pebble's informational messages (one per WAL replayed at open) and
// keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)              {}
func (quietLogger) Errorf(format string, args ...any) { log.Printf("pebble: "+format, args...) }
func (quietLogger) Fatalf(format string, args ...any) { log.Fatalf("pebble: "+format, args...) }

// Close closes the store. Run must have returned.
func (p *Projector) Close() error { return p.db.Close() }

// Rebuild drops every read model and the checkpoint: the next Run replays the log from
// sequence 1. Run must not be running.
func (p *Projector) Rebuild() error {
	p.applying.Lock()
	defer p.applying.Unlock()
	b := p.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange([]byte{0}, []byte{0xff}, nil); err != nil {
		return err
	}
	if err := b.Set(keyFormat, u64(FormatVersion), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("rebuild read models: %w", err)
	}
	p.tickets.Purge()
	p.progress.Set(0)
	return p.tree.commit(audit.Ranges.NewEmptyRange(0))
}

// Seq is the stream sequence of the last event the read models include.
func (p *Projector) Seq() uint64 { return p.progress.Seq() }

// WaitFor blocks until the read models include the event at seq, or ctx ends.
func (p *Projector) WaitFor(ctx context.Context, seq uint64) error {
	return p.progress.WaitFor(ctx, seq)
}

// Run follows the log from the checkpoint on, applying events in batches, until ctx ends
// (nil) or an event cannot be applied (its error). The log is decoded and hashed on every
// core ahead of the batches (logFeed); a batch links and folds each event as it comes and
// takes the next one while the log holds more, up to BatchSize events or BatchTickets
// tickets: a projector at the log's head commits each event as soon as it arrives (with
// those that arrived with it), one behind it (a rebuild, a restart) commits full batches.
func (p *Projector) Run(ctx context.Context, store *events.Store) error {
	feed, err := events.ReadLog(ctx, store.JetStream(), p.Seq()+1, feedAhead)
	if err != nil {
		return err
	}
	defer feed.Stop()
	for {
		first, _, err := feed.Next(ctx, true)
		if err == nil {
			err = p.batch(false, func(add func(events.LogEntry) error, full func() bool) error {
				for e := first; ; {
					if err := add(e); err != nil || full() {
						return err
					}
					next, more, err := feed.Next(ctx, e.Pending > 0) // wait while more are on their way
					if err != nil || !more {
						return err
					}
					e = next
				}
			})
		}
		var stopped *events.FeedError
		switch {
		case err == nil:
		case ctx.Err() != nil || errors.Is(err, events.ErrFeedStopped):
			return nil
		case errors.As(err, &stopped):
			return fmt.Errorf("projector: the log subscription stopped at seq %d: %w", p.Seq(), err)
		default:
			return err
		}
	}
}

// feedAhead is how many events the log's decoders may hold ready for Run: enough to go on
// while a batch commits.
const feedAhead = 8192

// Apply applies events, in stream order, in one synced batch with the checkpoint. Events
// at or below the checkpoint are skipped, so applying again is harmless; events that do
// not link to their ticket's chain are left out (see Options.Refused).
func (p *Projector) Apply(evs []events.Raw) error {
	entries := make([]events.LogEntry, len(evs))
	for i, r := range evs {
		entries[i] = events.EntryOf(r)
	}
	return p.apply(entries)
}

// apply applies entries in one synced batch (see batch).
func (p *Projector) apply(entries []events.LogEntry) error {
	return p.batch(true, func(add func(events.LogEntry) error, _ func() bool) error {
		for _, e := range entries {
			if err := add(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// syncEvery is how often, at most, Run's commits wait for their fsync; the ones between
// are written to Pebble's WAL without one. The read models and their checkpoint are
// committed together and Pebble recovers a prefix of its commits, so a power loss can
// only take the read models back to an earlier checkpoint, from which Run projects the
// log again: they are derived, and the log they come from is synced on every append.
// A projector at the log's head would otherwise fsync once per few events, competing
// with the log's own fsyncs for the disk.
const syncEvery = 100 * time.Millisecond

// batch applies the entries fill adds, in stream order, and commits them with the
// checkpoint in one Pebble batch, synced when always is set or syncEvery has passed
// since the last synced one; full tells fill when the batch holds BatchSize events or
// BatchTickets tickets. Entries at or below the checkpoint are skipped. The batch's
// pending state may change tickets taken from the cache before it commits, so a failure
// (fill's included) empties the cache: it holds committed state only.
func (p *Projector) batch(always bool, fill func(add func(events.LogEntry) error, full func() bool) error) (err error) {
	p.applying.Lock()
	defer p.applying.Unlock()
	pd := newPending(p.db, p.tickets)
	defer pd.b.Close()
	defer func() {
		if err != nil {
			p.tickets.Purge()
		}
	}()
	rng, err := p.tree.grow()
	if err != nil {
		return err
	}
	last, n := p.Seq(), 0
	add := func(e events.LogEntry) error {
		if e.Seq() <= last {
			return nil
		}
		last, n = e.Seq(), n+1
		if !p.opts.NoTree {
			if err := addLeaf(pd.b, rng, e); err != nil {
				return fmt.Errorf("add event seq %d to the log's tree: %w", e.Seq(), err)
			}
		}
		if e.Undecodable != nil {
			pd.refused = append(pd.refused, e.Undecodable)
			return nil
		}
		if err := pd.apply(e.Event); err != nil {
			return fmt.Errorf("project event seq %d: %w", e.Seq(), err)
		}
		return nil
	}
	full := func() bool { return n >= p.opts.BatchSize || len(pd.tickets) >= p.opts.BatchTickets }
	if err := fill(add, full); err != nil {
		return err
	}
	if last == p.Seq() {
		return nil
	}
	if err := pd.flush(); err != nil {
		return err
	}
	if err := pd.b.Set(keyCheckpoint, u64(last), nil); err != nil {
		return err
	}
	if err := pd.b.Set(keyFormat, u64(FormatVersion), nil); err != nil {
		return err
	}
	if err := pd.b.Set(keyTreeSize, u64(rng.End()), nil); err != nil {
		return err
	}
	if p.beforeCommit != nil {
		if err := p.beforeCommit(last); err != nil {
			return err
		}
	}
	opts := pebble.NoSync
	if now := time.Now(); always || now.Sub(p.synced) >= syncEvery {
		opts, p.synced = pebble.Sync, now
	}
	if err := pd.b.Commit(opts); err != nil {
		return fmt.Errorf("commit read models at seq %d: %w", last, err)
	}
	pd.cache()
	if err := p.tree.commit(rng); err != nil {
		return err
	}
	p.progress.Set(last)
	if p.opts.Refused != nil {
		for _, r := range pd.refused {
			p.opts.Refused(r)
		}
	}
	return nil
}

type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

func getJSON(r reader, key []byte, into any) error {
	val, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	return json.Unmarshal(val, into)
}

func getUint(r reader, key []byte) (uint64, error) {
	val, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(val) != 8 {
		return 0, fmt.Errorf("read models: %q holds %d bytes, want 8", key, len(val))
	}
	return binary.BigEndian.Uint64(val), nil
}

func (p *Projector) getUint(key []byte) (uint64, error) { return getUint(p.db, key) }
