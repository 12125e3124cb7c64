package events

import (
	"context"
	"sync"
)

// Progress is how far a reader of the log has got: the stream sequence of the last event
// it applied. Readers wait on it for read-your-writes. The zero value is ready; it is
// safe for concurrent use.
type Progress struct {
	mu  sync.Mutex
	seq uint64
	// advanced is closed when seq moves, then replaced; nil until someone waits.
	advanced chan struct{}
}

// Seq is the sequence of the last event applied.
func (p *Progress) Seq() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

// Set records seq as the last event applied (lower after a rebuild) and wakes WaitFor.
func (p *Progress) Set(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq = seq
	if p.advanced != nil {
		close(p.advanced)
		p.advanced = nil
	}
}

// WaitFor blocks until the event at seq has been applied, or ctx ends (then it returns
// ctx.Err()). It starts no goroutine.
func (p *Progress) WaitFor(ctx context.Context, seq uint64) error {
	for {
		p.mu.Lock()
		if p.seq >= seq {
			p.mu.Unlock()
			return nil
		}
		if p.advanced == nil {
			p.advanced = make(chan struct{})
		}
		ch := p.advanced
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
