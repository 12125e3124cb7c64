package reactor

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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

	checkMu         sync.Mutex
	running, queued *configCheck // the check in flight, and the one to run after it
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

// syncWait bounds how long a check waits for the follower.
const syncWait = 5 * time.Second

// configCheck is one check that the follower has taken in every version stored when the
// check began; the handlers' concurrent Syncs share checks.
type configCheck struct {
	done chan struct{}
	err  error
}

// Sync returns once every version applied before the call has been taken in, so that a
// ticket opened right after its tenant's configuration is decided with it. It waits for
// a check that begins after the call: the one running now, if it is the first, else the
// next, which every Sync arriving meanwhile shares. A check is usually one request,
// asking for anything after what the follower has seen; the handlers of a process then
// send at most one at a time, however many batches ask.
func (c *Configs) Sync(ctx context.Context) error {
	c.checkMu.Lock()
	var check *configCheck
	switch {
	case c.running == nil:
		check = &configCheck{done: make(chan struct{})}
		c.running = check
		go c.runChecks(check)
	case c.queued == nil:
		c.queued = &configCheck{done: make(chan struct{})}
		check = c.queued
	default:
		check = c.queued
	}
	c.checkMu.Unlock()
	select {
	case <-check.done:
		return check.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runChecks runs check, then the one queued meanwhile, until none is.
func (c *Configs) runChecks(check *configCheck) {
	for check != nil {
		ctx, cancel := context.WithTimeout(context.Background(), syncWait)
		check.err = c.check(ctx)
		cancel()
		close(check.done)
		c.checkMu.Lock()
		check, c.running, c.queued = c.queued, c.queued, nil
		c.checkMu.Unlock()
	}
}

// check returns once every version stored when it was called has been taken in.
func (c *Configs) check(ctx context.Context) error {
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
				return fmt.Errorf("tenant configurations: follower at CONFIG seq %d, seq %d stored: %w", seen, next, ctx.Err())
			case <-c.sub.Done():
				return fmt.Errorf("tenant configurations: follower stopped: %v", c.sub.Err())
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

// Tenants lists the tenants that have a configuration, sorted, as of the last Sync.
func (c *Configs) Tenants() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.latest))
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
