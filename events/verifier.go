package events

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/bits-and-blooms/bloom/v3"
	lru "github.com/hashicorp/golang-lru/v2"
)

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Load reads a ticket's whole history as stored (Store.Load), for an event whose
	// ticket head the verifier does not hold (required).
	Load func(ctx context.Context, ticketID string) ([]Raw, error)
	// FirstSequence, when set, returns the stream sequence of a ticket's first message
	// (Store.FirstSequence): an event that claims to start its ticket and is that message
	// needs no Load.
	FirstSequence func(ctx context.Context, ticketID string) (uint64, error)
	// Heads bounds the ticket heads kept in memory, least recently used evicted first
	// (default 20,000; each of a process's verifiers keeps its own); an evicted ticket's next
	// event costs one Load.
	Heads int
	// FromStart says the reader sees every event of the log from sequence 1 on, in order:
	// then a ticket whose head it never held has no accepted event before, and its first
	// event needs no Load. The ids of evicted heads are kept in a Bloom filter, so only a
	// ticket that may have been evicted (or a false positive, about 1 in 1,000 up to 4M
	// evictions) costs one.
	FromStart bool
}

// Verifier applies ChainHead.Link to a stream of log events, in stream order per ticket,
// remembering each ticket's head. It is safe for concurrent use, but one Verifier
// belongs to one reader: its heads are that reader's position in each ticket.
type Verifier struct {
	cfg     VerifierConfig
	mu      sync.Mutex
	heads   *lru.Cache[string, ChainHead]
	evicted *bloom.BloomFilter // the ids of evicted heads (FromStart)
}

// evictedEstimate and evictedFalsePositives size a FromStart verifier's filter of evicted
// ids: about 7 MiB. Past the estimate false positives grow, each costing one Load.
const (
	evictedEstimate       = 4_000_000
	evictedFalsePositives = 0.001
)

// NewVerifier returns a Verifier; it refuses a config without Load.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Load == nil {
		return nil, errors.New("events: verifier: Load is required")
	}
	if cfg.Heads <= 0 {
		cfg.Heads = 20_000
	}
	v := &Verifier{cfg: cfg}
	var onEvict func(string, ChainHead)
	if cfg.FromStart {
		v.evicted = bloom.NewWithEstimates(evictedEstimate, evictedFalsePositives)
		onEvict = func(id string, _ ChainHead) { v.evicted.AddString(id) } // under v.mu
	}
	heads, err := lru.NewWithEvict(cfg.Heads, onEvict)
	if err != nil {
		return nil, fmt.Errorf("events: verifier: %w", err)
	}
	v.heads = heads
	return v, nil
}

// Check accepts r (nil) or rejects it (a *RejectedError: act on nothing of it); any other
// error means it could not tell (the history could not be loaded) and r should be
// retried. An event at or before the ticket's head (a redelivery or a replay) is checked
// against the history before it.
func (v *Verifier) Check(ctx context.Context, r Raw) error {
	v.mu.Lock()
	head, ok := v.heads.Get(r.TicketID)
	fresh := !ok && v.cfg.FromStart && !v.evicted.TestString(r.TicketID)
	v.mu.Unlock()
	if (!ok || head.Sequence >= r.Sequence) && !fresh {
		var err error
		if head, err = v.headBefore(ctx, r); err != nil {
			return err
		}
	}
	next, err := head.Link(r)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.heads.Add(r.TicketID, next)
	v.mu.Unlock()
	return nil
}

// headBefore is the ticket's head just before r, from its stored history.
func (v *Verifier) headBefore(ctx context.Context, r Raw) (ChainHead, error) {
	if r.PrevHash == "" && v.cfg.FirstSequence != nil {
		first, err := v.cfg.FirstSequence(ctx, r.TicketID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return ChainHead{}, fmt.Errorf("verify event seq %d: first event of ticket %s: %w", r.Sequence, r.TicketID, err)
		}
		if first == r.Sequence {
			return ChainHead{}, nil // nothing before it: it starts the ticket
		}
	}
	history, err := v.cfg.Load(ctx, r.TicketID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return ChainHead{}, fmt.Errorf("verify event seq %d: load ticket %s: %w", r.Sequence, r.TicketID, err)
	}
	n := 0
	for n < len(history) && history[n].Sequence < r.Sequence {
		n++
	}
	_, head, _ := Trusted(history[:n])
	return head, nil
}

// VerifierConfig is a VerifierConfig that reads the ticket histories it needs from the
// store.
func (s *Store) VerifierConfig() VerifierConfig {
	return VerifierConfig{
		Load: func(ctx context.Context, ticketID string) ([]Raw, error) {
			raws, _, err := s.Load(ctx, ticketID)
			return raws, err
		},
		FirstSequence: s.FirstSequence,
	}
}
