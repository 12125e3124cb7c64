package routing

import (
	"context"
	"sync"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// View is the routing service's Loads: open tickets per agent and assignments per group,
// kept from every event of the log in order. It is safe for concurrent use.
type View struct {
	mu          sync.RWMutex
	seq         uint64
	tickets     map[string]*ticketLoad // open tickets only
	open        map[tenantKey]int      // open tickets per agent
	assignments map[tenantKey]int      // assignments per group
	// advanced is closed when seq moves on and someone waits for it (watched).
	advanced chan struct{}
	watched  bool
}

type tenantKey struct{ tenant, id string }

// ticketLoad is what the view keeps of an open or resolved (reopenable) ticket.
type ticketLoad struct {
	tenant, group, agent string
	open                 bool
}

// NewView returns an empty view; feed it with Apply from stream sequence 1.
func NewView() *View {
	return &View{tickets: map[string]*ticketLoad{}, open: map[tenantKey]int{}, assignments: map[tenantKey]int{},
		advanced: make(chan struct{})}
}

// Apply folds one event of the log into the view. Events must come in stream order; an
// event at or below the last applied sequence is ignored, so a replay is harmless.
func (v *View) Apply(e events.Raw) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e.Sequence <= v.seq {
		return
	}
	v.seq = e.Sequence
	if v.watched {
		close(v.advanced)
		v.advanced, v.watched = make(chan struct{}), false
	}
	t := v.tickets[e.TicketID]
	if _, ok := e.Data.(events.Opened); ok {
		v.tickets[e.TicketID] = &ticketLoad{tenant: e.Tenant, open: true}
		return
	}
	if t == nil {
		return
	}
	switch d := e.Data.(type) {
	case events.Routed:
		t.group = d.Group
	case events.Assigned:
		if d.Group != "" {
			t.group = d.Group
		}
		v.assignments[tenantKey{t.tenant, t.group}]++
		v.count(t, -1)
		t.agent = d.Agent
		v.count(t, +1)
	case events.Resolved:
		v.count(t, -1)
		t.open = false
	case events.Reopened:
		t.open = true
		v.count(t, +1)
	case events.Cancelled, events.Closed:
		v.count(t, -1)
		delete(v.tickets, e.TicketID) // final: nothing can count it again
	}
}

// count adds delta to the open tickets of the ticket's agent, if it is open and has one.
func (v *View) count(t *ticketLoad, delta int) {
	if !t.open || t.agent == "" {
		return
	}
	k := tenantKey{t.tenant, t.agent}
	if v.open[k] += delta; v.open[k] == 0 {
		delete(v.open, k)
	}
}

// Seq is the stream sequence of the last event applied.
func (v *View) Seq() uint64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.seq
}

// WaitFor blocks until the view has applied the event at seq, or ctx ends.
func (v *View) WaitFor(ctx context.Context, seq uint64) error {
	for {
		v.mu.Lock()
		if v.seq >= seq {
			v.mu.Unlock()
			return nil
		}
		ch := v.advanced
		v.watched = true
		v.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// OpenTickets implements Loads.
func (v *View) OpenTickets(tenant, agent string) int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.open[tenantKey{tenant, agent}]
}

// Assignments implements Loads.
func (v *View) Assignments(tenant, group string) int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.assignments[tenantKey{tenant, group}]
}
