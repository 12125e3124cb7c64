package reactor

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// Configs reads tenants' configuration documents from the CONFIG stream, decoding each
// version once. Documents in the stream were validated when applied. Safe for
// concurrent use; the documents it returns are shared and must not be modified.
type Configs struct {
	store *events.Store
	mu    sync.Mutex
	docs  map[configKey]*tenantconfig.Document
}

type configKey struct {
	tenant  string
	version uint64
}

// NewConfigs reads configurations from store.
func NewConfigs(store *events.Store) *Configs {
	return &Configs{store: store, docs: map[configKey]*tenantconfig.Document{}}
}

// Current returns the tenant's latest document and its version, or events.ErrNotFound.
// It asks the stream every time, so a document applied a moment ago is seen.
func (c *Configs) Current(ctx context.Context, tenant string) (*tenantconfig.Document, int, error) {
	v, err := c.store.CurrentConfig(ctx, tenant)
	if err != nil {
		return nil, 0, err
	}
	doc, err := c.decode(v)
	return doc, int(v.Version), err
}

// At returns version v of the tenant's document, or events.ErrNotFound.
func (c *Configs) At(ctx context.Context, tenant string, v int) (*tenantconfig.Document, error) {
	c.mu.Lock()
	doc, ok := c.docs[configKey{tenant, uint64(v)}]
	c.mu.Unlock()
	if ok {
		return doc, nil
	}
	cv, err := c.store.ConfigAt(ctx, tenant, uint64(v))
	if err != nil {
		return nil, err
	}
	return c.decode(cv)
}

func (c *Configs) decode(v events.ConfigVersion) (*tenantconfig.Document, error) {
	k := configKey{v.Tenant, v.Version}
	c.mu.Lock()
	defer c.mu.Unlock()
	if doc, ok := c.docs[k]; ok {
		return doc, nil
	}
	doc := new(tenantconfig.Document)
	if err := json.Unmarshal(v.Document, doc); err != nil {
		return nil, fmt.Errorf("decode configuration %d of %s: %w", v.Version, v.Tenant, err)
	}
	c.docs[k] = doc
	return doc, nil
}
