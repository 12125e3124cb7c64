package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// hashVersion prefixes the canonical encoding. NB: bump it (and keep the old one verifiable)
// if the encoding ever changes; never change what version 1 means.
const hashVersion = "ledgerdesk-chain-v1"

// ComputeHash returns the hex SHA-256 of the canonical encoding of an event's attributes
// and data: every attribute, in a fixed order, length-prefixed, then the data bytes. The
// previous event's hash is part of it, which links the events of a ticket into a chain.
func ComputeHash(e Event, data []byte) string {
	h := sha256.New()
	field := func(s []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write(s)
	}
	for _, s := range []string{
		hashVersion, SpecVersion, e.ID, e.Source, e.Type, e.Tenant, e.TicketID,
		e.Time.UTC().Format(timeFormat), DataContentType, e.Actor, e.CorrelationID,
		e.CausationID, e.PrevHash,
	} {
		field([]byte(s))
	}
	field(data)
	return hex.EncodeToString(h.Sum(nil))
}

// ChainError names the first broken link of a ticket's hash chain.
type ChainError struct {
	Index    int    // position of the offending event in the history (0-based)
	EventID  string // its ce-id
	Sequence uint64 // its stream sequence
	Reason   string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("events: hash chain broken at event %d (id %s, seq %d): %s", e.Index, e.EventID, e.Sequence, e.Reason)
}

// VerifyChain checks one ticket's history in order: every event's hash matches its
// content, and every event's PrevHash is the hash of the event before it (the first has
// none). It returns nil or a *ChainError for the first broken link, which exposes an
// altered, inserted, reordered or missing event.
func VerifyChain(history []Raw) error {
	prev := ""
	for i, r := range history {
		if r.PrevHash != prev {
			return &ChainError{Index: i, EventID: r.ID, Sequence: r.Sequence,
				Reason: fmt.Sprintf("prevhash %.12s… does not match the previous event's hash %.12s… (event missing, inserted or reordered)", r.PrevHash, prev)}
		}
		if got := ComputeHash(r.Event, r.RawData); got != r.Hash {
			return &ChainError{Index: i, EventID: r.ID, Sequence: r.Sequence,
				Reason: fmt.Sprintf("content hashes to %.12s… but the event claims %.12s… (event altered)", got, r.Hash)}
		}
		prev = r.Hash
	}
	return nil
}
