package reactor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"go.uber.org/zap"
)

// MembersBucket is the KV bucket of replica leases: one key <service>.<instance> per
// running replica, put again every LeaseRefresh. A replica whose key has not been put for
// LeaseTTL counts as gone, and one that stops deletes its key. NB: wire name; never rename.
const MembersBucket = "MEMBERS"

// Lease timing: a SIGKILLed replica's partitions move after at most LeaseTTL plus one
// refresh; the replica that takes one over unpins the gone one at once.
const (
	LeaseRefresh = time.Second
	LeaseTTL     = 3 * time.Second
)

// MembersBucketConfig is the MEMBERS bucket: in memory (a lease is worth nothing after a
// restart of the server), one value per key, stale keys gone after a minute.
func MembersBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      MembersBucket,
		Description: "ledgerdesk replica leases: <service>.<instance>, refreshed every second",
		History:     1,
		TTL:         time.Minute,
		Storage:     jetstream.MemoryStorage,
	}
}

// lease is the value of a replica's key: who it is, for people looking with `nats kv`.
type lease struct {
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

// members is one replica's view of its service's live replicas, kept from the MEMBERS
// bucket: its own lease, refreshed, and every other replica's last refresh, watched.
type members struct {
	kv      jetstream.KeyValue
	service string
	self    string // this replica's instance id
	log     *zap.Logger
	value   []byte

	mu      sync.Mutex
	seen    map[string]time.Time // instance → when its key was last put
	live    []string             // sorted, always holding self
	changed chan struct{}        // signalled (capacity 1) when live changes
	left    chan struct{}        // closed once the lease is deleted after ctx ended
}

// joinMembers puts this replica's lease and starts watching its service's leases; it
// runs until ctx ends, then deletes the lease and closes left.
func joinMembers(ctx context.Context, js jetstream.JetStream, service string, log *zap.Logger) (*members, error) {
	kv, err := js.KeyValue(ctx, MembersBucket)
	if err != nil {
		return nil, fmt.Errorf("open KV bucket %s (provisioned with admin credentials): %w", MembersBucket, err)
	}
	host, _ := os.Hostname()
	value, err := json.Marshal(lease{Host: host, PID: os.Getpid(), Started: time.Now().UTC()})
	if err != nil {
		return nil, err
	}
	m := &members{kv: kv, service: service, self: nuid.Next(), log: log, value: value,
		seen: map[string]time.Time{}, changed: make(chan struct{}, 1), left: make(chan struct{})}
	m.live = []string{m.self}
	if _, err := kv.Put(ctx, m.key(m.self), value); err != nil {
		return nil, fmt.Errorf("put lease of %s: %w", service, err)
	}
	w, err := kv.Watch(ctx, service+".*")
	if err != nil {
		return nil, fmt.Errorf("watch leases of %s: %w", service, err)
	}
	go m.run(ctx, w)
	return m, nil
}

func (m *members) key(instance string) string { return m.service + "." + instance }

func (m *members) run(ctx context.Context, w jetstream.KeyWatcher) {
	refresh := time.NewTicker(LeaseRefresh)
	defer refresh.Stop()
	defer close(m.left)
	defer func() {
		_ = w.Stop()
		// Leaving: delete the lease so the others take the partitions over at once.
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := m.kv.Delete(dctx, m.key(m.self)); err != nil {
			m.log.Warn("could not delete this replica's lease; the others wait for it to expire", zap.Error(err))
		}
	}()
	prefix := m.service + "."
	initial := true // the watch first replays every key's last put
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil { // the initial values are all in
				initial = false
				m.update()
				continue
			}
			instance := e.Key()[len(prefix):]
			m.mu.Lock()
			if e.Operation() == jetstream.KeyValuePut {
				// A replayed lease counts from when it was put (it may be a dead
				// replica's last one); a new put, from now.
				at := time.Now()
				if initial && e.Created().Before(at) {
					at = e.Created()
				}
				m.seen[instance] = at
			} else {
				delete(m.seen, instance)
			}
			m.mu.Unlock()
			m.update()
		case <-refresh.C:
			if _, err := m.kv.Put(ctx, m.key(m.self), m.value); err != nil && !errors.Is(err, context.Canceled) {
				m.log.Warn("could not refresh this replica's lease", zap.Error(err))
			}
			m.update()
		}
	}
}

// update recomputes the live replicas and signals a change.
func (m *members) update() {
	now := time.Now()
	m.mu.Lock()
	live := []string{m.self}
	for instance, at := range m.seen {
		if instance != m.self && now.Sub(at) < LeaseTTL {
			live = append(live, instance)
		}
	}
	slices.Sort(live)
	same := slices.Equal(live, m.live)
	m.live = live
	m.mu.Unlock()
	if !same {
		select {
		case m.changed <- struct{}{}:
		default:
		}
	}
}

// snapshot is the live replicas, in instance order.
func (m *members) snapshot() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live
}

// owner is the replica partition p belongs to among live (in instance order): the
// (p mod k)-th of the k, so every replica computes the same split from the same leases,
// and the shares differ by at most one partition.
func owner(live []string, p int) string { return live[p%len(live)] }

// owned is the share of n partitions self takes among live.
func owned(live []string, self string, n int) []int {
	var out []int
	for p := range n {
		if owner(live, p) == self {
			out = append(out, p)
		}
	}
	return out
}

// count is how many replicas are live.
func (m *members) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.live)
}
