package reactor_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/services/reactor"
)

// Concurrent Syncs share checks; each must still see every version applied before it
// was called, never an answer from a check that began earlier.
func TestSyncSeesEveryVersionAppliedBeforeIt(t *testing.T) {
	_, store := setup(t)
	ctx := context.Background()
	configs, err := reactor.FollowConfigs(ctx, store, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer configs.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		tenant := fmt.Sprintf("tenant%d", i)
		wg.Go(func() {
			for range 15 {
				applied, err := store.ApplyConfig(ctx, tenant, []byte(`{}`), "test")
				if err != nil {
					t.Error(err)
					return
				}
				if err := configs.Sync(ctx); err != nil {
					t.Error(err)
					return
				}
				if _, v, err := configs.Current(ctx, tenant); err != nil || v != int(applied.Version) {
					t.Errorf("%s after Sync: version %d (%v), want %d", tenant, v, err, applied.Version)
					return
				}
			}
		})
	}
	wg.Wait()
}
