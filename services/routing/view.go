package routing

import (
	"context"
	"encoding/hex"
	"sync"
	"time"

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
	mu       sync.RWMutex
	progress events.Progress
	names    []string        // interned names: a name is its index; names[0] is ""
	ids      map[string]name // and the index of each

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

// name is an interned tenant, group, agent or odd ticket name: its index in View.names
// (four bytes, where a string or a unique.Handle takes sixteen or eight, in a map of a
// million tickets); 0 is no name. Names stay interned: tenants, groups and agents are few,
// and a ticket id is interned only when it is not a UUID (intake mints UUIDs).
type name uint32

// intern returns the name of s, adding it; 0 for "". Under v.mu, written.
func (v *View) intern(s string) name {
	if s == "" {
		return 0
	}
	if n, ok := v.ids[s]; ok {
		return n
	}
	n := name(len(v.names))
	v.names = append(v.names, s)
	v.ids[s] = n
	return n
}

// lookup returns the name of s, if the view has one; (0, true) for "". Under v.mu.
func (v *View) lookup(s string) (name, bool) {
	if s == "" {
		return 0, true
	}
	n, ok := v.ids[s]
	return n, ok
}

// ticketKey identifies a ticket. Intake mints ticket ids as UUIDs, kept as their 16
// bytes rather than a 36-character string; any other id is kept interned.
type ticketKey struct {
	uuid          [16]byte
	tenant, other name
}

// keyOf is the key of a ticket, its names interned. Under v.mu, written.
func (v *View) keyOf(tenant, id string) ticketKey {
	k, _ := keyWith(tenant, id, func(s string) (name, bool) { return v.intern(s), true })
	return k
}

// lookupKey is the key of a ticket whose names the view has; false when it has not (it
// then keeps no such ticket). Under v.mu.
func (v *View) lookupKey(tenant, id string) (ticketKey, bool) { return keyWith(tenant, id, v.lookup) }

// keyWith is the key of a ticket, its names from nameOf; false when nameOf has one not.
func keyWith(tenant, id string, nameOf func(string) (name, bool)) (ticketKey, bool) {
	t, ok := nameOf(tenant)
	if !ok {
		return ticketKey{}, false
	}
	k := ticketKey{tenant: t}
	if u, isUUID := canonicalUUID(id); isUUID {
		k.uuid = u
	} else if k.other, ok = nameOf(id); !ok {
		return ticketKey{}, false
	}
	return k, true
}

// lookupPair is the key of a tenant's group or agent; false when the view has not both
// names (it then counts nothing for them). Under v.mu.
func (v *View) lookupPair(tenant, other string) (nameKey, bool) {
	t, ok := v.lookup(tenant)
	o, ok2 := v.lookup(other)
	return nameKey{t, o}, ok && ok2
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

// ticketLoad is what the view keeps of a ticket that is open or may still be reopened:
// 48 bytes.
type ticketLoad struct {
	hash         [32]byte // the ticket's chain head: the hash of its last accepted event
	group, agent name
	resolvedAt   uint32 // unix seconds of the last resolution, while resolved
	open         bool
}

// chainHead is t's head as events.ChainHead.Link takes it. (Its Sequence, which only an
// error message of Link names, is not kept.)
func (v *View) chainHead(t ticketLoad, tenant name) events.ChainHead {
	return events.ChainHead{Tenant: v.names[tenant], Hash: hex.EncodeToString(t.hash[:])}
}

type resolvedAt struct {
	ticket ticketKey
	at     uint32
}

// NewView returns an empty view; feed it with Apply from stream sequence 1.
func NewView() *View {
	return &View{names: []string{""}, ids: map[string]name{}, tickets: map[ticketKey]ticketLoad{}, open: map[nameKey]int{}, assignments: map[nameKey]int{},
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
	k := v.keyOf(tenant, ticketID)
	v.release(k)
	r := reservation{agent: v.intern(agent), group: v.intern(group), at: now}
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
	_, opened := e.Data.(events.Opened)
	k, known := v.lookupKey(e.Tenant, e.TicketID)
	t, kept := v.tickets[k]
	kept = kept && known
	if !kept && (e.PrevHash != "" || !opened) {
		return // forgotten: closed, cancelled or past reopening; never accepted; or not begun with opened
	}
	var head events.ChainHead
	if kept {
		head = v.chainHead(t, k.tenant)
	}
	next, err := head.LinkChecked(checked)
	if err != nil {
		return
	}
	if _, err := hex.Decode(t.hash[:], []byte(next.Hash)); err != nil {
		return // cannot be: Link accepted it, so it is the hex SHA-256 of the event
	}
	if !kept {
		k = v.keyOf(e.Tenant, e.TicketID)
	}
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
		t.group = v.intern(d.Group)
	case events.Assigned:
		if d.Group != "" {
			t.group = v.intern(d.Group)
		}
		v.assignments[nameKey{k.tenant, t.group}]++
		v.count(k.tenant, t, -1)
		t.agent = v.intern(d.Agent)
		v.count(k.tenant, t, +1)
	case events.Resolved:
		v.count(k.tenant, t, -1)
		t.open, t.resolvedAt = false, uint32(max(e.Time.Unix(), 0))
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
	for len(v.resolved) > 0 && int64(v.resolved[0].at) < cutoff {
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
	if !t.open || t.agent == 0 {
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
	v.mu.RLock()
	defer v.mu.RUnlock()
	k, ok := v.lookupPair(tenant, agent)
	if !ok {
		return 0
	}
	return v.open[k] + v.reservedOpen[k]
}

// Assignments implements Loads: the assigned events that went to the tenant's group
// (Assigned.Group, or else the group the ticket was last routed to).
func (v *View) Assignments(tenant, group string) int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	k, ok := v.lookupPair(tenant, group)
	if !ok {
		return 0
	}
	return v.assignments[k] + v.reservedAssigns[k]
}
