package projections_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
	"github.com/ledgerdesk/ledgerdesk/projections"
)

// logLeaves reads every message's leaf from the log.
func logLeaves(t *testing.T, store *events.Store) [][]byte {
	t.Helper()
	ctx := context.Background()
	last, err := store.LastSequence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	feed, err := events.ReadLog(ctx, store.JetStream(), 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Stop()
	var leaves [][]byte
	for uint64(len(leaves)) < last {
		e, _, err := feed.Next(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, e.Leaf)
	}
	return leaves
}

// TestTreeCoversTheLog: the projector's tree has a leaf per message of the log, a message
// that is no event included, whatever its batches; its root is the root of those leaves,
// every leaf's inclusion proof from its stored nodes verifies, and a reopened or rebuilt
// projector has the same tree.
func TestTreeCoversTheLog(t *testing.T) {
	store, w := fixture(t)
	if _, err := store.JetStream().Publish(context.Background(), events.Subject("acme", "junk"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	w.add("A", events.Commented{Body: "after the junk"})
	fs := vfs.NewMem()
	p := open(t, fs, 3)
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	leaves := logLeaves(t, store)
	want := audit.NewMemoryTree()
	for _, l := range leaves {
		want.Append(l)
	}
	wantRoot, _ := want.Root()
	head := p.TreeHead()
	if head.Size != uint64(len(leaves)) || !bytes.Equal(head.Root, wantRoot) {
		t.Fatalf("tree head %d %x, want %d %x", head.Size, head.Root, len(leaves), wantRoot)
	}
	for i, l := range leaves {
		pr, err := audit.InclusionProof(p, uint64(i), head.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := audit.VerifyInclusion(uint64(i), head.Size, l, pr, head.Root); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
	}
	older, _ := want.RootAt(5)
	pr, err := audit.ConsistencyProof(p, 5, head.Size)
	if err != nil || audit.VerifyConsistency(5, head.Size, pr, older, head.Root) != nil {
		t.Fatalf("consistency of 5 and %d: %v", head.Size, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p = open(t, fs, 1000)
	if got := p.TreeHead(); got.Size != head.Size || !bytes.Equal(got.Root, head.Root) {
		t.Fatalf("reopened: tree head %d %x, want %d %x", got.Size, got.Root, head.Size, head.Root)
	}
	if err := p.Rebuild(); err != nil || p.TreeHead().Size != 0 {
		t.Fatalf("rebuild: %v, tree size %d", err, p.TreeHead().Size)
	}
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	if got := p.TreeHead(); !bytes.Equal(got.Root, head.Root) {
		t.Fatalf("rebuilt tree root %x, want %x", got.Root, head.Root)
	}
	p.Close()
	replay, err := projections.Replay(context.Background(), store, now)
	if err != nil {
		t.Fatal(err)
	}
	defer replay.Close()
	if replay.TreeHead().Size != 0 {
		t.Fatal("a replay of part of the log has no tree")
	}
}
