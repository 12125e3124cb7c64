package auditapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
	"github.com/ledgerdesk/ledgerdesk/projections"
)

// Tree is the log's tree a checkpointer signs and a handler proves from: the projector's.
type Tree interface {
	audit.NodeReader
	TreeHead() projections.TreeHead
}

// DefaultInterval is how often a Checkpointer signs the tree while it grows.
const DefaultInterval = 5 * time.Second

// Wiring is what the checkpointer and the handler both need; every field is required.
type Wiring struct {
	Tree Tree                // the log's tree, as the read models hold it
	JS   jetstream.JetStream // reads CHECKPOINTS; the checkpointer's also publishes to it
	Key  *audit.Key          // the log's checkpoint key
	Log  *zap.Logger
}

func (w Wiring) validate() error {
	var errs []error
	if w.Tree == nil {
		errs = append(errs, errors.New("auditapi: Tree is required"))
	}
	if w.JS == nil {
		errs = append(errs, errors.New("auditapi: JS is required"))
	}
	if w.Key == nil {
		errs = append(errs, errors.New("auditapi: Key is required"))
	}
	if w.Log == nil {
		errs = append(errs, errors.New("auditapi: Log is required"))
	}
	return errors.Join(errs...)
}

// CheckpointerConfig wires a Checkpointer.
type CheckpointerConfig struct {
	Wiring
	// Interval is how often the tree is signed while it grows (default DefaultInterval).
	Interval time.Duration
}

// Checkpointer signs the tree and stores its checkpoints.
type Checkpointer struct {
	cfg CheckpointerConfig
	// last is the newest checkpoint stored, as read or published (guarded by Run's
	// goroutine); loaded tells whether it was read from the stream yet.
	last   audit.Checkpoint
	seq    uint64 // its sequence in CHECKPOINTS
	loaded bool
}

// NewCheckpointer returns a checkpointer; it refuses missing dependencies.
func NewCheckpointer(cfg CheckpointerConfig) (*Checkpointer, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	return &Checkpointer{cfg: cfg}, cfg.validate()
}

// Run signs the tree every Interval while it grows, until ctx ends; then it signs once
// more, so that a clean stop leaves the whole log checkpointed.
func (c *Checkpointer) Run(ctx context.Context) {
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			c.logFailure(c.Checkpoint(ctx))
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			c.logFailure(c.Checkpoint(final))
			cancel()
			return
		}
	}
}

func (c *Checkpointer) logFailure(err error) {
	var diverged *DivergedError
	switch {
	case err == nil:
	case errors.As(err, &diverged):
		c.cfg.Log.Error("the log no longer matches a checkpoint signed before: not signing any more; run ledgerdesk audit verify", zap.Error(err))
	default:
		c.cfg.Log.Warn("checkpoint not signed; retrying", zap.Error(err))
	}
}

// DivergedError is why a Checkpointer refuses to sign: the tree it reads does not have
// the root of a checkpoint stored before at that size. The log was changed since (or the
// read models were built from another log).
type DivergedError struct {
	Size       uint64
	Root, Want []byte
}

func (e *DivergedError) Error() string {
	return fmt.Sprintf("the log's tree of %d messages has root %x, but the checkpoint of that size says %x", e.Size, e.Root, e.Want)
}

// Checkpoint signs the tree's head and stores it, when the tree grew past the newest
// checkpoint stored and agrees with it. It returns a *DivergedError when it does not.
func (c *Checkpointer) Checkpoint(ctx context.Context) error {
	if !c.loaded {
		if err := c.load(ctx); err != nil {
			return err
		}
	}
	head := c.cfg.Tree.TreeHead()
	if head.Size <= c.last.Size { // nothing new, or the read models are still behind
		return nil
	}
	if c.last.Size > 0 {
		root, err := audit.RootAt(c.cfg.Tree, c.last.Size)
		if err != nil {
			return err
		}
		if !bytes.Equal(root, c.last.Root) {
			return &DivergedError{Size: c.last.Size, Root: root, Want: c.last.Root}
		}
	}
	cp, err := c.cfg.Key.Sign(head.Size, head.Root)
	if err != nil {
		return err
	}
	seq, err := audit.Publish(ctx, c.cfg.JS, c.cfg.Key, cp, c.seq)
	if events.IsWrongLastSequence(err) {
		c.loaded = false // another signer stored one first: read it, then sign again
		return nil
	}
	if err != nil {
		return err
	}
	c.last, c.seq = cp, seq
	return nil
}

// load reads the newest checkpoint stored. One the key did not sign is not trusted: the
// next checkpoint is stored after it, and agrees with nothing it claims.
func (c *Checkpointer) load(ctx context.Context) error {
	st, err := audit.Latest(ctx, c.cfg.JS)
	if errors.Is(err, audit.ErrNoCheckpoint) {
		c.last, c.seq, c.loaded = audit.Checkpoint{}, 0, true
		return nil
	}
	if err != nil {
		return err
	}
	cp, err := st.Open(c.cfg.Key.Verifier)
	if err != nil {
		c.cfg.Log.Error("the newest checkpoint in CHECKPOINTS is not signed by this log's key", zap.Uint64("checkpoint_seq", st.Seq), zap.Error(err))
		cp = audit.Checkpoint{}
	}
	c.last, c.seq, c.loaded = cp, st.Seq, true
	return nil
}
