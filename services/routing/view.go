package routing

import (
	"context"
	"encoding/hex"
	"sync"
	"time"
	"unique"

	"github.com/google/uuid"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// reopenHorizon is how long after its resolution the view keeps a resolved ticket, in
// case it is reopened: the reopen window and a day's slack for event times that are not
// in stream order (clock skew between the services that append).
const reopenHorizon = events.ReopenWindow + 24*time.Hour

// View is the routing service's Loads: open tickets per agent and assignments per group,
// kept from every event of the log, applied in stream order. It is safe for concurrent use.
//
// Per ticket it keeps only its group, agent, whether it is open and its chain head, with
// tenant, group and agent names interned; an event counts only when it links to its
// ticket's head (events.ChainHead.Link), so the view reads nothing but the log it is fed.
// It forgets a ticket once it is closed or cancelled, and a resolved ticket once it can
// no longer be reopened (reopenHorizon after its resolution, measured against the latest
// event time seen), so memory follows the tickets being worked, not the length of the log.
type View struct {
	mu          sync.RWMutex
	progress    events.Progress
	latest      int64 // the latest event time seen, in unix seconds
	tickets     map[ticketKey]ticketLoad
	resolved    []resolvedAt    // resolutions in stream order, to forget tickets
	open        map[nameKey]int // open tickets per agent
	assignments map[nameKey]int // assignments per group

	// Reservations: assignments decided here and not yet seen in the log, counted at once so
	// that the tickets of one batch do not all go to the same least-loaded agent.
	reserved        map[ticketKey]reservation
	reservedOpen    map[nameKey]int
	reservedAssigns map[nameKey]int
}

// reservation is an assignment decided and not yet applied.
type reservation struct {
	agent, group name
	at           time.Time
}

// reservationTTL is how long a reservation counts when its assignment never reaches the
// log (its append lost a race and was decided otherwise, or the ticket ended first).
const reservationTTL = 30 * time.Second

type name = unique.Handle[string]

// intern returns the handle of s; the zero handle for "".
func intern(s string) name {
	if s == "" {
		return name{}
	}
	return unique.Make(s)
}

// ticketKey identifies a ticket. Intake mints ticket ids as UUIDs, kept as their 16
// bytes rather than a 36-character string; any other id is kept interned.
type ticketKey struct {
	tenant name
	uuid   [16]byte
	other  name
}

func keyOf(tenant, id string) ticketKey {
	k := ticketKey{tenant: intern(tenant)}
	if u, ok := canonicalUUID(id); ok {
		k.uuid = u
	} else {
		k.other = intern(id)
	}
	return k
}

// canonicalUUID returns the 16 bytes of a UUID written in canonical form (lower-case,
// hyphenated): the one spelling that maps one to one onto the bytes, so two different ids
// never share a key.
func canonicalUUID(s string) ([16]byte, bool) {
	u, err := uuid.Parse(s)
	if err != nil || u.String() != s {
		return [16]byte{}, false
	}
	return u, true
}

type nameKey struct{ tenant, name name }

// ticketLoad is what the view keeps of a ticket that is open or may still be reopened.
type ticketLoad struct {
	group, agent name
	open         bool
	resolvedAt   int64    // unix seconds of the last resolution, while resolved
	hash         [32]byte // the ticket's chain head: the hash of its last accepted event
	seq          uint64   // and that event's stream sequence
}

// chainHead is t's head as events.ChainHead.Link takes it.
func (t ticketLoad) chainHead(tenant name) events.ChainHead {
	return events.ChainHead{Tenant: tenant.Value(), Hash: hex.EncodeToString(t.hash[:]), Sequence: t.seq}
}

type resolvedAt struct {
	ticket ticketKey
	at     int64
}

// NewView returns an empty view; feed it with Apply from stream sequence 1.
func NewView() *View {
	return &View{tickets: map[ticketKey]ticketLoad{}, open: map[nameKey]int{}, assignments: map[nameKey]int{},
		reserved: map[ticketKey]reservation{}, reservedOpen: map[nameKey]int{}, reservedAssigns: map[nameKey]int{}}
}

// Reserve counts an assignment just decided for a ticket as if the view had applied it,
// until the view applies the ticket's next routing, assignment or end, or for
// reservationTTL. A newer reservation of the ticket replaces the older one.
func (v *View) Reserve(tenant, ticketID, agent, group string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	for k, r := range v.reserved { // few: only the assignments in flight
		if now.Sub(r.at) > reservationTTL {
			v.release(k)
		}
	}
	k := keyOf(tenant, ticketID)
	v.release(k)
	r := reservation{agent: intern(agent), group: intern(group), at: now}
	v.reserved[k] = r
	v.reservedOpen[nameKey{k.tenant, r.agent}]++
	v.reservedAssigns[nameKey{k.tenant, r.group}]++
}

// release drops a ticket's reservation, if it has one.
func (v *View) release(k ticketKey) {
	r, ok := v.reserved[k]
	if !ok {
		return
	}
	delete(v.reserved, k)
	decrement(v.reservedOpen, nameKey{k.tenant, r.agent})
	decrement(v.reservedAssigns, nameKey{k.tenant, r.group})
}

func decrement(m map[nameKey]int, k nameKey) {
	if m[k]--; m[k] <= 0 {
		delete(m, k)
	}
}

// Skip moves the view past a message of the log that counts for nothing (a refused event).
func (v *View) Skip(seq uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if seq > v.progress.Seq() {
		v.progress.Set(seq)
	}
}

// Apply folds one event of the log into the view when its ticket's chain accepts it: it
// links to the head the view keeps of its ticket, or, for a ticket's first event, to
// none. An event the chain refuses (the ticket handlers dead-letter it), or of a ticket the
// view does not keep (forgotten, or its first event refused), moves nothing. Events must
// come in stream order; an event at or below the last applied sequence is ignored, so a
// replay is harmless.
func (v *View) Apply(e events.Raw) {
	if e.Sequence <= v.Seq() {
		return
	}
	checked := events.Check(e) // hashed before taking the lock: the readers wait for nothing
	v.mu.Lock()
	defer v.mu.Unlock()
	if e.Sequence <= v.progress.Seq() {
		return
	}
	defer v.progress.Set(e.Sequence) // runs before the unlock: a waiter then reads the loads after it
	k := keyOf(e.Tenant, e.TicketID)
	t, kept := v.tickets[k]
	if !kept && e.PrevHash != "" {
		return // forgotten: closed, cancelled or past reopening; or never accepted
	}
	var head events.ChainHead
	if kept {
		head = t.chainHead(k.tenant)
	}
	_, opened := e.Data.(events.Opened)
	if !kept && !opened {
		return // a ticket begins with opened; the view keeps no other
	}
	next, err := head.LinkChecked(checked)
	if err != nil {
		return
	}
	if _, err := hex.Decode(t.hash[:], []byte(next.Hash)); err != nil {
		return // cannot be: Link accepted it, so it is the hex SHA-256 of the event
	}
	t.seq = next.Sequence
	if at := e.Time.Unix(); at > v.latest {
		v.latest = at
		v.forgetUnreopenable()
		if _, still := v.tickets[k]; kept && !still {
			return // this event came past the ticket's reopening
		}
	}
	switch e.Data.(type) {
	case events.Assigned, events.Resolved, events.Closed, events.Cancelled:
		v.release(k) // the log now says where the ticket's load is
	}
	switch d := e.Data.(type) {
	case events.Opened:
		t.open = true
	case events.Routed:
		t.group = intern(d.Group)
	case events.Assigned:
		if d.Group != "" {
			t.group = intern(d.Group)
		}
		v.assignments[nameKey{k.tenant, t.group}]++
		v.count(k.tenant, t, -1)
		t.agent = intern(d.Agent)
		v.count(k.tenant, t, +1)
	case events.Resolved:
		v.count(k.tenant, t, -1)
		t.open, t.resolvedAt = false, e.Time.Unix()
		v.resolved = append(v.resolved, resolvedAt{k, t.resolvedAt})
	case events.Reopened:
		t.open = true
		v.count(k.tenant, t, +1)
	case events.Cancelled, events.Closed:
		v.count(k.tenant, t, -1)
		delete(v.tickets, k) // final: nothing can count it again
		return
	}
	v.tickets[k] = t
}

// forgetUnreopenable drops the resolved tickets that can no longer be reopened.
func (v *View) forgetUnreopenable() {
	cutoff := v.latest - int64(reopenHorizon/time.Second)
	for len(v.resolved) > 0 && v.resolved[0].at < cutoff {
		r := v.resolved[0]
		v.resolved[0] = resolvedAt{}
		v.resolved = v.resolved[1:]
		// Skip a ticket reopened since, or resolved again later (a later entry follows).
		if t, ok := v.tickets[r.ticket]; ok && !t.open && t.resolvedAt == r.at {
			delete(v.tickets, r.ticket)
		}
	}
}

// count adds delta to the open tickets of the ticket's agent, if it is open and has one.
func (v *View) count(tenant name, t ticketLoad, delta int) {
	if !t.open || t.agent == (name{}) {
		return
	}
	k := nameKey{tenant, t.agent}
	if v.open[k] += delta; v.open[k] == 0 {
		delete(v.open, k)
	}
}

// Seq is the stream sequence of the last event applied.
func (v *View) Seq() uint64 { return v.progress.Seq() }

// WaitFor blocks until the view has applied the event at seq, or ctx ends (then it
// returns ctx.Err()). It starts no goroutine.
func (v *View) WaitFor(ctx context.Context, seq uint64) error { return v.progress.WaitFor(ctx, seq) }

// OpenTickets implements Loads: the tenant's open (not resolved, closed or cancelled)
// tickets currently assigned to the agent.
func (v *View) OpenTickets(tenant, agent string) int {
	if tenant == "" || agent == "" {
		return 0
	}
	k := nameKey{intern(tenant), intern(agent)}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.open[k] + v.reservedOpen[k]
}

// Assignments implements Loads: the assigned events that went to the tenant's group
// (Assigned.Group, or else the group the ticket was last routed to).
func (v *View) Assignments(tenant, group string) int {
	k := nameKey{intern(tenant), intern(group)}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.assignments[k] + v.reservedAssigns[k]
}
