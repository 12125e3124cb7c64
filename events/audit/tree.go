package audit

import (
	"encoding/base64"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Ranges makes the compact ranges of the log's tree (RFC 6962 hashing). It is the one
// factory: ranges of different factories cannot be merged.
var Ranges = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// NodeReader reads hashes of the log's tree: the perfect subtrees' roots (a leaf is the
// node at level 0) that a tree of the sizes asked about holds.
type NodeReader interface {
	// Nodes returns the hash of each node, in order; every node must exist.
	Nodes(ids []compact.NodeID) ([][]byte, error)
}

// InclusionProof is the RFC 6962 proof that leaf index is in the tree of the given size.
func InclusionProof(r NodeReader, index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return rehash(r, nodes)
}

// ConsistencyProof is the RFC 6962 proof that the tree of size1 is a prefix of the tree
// of size2.
func ConsistencyProof(r NodeReader, size1, size2 uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return rehash(r, nodes)
}

func rehash(r NodeReader, nodes proof.Nodes) ([][]byte, error) {
	hashes, err := r.Nodes(nodes.IDs)
	if err != nil {
		return nil, fmt.Errorf("read the tree's nodes: %w", err)
	}
	return nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

// VerifyInclusion checks that leaf is leaf index of the tree of size with the root.
func VerifyInclusion(index, size uint64, leaf []byte, p [][]byte, root []byte) error {
	return proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf, p, root)
}

// VerifyConsistency checks that the tree of size1 with root1 is a prefix of the tree of
// size2 with root2.
func VerifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 []byte) error {
	return proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, p, root1, root2)
}

// Root is the root hash of a compact range that starts at leaf 0; the empty tree's root
// is SHA-256 of nothing (RFC 6962).
func Root(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}

// RootAt is the root hash of the tree of the first size leaves, from the nodes r holds.
func RootAt(r NodeReader, size uint64) ([]byte, error) {
	hashes, err := r.Nodes(compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	rng, err := Ranges.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return Root(rng)
}

// MemoryTree is a whole tree in memory, every perfect subtree's root by level: for a tool
// that reads the log and then proves some of its leaves (audit export). It costs about
// 64 bytes per leaf.
type MemoryTree struct {
	levels [][][]byte
	rng    *compact.Range
}

// NewMemoryTree is an empty tree.
func NewMemoryTree() *MemoryTree { return &MemoryTree{rng: Ranges.NewEmptyRange(0)} }

// Append adds the next leaf.
func (t *MemoryTree) Append(leaf []byte) {
	// A range's Append fails only for a leaf of another range; this one is its own.
	_ = t.rng.Append(leaf, func(id compact.NodeID, hash []byte) {
		for uint(len(t.levels)) <= id.Level {
			t.levels = append(t.levels, nil)
		}
		t.levels[id.Level] = append(t.levels[id.Level], hash)
	})
}

// Size is the number of leaves.
func (t *MemoryTree) Size() uint64 { return t.rng.End() }

// Root is the root hash of the whole tree.
func (t *MemoryTree) Root() ([]byte, error) { return Root(t.rng) }

// RootAt is the root hash of the tree of its first size leaves.
func (t *MemoryTree) RootAt(size uint64) ([]byte, error) {
	if size > t.Size() {
		return nil, fmt.Errorf("audit: the tree has %d leaves, not %d", t.Size(), size)
	}
	return RootAt(t, size)
}

// Nodes implements NodeReader.
func (t *MemoryTree) Nodes(ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		if id.Level >= uint(len(t.levels)) || id.Index >= uint64(len(t.levels[id.Level])) {
			return nil, fmt.Errorf("audit: the tree has no node %d at level %d", id.Index, id.Level)
		}
		out[i] = t.levels[id.Level][id.Index]
	}
	return out, nil
}

func b64(h []byte) string { return base64.StdEncoding.EncodeToString(h) }
