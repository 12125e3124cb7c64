package projections

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// entry is one key of an ordered index and the scope whose count it adds to.
type entry struct {
	key, count []byte
}

// QueueScope names one queue: a tenant's open tickets, optionally only those of a group,
// a tier or an agent. (An agent's queue filtered by group or tier is read from the
// agent's queue.)
type QueueScope struct {
	Tenant string
	Group  string
	Tier   *int
	Agent  string
}

// key is the scope's component of its index keys. An agent's scope ignores group and tier.
func (s QueueScope) key() string {
	tier := 0
	if s.Tier != nil {
		tier = *s.Tier
	}
	return string(appendScope(nil, part(s.Tenant), part(s.Group), s.Tier != nil, tier, part(s.Agent)))
}

// appendScope appends a queue scope's component of its index keys to b, from its parts
// escaped already (part): the one rule of QueueScope.key and entries.
func appendScope(b []byte, tenant, group string, hasTier bool, tier int, agent string) []byte {
	b = append(append(b, "t/"...), tenant...)
	switch {
	case agent != "":
		return append(append(b, "/a/"...), agent...)
	case group != "":
		b = append(append(b, "/g/"...), group...)
	}
	if hasTier {
		b = strconv.AppendInt(append(b, "/r/"...), int64(tier), 10)
	}
	return b
}

// ticketScope is one queue of a ticket (see scopes), its parts escaped.
type ticketScope struct {
	group   string
	hasTier bool
	agent   string
}

// scopes are the queues an open ticket is in: its tenant's, its tier's, its group's and
// its group and tier's, its agent's (the first n of out).
func scopes(group, agent string) (out [5]ticketScope, n int) {
	out[0], out[1], n = ticketScope{}, ticketScope{hasTier: true}, 2
	if group != "" {
		out[2], out[3], n = ticketScope{group: group}, ticketScope{group: group, hasTier: true}, 4
	}
	if agent != "" {
		out[n], n = ticketScope{agent: agent}, n+1
	}
	return out, n
}

func queuePrefix(scope string) []byte { return []byte(prefixQueue + scope + "\x00") }

func queueCountKey(scope string) []byte { return []byte(prefixCount + "q" + scope) }

func boardPrefix(tenant, status string) []byte {
	return append(appendBoard(nil, prefixBoard, part(tenant), status), 0)
}

func boardCountKey(tenant, status string) []byte {
	return appendBoard([]byte(prefixCount), "b", part(tenant), status)
}

// appendBoard appends prefix and a board's component of its keys, from the tenant escaped
// already (part), to b.
func appendBoard(b []byte, prefix, tenant, status string) []byte {
	return append(append(append(append(b, prefix...), tenant...), '/'), status...)
}

// priorityRank orders P1 first; an unknown priority last.
func priorityRank(p events.Priority) byte {
	if len(p) == 2 && p[0] == 'P' && p[1] >= '1' && p[1] <= '5' {
		return p[1] - '0'
	}
	return 9
}

// entries are the index keys of a view: its queues while open, its board status. Their
// keys and counts share one allocation.
func entries(v *View) []entry {
	t := v.Ticket
	if t.ID == "" || !t.State.IsOpen() {
		return nil
	}
	due := dueKey(v.NextDue())
	var order [17]byte
	binary.BigEndian.PutUint64(order[:8], due)
	order[8] = priorityRank(t.Priority)
	binary.BigEndian.PutUint64(order[9:], uint64(t.OpenedAt.UnixMilli()))
	board := v.Board()
	tenant, group, agent := part(t.Tenant), part(t.Group), part(t.Agent)
	scopes, n := scopes(group, agent)
	// Room for every key, so that buf need not grow (it may: the keys cut before stay valid).
	perKey := len(prefixQueue) + len(prefixCount) + 2*(16+len(tenant)+len(group)+len(agent)) + 1 + len(order) + len(t.ID)
	buf := make([]byte, 0, (n+1)*perKey)
	out := make([]entry, 0, n+1)
	// Each entry is its key, then its count, appended to buf.
	cut := func(start, mid int) entry {
		return entry{key: buf[start:mid:mid], count: buf[mid:len(buf):len(buf)]}
	}
	for _, s := range scopes[:n] {
		start := len(buf)
		buf = appendScope(append(buf, prefixQueue...), tenant, s.group, s.hasTier, t.Tier, s.agent)
		scope := buf[start+len(prefixQueue) : len(buf) : len(buf)]
		buf = append(append(append(buf, 0), order[:]...), t.ID...)
		mid := len(buf)
		buf = append(append(append(buf, prefixCount...), 'q'), scope...)
		out = append(out, cut(start, mid))
	}
	if board != "" {
		start := len(buf)
		buf = appendBoard(buf, prefixBoard, tenant, board)
		buf = append(append(append(buf, 0), order[:8]...), t.ID...)
		mid := len(buf)
		buf = appendBoard(append(buf, prefixCount...), "b", tenant, board)
		out = append(out, cut(start, mid))
	}
	return out
}

// diff returns the entries of old not in new, and of new not in old.
func diff(old, new []entry) (gone, added []entry) {
	has := func(list []entry, e entry) bool {
		for _, x := range list {
			if bytes.Equal(x.key, e.key) {
				return true
			}
		}
		return false
	}
	for _, e := range old {
		if !has(new, e) {
			gone = append(gone, e)
		}
	}
	for _, e := range new {
		if !has(old, e) {
			added = append(added, e)
		}
	}
	return gone, added
}
