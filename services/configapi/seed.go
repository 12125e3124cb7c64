package configapi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// Seed applies every configuration document (*.yaml, *.yml, *.json) in dir whose tenant
// has no configuration yet, so that a fresh data directory starts with them and a
// restart never overwrites what an operator applied since. It returns the tenants seeded.
func Seed(ctx context.Context, store *events.Store, dir, actor string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("seed config: %w", err)
	}
	var seeded []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || !slices.Contains([]string{".yaml", ".yml", ".json"}, ext) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		body, err := os.ReadFile(path)
		if err != nil {
			return seeded, fmt.Errorf("seed config: %w", err)
		}
		doc, err := tenantconfig.Parse(body)
		if err != nil {
			return seeded, fmt.Errorf("seed config %s: %w", path, err)
		}
		if _, err := store.CurrentConfig(ctx, doc.Tenant); !errors.Is(err, events.ErrNotFound) {
			if err != nil {
				return seeded, fmt.Errorf("seed config %s: %w", path, err)
			}
			continue // the tenant has a configuration: leave it
		}
		if _, err := Apply(ctx, store, doc.Tenant, body, actor); err != nil {
			return seeded, fmt.Errorf("seed config %s: %w", path, err)
		}
		seeded = append(seeded, doc.Tenant)
	}
	return seeded, nil
}
