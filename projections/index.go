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
	k := "t/" + part(s.Tenant)
	switch {
	case s.Agent != "":
		return k + "/a/" + part(s.Agent)
	case s.Group != "" && s.Tier != nil:
		return k + "/g/" + part(s.Group) + "/r/" + strconv.Itoa(*s.Tier)
	case s.Group != "":
		return k + "/g/" + part(s.Group)
	case s.Tier != nil:
		return k + "/r/" + strconv.Itoa(*s.Tier)
	}
	return k
}

// scopes are the queues an open ticket is in.
func scopes(t events.Ticket) []QueueScope {
	tier := t.Tier
	out := []QueueScope{{Tenant: t.Tenant}, {Tenant: t.Tenant, Tier: &tier}}
	if t.Group != "" {
		out = append(out, QueueScope{Tenant: t.Tenant, Group: t.Group}, QueueScope{Tenant: t.Tenant, Group: t.Group, Tier: &tier})
	}
	if t.Agent != "" {
		out = append(out, QueueScope{Tenant: t.Tenant, Agent: t.Agent})
	}
	return out
}

func queuePrefix(scope string) []byte { return []byte(prefixQueue + scope + "\x00") }

func queueCountKey(scope string) []byte { return []byte(prefixCount + "q" + scope) }

func boardPrefix(tenant, status string) []byte {
	return []byte(prefixBoard + part(tenant) + "/" + status + "\x00")
}

func boardCountKey(tenant, status string) []byte {
	return []byte(prefixCount + "b" + part(tenant) + "/" + status)
}

// priorityRank orders P1 first; an unknown priority last.
func priorityRank(p events.Priority) byte {
	if len(p) == 2 && p[0] == 'P' && p[1] >= '1' && p[1] <= '5' {
		return p[1] - '0'
	}
	return 9
}

// entries are the index keys of a view: its queues while open, its board status.
func entries(v *View) []entry {
	t := v.Ticket
	if t.ID == "" || !t.State.IsOpen() {
		return nil
	}
	due := dueKey(v.NextDue())
	order := make([]byte, 0, 17+len(t.ID))
	order = binary.BigEndian.AppendUint64(order, due)
	order = append(order, priorityRank(t.Priority))
	order = binary.BigEndian.AppendUint64(order, uint64(t.OpenedAt.UnixMilli()))
	order = append(order, t.ID...)
	out := make([]entry, 0, 6)
	for _, s := range scopes(t) {
		k := s.key()
		key := make([]byte, 0, len(prefixQueue)+len(k)+1+len(order))
		key = append(append(append(append(key, prefixQueue...), k...), 0), order...)
		out = append(out, entry{key: key, count: queueCountKey(k)})
	}
	if b := v.Board(); b != "" {
		key := binary.BigEndian.AppendUint64(boardPrefix(t.Tenant, b), due)
		out = append(out, entry{key: append(key, t.ID...), count: boardCountKey(t.Tenant, b)})
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
