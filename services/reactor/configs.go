package reactor

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// Configs is the tenants' configuration documents as the CONFIG stream holds them,
// followed through an ordered consumer, each version decoded once, so that deciding reads
// no configuration from the server. Documents in the stream were validated when
// applied. Safe for concurrent use; the documents it returns are shared and must not be
// modified.
type Configs struct {
	store *events.Store
	log   *zap.Logger
	sub   *events.Subscription

	mu      sync.Mutex
	seen    uint64               // the last CONFIG sequence taken in
	latest  map[string]configKey // tenant → its latest version
	applied map[configKey][]byte // every version's document, as stored
	docs    map[configKey]*tenantconfig.Document
	moved   chan struct{} // closed and replaced whenever seen moves
}

type configKey struct {
	tenant  string
	version uint64
}

// FollowConfigs starts following the CONFIG stream; it returns once the follower is set
// up. Close stops it.
func FollowConfigs(ctx context.Context, store *events.Store, log *zap.Logger) (*Configs, error) {
	c := &Configs{store: store, log: log, latest: map[string]configKey{}, applied: map[configKey][]byte{},
		docs: map[configKey]*tenantconfig.Document{}, moved: make(chan struct{})}
	sub, err := store.FollowConfigs(context.WithoutCancel(ctx), c.take)
	if err != nil {
		return nil, fmt.Errorf("follow tenant configurations: %w", err)
	}
	c.sub = sub
	return c, nil
}

func (c *Configs) take(v events.ConfigVersion) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := configKey{v.Tenant, v.Version}
	c.applied[k] = v.Document
	if v.Version >= c.latest[v.Tenant].version {
		c.latest[v.Tenant] = k
	}
	c.seen = v.Sequence
	close(c.moved)
	c.moved = make(chan struct{})
}

// syncWait bounds how long Sync waits for the follower.
const syncWait = 5 * time.Second

// Sync returns once every version applied before the call has been taken in (usually one
// request, asking for anything after what the follower has seen), so that a ticket
// opened right after its tenant's configuration is decided with it.
func (c *Configs) Sync(ctx context.Context) error {
	timeout := time.NewTimer(syncWait)
	defer timeout.Stop()
	for {
		c.mu.Lock()
		seen := c.seen
		c.mu.Unlock()
		next, err := c.store.ConfigAfter(ctx, seen)
		if err != nil || next == 0 {
			return err
		}
		for seen < next {
			c.mu.Lock()
			moved := c.moved
			seen = c.seen
			c.mu.Unlock()
			if seen >= next {
				break
			}
			select {
			case <-moved:
			case <-ctx.Done():
				return ctx.Err()
			case <-c.sub.Done():
				return fmt.Errorf("tenant configurations: follower stopped: %v", c.sub.Err())
			case <-timeout.C:
				return fmt.Errorf("tenant configurations: follower at CONFIG seq %d, seq %d stored after %s", seen, next, syncWait)
			}
		}
	}
}

// Current returns the tenant's latest document and its version, or events.ErrNotFound,
// as of the last Sync.
func (c *Configs) Current(_ context.Context, tenant string) (*tenantconfig.Document, int, error) {
	c.mu.Lock()
	k, ok := c.latest[tenant]
	c.mu.Unlock()
	if !ok {
		return nil, 0, fmt.Errorf("%w: tenant %s has no configuration", events.ErrNoConfig, tenant)
	}
	doc, err := c.decode(k)
	return doc, int(k.version), err
}

// At returns version v of the tenant's document, or events.ErrNotFound.
func (c *Configs) At(_ context.Context, tenant string, v int) (*tenantconfig.Document, error) {
	return c.decode(configKey{tenant, uint64(v)})
}

func (c *Configs) decode(k configKey) (*tenantconfig.Document, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if doc, ok := c.docs[k]; ok {
		return doc, nil
	}
	raw, ok := c.applied[k]
	if !ok {
		return nil, fmt.Errorf("%w: configuration %d of %s", events.ErrNoConfig, k.version, k.tenant)
	}
	doc := new(tenantconfig.Document)
	if err := json.Unmarshal(raw, doc); err != nil {
		return nil, fmt.Errorf("decode configuration %d of %s: %w", k.version, k.tenant, err)
	}
	c.docs[k] = doc
	return doc, nil
}

// Close stops following the stream.
func (c *Configs) Close() { c.sub.Stop() }
