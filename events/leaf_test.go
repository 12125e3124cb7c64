package events_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// TestLeafHashIsPinned: the leaf record is a persisted format (every signed checkpoint
// depends on it): SHA-256 of 0x00 and the length-prefixed version, sequence, subject and
// commitment. NB: This must not change.
func TestLeafHashIsPinned(t *testing.T) {
	var rec []byte
	rec = append(rec, 0)
	for _, s := range []string{"ledgerdesk-leaf-v1", "7", "tickets.0.acme.t1", "abc"} {
		rec = binary.BigEndian.AppendUint64(rec, uint64(len(s)))
		rec = append(rec, s...)
	}
	want := sha256.Sum256(rec)
	got := events.LeafHash(7, "tickets.0.acme.t1", "abc")
	if hex.EncodeToString(got) != hex.EncodeToString(want[:]) {
		t.Fatalf("leaf hash %x, want %x", got, want)
	}
	if lib := rfc6962.DefaultHasher.HashLeaf(rec[1:]); hex.EncodeToString(got) != hex.EncodeToString(lib) {
		t.Fatalf("leaf hash %x, RFC 6962's leaf hash of the record %x", got, lib)
	}
}

// TestEventLeafCommitsToTheContent: a sound event's leaf commits to its ce-hash; an event
// whose content changed after sealing has another leaf, whatever its ce-hash claims.
func TestEventLeafCommitsToTheContent(t *testing.T) {
	r, err := events.Seal(events.Event{ID: "e1", Source: "/test", Tenant: "acme", TicketID: "t1", Data: events.Commented{Body: "hi"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	const subject = "tickets.0.acme.t1"
	if got, want := events.EventLeaf(3, subject, events.Check(r)), events.LeafHash(3, subject, r.Hash); hex.EncodeToString(got) != hex.EncodeToString(want) {
		t.Fatal("a sound event's leaf is not the leaf of its ce-hash")
	}
	altered := r
	altered.RawData = []byte(`{"body":"bye"}`)
	if hex.EncodeToString(events.EventLeaf(3, subject, events.Check(altered))) == hex.EncodeToString(events.EventLeaf(3, subject, events.Check(r))) {
		t.Fatal("an altered event has its original leaf")
	}
}
