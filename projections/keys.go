package projections

import (
	"encoding/binary"
	"math"
	"net/url"
	"time"
)

// FormatVersion is the version of every key and value this package persists. NB: bump it
// on any change of them; a projector that finds another version rebuilds from sequence 1.
// The encoding of each persisted value of a version is pinned by testdata/format/v<N>
// (TestFormatVersionStableValues), so a change of a name or a field cannot go unnoticed.
//
//	2: views keep their chain head (View.Hash)
//	3: explicit snake_case JSON names for the ticket in a view (events.Ticket)
//	4: the log's Merkle tree (prefixTree, keyTreeSize)
const FormatVersion = 4

// Key spaces. NB: persisted format (see FormatVersion).
const (
	prefixMeta  = "m\x00" // checkpoint and format version
	prefixView  = "v\x00" // ticket id → View (JSON)
	prefixQueue = "q\x00" // queue scope, due, priority, age, ticket id → nothing
	prefixBoard = "b\x00" // tenant, board status, due, ticket id → nothing
	prefixCount = "n\x00" // an index scope → number of entries (uint64)
	prefixTree  = "t\x00" // the log's Merkle tree: level (1 byte), index (uint64) → node hash (32 bytes)
)

var (
	keyCheckpoint = []byte(prefixMeta + "seq")
	keyFormat     = []byte(prefixMeta + "format")
	keyTreeSize   = []byte(prefixMeta + "tree") // the leaves of the log's tree (uint64)
)

// noDue sorts tickets without a running SLA clock after all others.
const noDue = math.MaxUint64

// part escapes one component of a key so that it contains no separator.
func part(s string) string { return url.PathEscape(s) }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func dueKey(due time.Time) uint64 {
	if due.IsZero() {
		return noDue
	}
	return uint64(due.UnixMilli())
}

// prefixEnd is the first key after every key that starts with prefix.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
