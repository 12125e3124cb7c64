package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// hashVersion prefixes the canonical encoding. NB: bump it (and keep the old one verifiable)
// if the encoding ever changes; never change what version 1 means.
const hashVersion = "ledgerdesk-chain-v1"

// ComputeHash returns the hex SHA-256 of the canonical encoding of an event's attributes
// and data: every attribute, in a fixed order, length-prefixed, then the data bytes. The
// previous event's hash is part of it, which links the events of a ticket into a chain.
func ComputeHash(e Event, data []byte) string {
	// Every reader hashes every event it reads: the record is built on the stack (the
	// attributes and a usual payload fit) and hashed in one call.
	var buf [1024]byte
	var at [64]byte
	rec := buf[:0]
	for _, s := range []string{hashVersion, SpecVersion, e.ID, e.Source, e.Type, e.Tenant, e.TicketID} {
		rec = appendField(rec, s)
	}
	rec = appendField(rec, e.Time.UTC().AppendFormat(at[:0], timeFormat))
	for _, s := range []string{DataContentType, e.Actor, e.CorrelationID, e.CausationID, e.PrevHash} {
		rec = appendField(rec, s)
	}
	rec = binary.BigEndian.AppendUint64(rec, uint64(len(data)))
	sum := sha256.Sum256(append(rec, data...))
	return hex.EncodeToString(sum[:])
}

// appendField appends s length-prefixed (8 bytes, big endian): the field encoding of
// every record this package hashes.
func appendField[T string | []byte](rec []byte, s T) []byte {
	rec = binary.BigEndian.AppendUint64(rec, uint64(len(s)))
	return append(rec, s...)
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

// VerifyChain checks one ticket's history in order with the readers' rule
// (ChainHead.Link): every event's hash matches its content, every event's PrevHash is the
// hash of the event before it (the first has none), and every event has the first one's
// tenant. It returns nil or a *ChainError for the first broken link, which exposes an
// altered, inserted, reordered or missing event.
func VerifyChain(history []Raw) error {
	var head ChainHead
	for i, r := range history {
		next, err := head.Link(r)
		var re *RejectedError
		if errors.As(err, &re) {
			return &ChainError{Index: i, EventID: r.ID, Sequence: r.Sequence, Reason: re.Reason}
		}
		head = next
	}
	return nil
}

// ChainHead is the last accepted event of a ticket: what its next event must link to.
// The zero ChainHead stands before a ticket's first event.
type ChainHead struct {
	Tenant   string // the tenant of the ticket's first event; every later event must carry it
	Hash     string // the hash the next event's prevhash must name
	Sequence uint64 // the stream sequence of the accepted event
}

// Refused is the error of a message of the log that no reader may act on: a
// *RejectedError or an *Undecodable. Message is the message as stored, for a dead-letter
// queue.
type Refused interface {
	error
	Message() *nats.Msg
	Seq() uint64 // its stream sequence
}

// RejectedError is why a reader refuses an event of the log: its content does not hash to
// its claimed hash (altered or forged), its prevhash does not name the last accepted event
// of its ticket (inserted, reordered, or built on a refused event), it claims another
// tenant than the ticket's, or it is not a ledgerdesk event at all.
type RejectedError struct {
	Sequence uint64
	TicketID string
	EventID  string
	Reason   string
	event    Raw
}

// Message is the refused event as it is stored, for a dead-letter queue.
func (e *RejectedError) Message() *nats.Msg { return toMsg(e.event.Event, e.event.RawData) }

// Seq is the refused event's stream sequence.
func (e *RejectedError) Seq() uint64 { return e.Sequence }

func (e *RejectedError) Error() string {
	return fmt.Sprintf("events: event seq %d (id %q, ticket %q) rejected: %s", e.Sequence, e.EventID, e.TicketID, e.Reason)
}

// Link is the one rule every reader of the log applies to every event: r is accepted
// after head when its content hashes to its hash, its prevhash is head's hash and it
// belongs to head's tenant. It returns the ticket's new head, or a *RejectedError (head
// stays as it was: the ticket's next event must still link to head).
func (head ChainHead) Link(r Raw) (ChainHead, error) { return head.LinkChecked(Check(r)) }

// Checked is an event with its content hash computed ahead (Check), so that linking it
// (LinkChecked) hashes nothing: a reader that applies events in order on one goroutine
// can hash them on the goroutine that decodes them.
type Checked struct {
	raw Raw
	sum string // ComputeHash(raw.Event, raw.RawData)
}

// Check computes an event's content hash for LinkChecked. The event must not change
// afterwards (its RawData is shared, not copied).
func Check(r Raw) Checked { return Checked{raw: r, sum: ComputeHash(r.Event, r.RawData)} }

// Raw is the checked event.
func (c Checked) Raw() Raw { return c.raw }

// ContentHash is the hash the event's content has (ComputeHash): its ce-hash when it is
// sound.
func (c Checked) ContentHash() string { return c.sum }

// LinkChecked is Link for an event Check hashed ahead: the same rule, the same answers.
func (head ChainHead) LinkChecked(c Checked) (ChainHead, error) {
	r := c.raw
	reject := func(format string, args ...any) (ChainHead, error) {
		return head, &RejectedError{Sequence: r.Sequence, TicketID: r.TicketID, EventID: r.ID, Reason: fmt.Sprintf(format, args...), event: r}
	}
	if c.sum != r.Hash {
		return reject("content hashes to %.12s… but the event claims %q (altered or forged)", c.sum, r.Hash)
	}
	if r.PrevHash != head.Hash {
		if head.Hash == "" {
			return reject("prevhash %.12s… names an event its ticket does not have (its first event is missing, or it was inserted or built on a rejected event)", r.PrevHash)
		}
		return reject("prevhash %.12s… is not the hash %.12s… of its ticket's last accepted event (seq %d): an event before it is missing, or it was inserted, reordered or built on a rejected event",
			r.PrevHash, head.Hash, head.Sequence)
	}
	if head.Tenant != "" && r.Tenant != head.Tenant {
		return reject("tenant %q, but the ticket belongs to %q", r.Tenant, head.Tenant)
	}
	return ChainHead{Tenant: r.Tenant, Hash: r.Hash, Sequence: r.Sequence}, nil
}

// Trusted applies Link to a ticket's history in order and returns the events it accepts,
// the head after them, and the *RejectedError of each event it refuses. Deciding and
// appending work on the trusted history only: the next event links to head, so that a
// refused event never becomes part of a ticket's chain.
func Trusted(history []Raw) (trusted []Raw, head ChainHead, rejected []error) {
	trusted = make([]Raw, 0, len(history))
	for _, r := range history {
		next, err := head.Link(r)
		if err != nil {
			rejected = append(rejected, err)
			continue
		}
		head = next
		trusted = append(trusted, r)
	}
	return trusted, head, rejected
}

// Seal encodes an event's data and sets its PrevHash (prev) and Hash, as Append stores
// them; for readers' tests and tools that build a log by hand.
func Seal(e Event, prev string) (Raw, error) {
	e.Type = e.Data.EventType()
	e.PrevHash = prev
	data, err := encodeData(e.Data)
	if err != nil {
		return Raw{}, err
	}
	e.Hash = ComputeHash(e, data)
	return Raw{Event: e, RawData: data}, nil
}
