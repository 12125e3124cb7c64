package events

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The ticket log's Merkle tree (RFC 6962) has one leaf per message of the TICKETS stream,
// in stream order: leaf i is the message at stream sequence i+1 (the stream denies
// deletes, so its sequences have no gaps). Its signed checkpoints (events/audit) commit to
// every message and its position, so that an auditor holding one can tell an event
// altered, inserted or removed, or the log's tail cut, since.

// leafVersion opens every leaf's record. NB: a persisted format: the leaves of every
// checkpoint ever signed depend on it; a new record layout gets a new version.
const leafVersion = "ledgerdesk-leaf-v1"

// LeafHash is the RFC 6962 leaf hash of a message of the log: SHA-256 of 0x00 and its
// record, which is leafVersion, the stream sequence, the stored subject and the
// commitment to the message's content, each length-prefixed.
func LeafHash(seq uint64, subject, commitment string) []byte {
	// rfc6962.DefaultHasher.HashLeaf(record), which a test holds it to, in one call on a
	// buffer on the stack: every reader of the log hashes every message's leaf.
	var buf [256]byte
	var num [20]byte
	rec := append(buf[:0], rfc6962.RFC6962LeafHashPrefix)
	rec = appendField(rec, leafVersion)
	rec = appendField(rec, strconv.AppendUint(num[:0], seq, 10))
	rec = appendField(appendField(rec, subject), commitment)
	sum := sha256.Sum256(rec)
	return sum[:]
}

// EventLeaf is the leaf of an event stored at seq on subject: its commitment is the hash
// its content has (ComputeHash), which its ce-hash claims for a sound event. An event
// altered after it was appended thus changes the tree, whatever its headers claim.
func EventLeaf(seq uint64, subject string, c Checked) []byte {
	return LeafHash(seq, subject, c.sum)
}

// MessageLeaf is the leaf of a message of the log that is not a ledgerdesk event: its
// commitment is "raw:" and the hex SHA-256 of its headers (sorted, length-prefixed)
// and data.
func MessageLeaf(seq uint64, subject string, h nats.Header, data []byte) []byte {
	var rec []byte
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			rec = appendField(appendField(rec, k), v)
		}
	}
	sum := sha256.Sum256(appendField(rec, string(data)))
	return LeafHash(seq, subject, "raw:"+hex.EncodeToString(sum[:]))
}
