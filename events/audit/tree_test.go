package audit_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events/audit"
)

func leaf(i int) []byte { h := sha256.Sum256([]byte(fmt.Sprint("leaf ", i))); return h[:] }

// TestTreeProofs builds trees of every size up to 40 and checks every inclusion proof and
// every consistency proof between two sizes, and that a proof of another leaf or root fails.
func TestTreeProofs(t *testing.T) {
	tree := audit.NewMemoryTree()
	if root, _ := tree.Root(); hex.EncodeToString(root) != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("empty root %x, want SHA-256 of nothing (RFC 6962)", root)
	}
	var roots [][]byte
	for n := 1; n <= 40; n++ {
		tree.Append(leaf(n - 1))
		root, err := tree.Root()
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, root)
	}
	if !bytes.Equal(roots[0], leaf(0)) {
		t.Fatalf("a one-leaf tree's root is its leaf")
	}
	for size := uint64(1); size <= 40; size++ {
		root := roots[size-1]
		if at, _ := tree.RootAt(size); !bytes.Equal(at, root) {
			t.Fatalf("RootAt(%d) differs from the root the tree had at that size", size)
		}
		for i := uint64(0); i < size; i++ {
			p, err := audit.InclusionProof(tree, i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := audit.VerifyInclusion(i, size, leaf(int(i)), p, root); err != nil {
				t.Fatalf("leaf %d in %d: %v", i, size, err)
			}
			if audit.VerifyInclusion(i, size, leaf(int(i)+1), p, root) == nil {
				t.Fatalf("leaf %d in %d: another leaf verified", i, size)
			}
		}
		for size1 := uint64(1); size1 < size; size1++ {
			p, err := audit.ConsistencyProof(tree, size1, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := audit.VerifyConsistency(size1, size, p, roots[size1-1], root); err != nil {
				t.Fatalf("%d to %d: %v", size1, size, err)
			}
			if audit.VerifyConsistency(size1, size, p, roots[size1-1], roots[size-2]) == nil && size > size1+1 {
				t.Fatalf("%d to %d: another root verified", size1, size)
			}
		}
	}
}
