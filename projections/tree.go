package projections

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/transparency-dev/merkle/compact"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
)

// TreeHead is the log's Merkle tree as the read models hold it: its size (the messages of
// the log it covers, from sequence 1) and root hash.
type TreeHead struct {
	Size uint64
	Root []byte
}

// logTree is the projector's part of the log's Merkle tree (events/audit): every message
// the projector reads, refused ones included, adds its leaf; every perfect subtree's root
// is stored under prefixTree (about two nodes per leaf), committed with the batch that
// adds it, so that proofs of any size up to the committed one read what they need. The
// compact range (the tree's right border) and the head are kept in memory.
type logTree struct {
	mu   sync.RWMutex
	rng  *compact.Range // committed, guarded by the projector's applying and mu
	head TreeHead       // committed, guarded by mu
}

// treeNodeKey is where a node of the tree is stored: level (1 byte), index (8 bytes).
func treeNodeKey(id compact.NodeID) []byte {
	key := append([]byte(prefixTree), byte(id.Level))
	return binary.BigEndian.AppendUint64(key, id.Index)
}

// loadTree reads the committed tree of size leaves.
func loadTree(db *pebble.DB) (*logTree, error) {
	size, err := getUint(db, keyTreeSize)
	if err != nil {
		return nil, err
	}
	hashes, err := readNodes(db, compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, fmt.Errorf("read models: the log's tree of %d leaves: %w", size, err)
	}
	rng, err := audit.Ranges.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	t := &logTree{rng: rng}
	return t, t.commit(rng)
}

func readNodes(r reader, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		val, closer, err := r.Get(treeNodeKey(id))
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, fmt.Errorf("no node %d at level %d", id.Index, id.Level)
		}
		if err != nil {
			return nil, err
		}
		out[i] = append([]byte(nil), val...)
		_ = closer.Close()
	}
	return out, nil
}

// grow is a batch's copy of the committed range, to add the batch's leaves to.
func (t *logTree) grow() (*compact.Range, error) {
	return audit.Ranges.NewRange(0, t.rng.End(), append([][]byte(nil), t.rng.Hashes()...))
}

// addLeaf appends a message's leaf to rng, writing the nodes it completes into b. Leaf
// i is the message at sequence i+1 as long as the log has no gap (it denies deletes); a
// gap, which only tampering with its files makes, is the verifier's to name (audit).
func addLeaf(b *pebble.Batch, rng *compact.Range, e events.LogEntry) error {
	var err error
	visit := func(id compact.NodeID, hash []byte) {
		if err == nil {
			err = b.Set(treeNodeKey(id), hash, nil)
		}
	}
	if aerr := rng.Append(e.Leaf, visit); aerr != nil {
		return aerr
	}
	return err
}

// commit makes rng the committed range, once its batch is committed.
func (t *logTree) commit(rng *compact.Range) error {
	root, err := audit.Root(rng)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.rng, t.head = rng, TreeHead{Size: rng.End(), Root: root}
	t.mu.Unlock()
	return nil
}

// TreeHead is the committed head of the log's tree.
func (p *Projector) TreeHead() TreeHead {
	p.tree.mu.RLock()
	defer p.tree.mu.RUnlock()
	return p.tree.head
}

// Nodes reads committed nodes of the log's tree (audit.NodeReader): every perfect
// subtree of a tree up to TreeHead's size is there.
func (p *Projector) Nodes(ids []compact.NodeID) ([][]byte, error) { return readNodes(p.db, ids) }
