package events

import "time"

// Event is one recorded ticket fact: a payload and its envelope attributes. On the wire it
// is a CloudEvents 1.0 message in binary mode (see envelope.go).
type Event struct {
	ID            string    // ce-id, a UUIDv7; also the Nats-Msg-Id
	Type          string    // ce-type, one of the Type constants
	Source        string    // ce-source, the producing service, e.g. "/ledgerdesk/intake"
	Tenant        string    // ce-tenant extension
	TicketID      string    // ce-subject
	Time          time.Time // ce-time
	Actor         string    // ce-actor extension: who caused it
	CorrelationID string    // ce-correlationid extension
	CausationID   string    // ce-causationid extension: the id of the event or request that caused it
	PrevHash      string    // ce-prevhash extension: Hash of the ticket's previous event, "" for the first
	Hash          string    // ce-hash extension: SHA-256 over the canonical encoding (see chain.go)
	Data          Payload
	Sequence      uint64 // stream sequence; 0 until appended
}
