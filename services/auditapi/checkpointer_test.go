package auditapi_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events/audit"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/projections"
	"github.com/ledgerdesk/ledgerdesk/services/auditapi"
)

// memTree is a tree the test grows: the Tree of a Checkpointer.
type memTree struct {
	mu sync.Mutex
	*audit.MemoryTree
}

func (m *memTree) grow(n int, salt string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range n {
		leaf := sha256.Sum256(fmt.Appendf(nil, "%s %d %d", salt, m.Size(), i))
		m.Append(leaf[:])
	}
}

func (m *memTree) TreeHead() projections.TreeHead {
	m.mu.Lock()
	defer m.mu.Unlock()
	root, _ := m.Root()
	return projections.TreeHead{Size: m.Size(), Root: root}
}

func setup(t *testing.T) (jetstream.JetStream, *audit.Key) {
	_, nc := eventstest.RunJetStream(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), audit.StreamConfig()); err != nil {
		t.Fatal(err)
	}
	key, err := audit.LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return js, key
}

func checkpointer(t *testing.T, tree auditapi.Tree, js jetstream.JetStream, key *audit.Key) *auditapi.Checkpointer {
	t.Helper()
	c, err := auditapi.NewCheckpointer(auditapi.CheckpointerConfig{Wiring: auditapi.Wiring{Tree: tree, JS: js, Key: key, Log: zap.NewNop()}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stored opens every checkpoint CHECKPOINTS holds.
func stored(t *testing.T, js jetstream.JetStream, key *audit.Key) []audit.Checkpoint {
	t.Helper()
	all, err := audit.ReadAll(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Checkpoint
	for _, s := range all {
		cp, err := s.Open(key.Verifier)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cp)
	}
	return out
}

// TestCheckpointsGrowInOrder: two signers of the same key (two reporting replicas) sign
// the same growing log at once: the checkpoints stored grow strictly, each verifies, and
// nothing is signed while the tree does not grow.
func TestCheckpointsGrowInOrder(t *testing.T) {
	js, key := setup(t)
	ctx := context.Background()
	tree := &memTree{MemoryTree: audit.NewMemoryTree()}
	a, b := checkpointer(t, tree, js, key), checkpointer(t, tree, js, key)
	for round := range 20 {
		tree.grow(1+round%3, "log")
		var wg sync.WaitGroup
		for _, c := range []*auditapi.Checkpointer{a, b} {
			wg.Go(func() {
				if err := c.Checkpoint(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if err := a.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	cps := stored(t, js, key)
	if len(cps) < 20 {
		t.Fatalf("%d checkpoints for 20 rounds of growth", len(cps))
	}
	for i := 1; i < len(cps); i++ {
		if cps[i].Size <= cps[i-1].Size {
			t.Fatalf("checkpoint %d of size %d after one of size %d", i, cps[i].Size, cps[i-1].Size)
		}
	}
	last := cps[len(cps)-1]
	if root, _ := tree.RootAt(last.Size); string(root) != string(last.Root) || last.Size != tree.Size() {
		t.Fatalf("the last checkpoint (size %d) is not the tree's head (size %d)", last.Size, tree.Size())
	}
	if err := b.Checkpoint(ctx); err != nil || len(stored(t, js, key)) != len(cps) {
		t.Fatalf("a tree that did not grow was signed again (%v)", err)
	}
}

// TestCheckpointerRefusesADivergedLog: read models built over another history than the
// one checkpointed are not signed: the checkpointer answers a *DivergedError.
func TestCheckpointerRefusesADivergedLog(t *testing.T) {
	js, key := setup(t)
	ctx := context.Background()
	honest := &memTree{MemoryTree: audit.NewMemoryTree()}
	honest.grow(10, "honest")
	if err := checkpointer(t, honest, js, key).Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	rewritten := &memTree{MemoryTree: audit.NewMemoryTree()}
	rewritten.grow(12, "rewritten")
	var diverged *auditapi.DivergedError
	if err := checkpointer(t, rewritten, js, key).Checkpoint(ctx); !errors.As(err, &diverged) || diverged.Size != 10 {
		t.Fatalf("a rewritten log: %v, want a DivergedError at size 10", err)
	}
	if n := len(stored(t, js, key)); n != 1 {
		t.Fatalf("%d checkpoints stored, want only the honest one", n)
	}
}

// TestCheckpointerSignsAfterAForgery: a checkpoint another key signed (stored by someone
// with rights on CHECKPOINTS) is trusted for nothing: the next checkpoint is signed after it.
func TestCheckpointerSignsAfterAForgery(t *testing.T) {
	js, key := setup(t)
	ctx := context.Background()
	forger, err := audit.LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := forger.Sign(1000, make([]byte, 32))
	if _, err := audit.Publish(ctx, js, forger, forged, 0); err != nil {
		t.Fatal(err)
	}
	tree := &memTree{MemoryTree: audit.NewMemoryTree()}
	tree.grow(5, "log")
	if err := checkpointer(t, tree, js, key).Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	latest, err := audit.Latest(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := latest.Open(key.Verifier); err != nil || cp.Size != 5 {
		t.Fatalf("newest checkpoint: size %d, %v; want ours of size 5", cp.Size, err)
	}
}
