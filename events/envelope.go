package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// CloudEvents 1.0 binary-mode header names on NATS, and ledgerdesk's extension attributes.
// NB: wire names; they must never change.
const (
	HeaderSpecVersion     = "ce-specversion"
	HeaderID              = "ce-id"
	HeaderSource          = "ce-source"
	HeaderType            = "ce-type"
	HeaderSubject         = "ce-subject"
	HeaderTime            = "ce-time"
	HeaderDataContentType = "ce-datacontenttype"
	HeaderTenant          = "ce-tenant"
	HeaderActor           = "ce-actor"
	HeaderCorrelationID   = "ce-correlationid"
	HeaderCausationID     = "ce-causationid"
	HeaderPrevHash        = "ce-prevhash"
	HeaderHash            = "ce-hash"

	SpecVersion     = "1.0"
	DataContentType = "application/json"
)

// SubjectPrefix is the first token of every ticket subject: tickets.<tenant>.<ticketID>
// as published, tickets.<partition>.<tenant>.<ticketID> as stored (LogLayout).
const SubjectPrefix = "tickets"

// Subject is the NATS subject one ticket's events are published to; the stream stores
// them on StoredSubject, in the ticket's partition.
func Subject(tenant, ticketID string) string {
	return SubjectPrefix + "." + tenant + "." + ticketID
}

// ValidToken reports whether s can stand as one subject token (a tenant or a ticket id):
// non-empty, at most 64 characters of letters, digits, '-' and '_'.
func ValidToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// timeFormat is the ce-time encoding; always UTC so that re-encoding is byte-identical.
const timeFormat = time.RFC3339Nano

// encodeData marshals a payload to its wire JSON.
func encodeData(p Payload) ([]byte, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", p.EventType(), err)
	}
	return data, nil
}

// toMsg builds the NATS message of a ticket event whose Hash is already set.
func toMsg(e Event, data []byte) *nats.Msg {
	m := nats.NewMsg(Subject(e.Tenant, e.TicketID))
	SetEnvelope(m.Header, e)
	setIf(m.Header, HeaderPrevHash, e.PrevHash)
	m.Header.Set(HeaderHash, e.Hash)
	m.Data = data
	return m
}

// SetEnvelope sets the CloudEvents attributes every ledgerdesk event carries, and the
// Nats-Msg-Id (= ce-id) that deduplicates it. TicketID stands as ce-subject: for the
// records kept beside the ticket log (access grants, configurations, evidence), what the
// record is about.
func SetEnvelope(h nats.Header, e Event) {
	h.Set(HeaderSpecVersion, SpecVersion)
	h.Set(HeaderID, e.ID)
	h.Set(HeaderSource, e.Source)
	h.Set(HeaderType, e.Type)
	h.Set(HeaderSubject, e.TicketID)
	h.Set(HeaderTime, e.Time.UTC().Format(timeFormat))
	h.Set(HeaderDataContentType, DataContentType)
	h.Set(HeaderTenant, e.Tenant)
	setIf(h, HeaderActor, e.Actor)
	setIf(h, HeaderCorrelationID, e.CorrelationID)
	setIf(h, HeaderCausationID, e.CausationID)
	h.Set(nats.MsgIdHdr, e.ID)
}

func setIf(h nats.Header, k, v string) {
	if v != "" {
		h.Set(k, v)
	}
}

// Raw is an event as stored: its envelope and its undecoded data. Verification works on
// Raw so that it checks exactly the bytes in the log.
type Raw struct {
	Event
	RawData []byte
	// Partition is the log partition the event is stored in, from its stored subject
	// (0 for an event not read from the log with its subject, such as Seal's).
	Partition int
	// OpensSubject is true when the server checked, as it stored the message, that its
	// stored subject held nothing before it: the message carries the expected last subject
	// sequence 0, checked on its own subject or on every subject of its ticket id. Set
	// only for messages read from the log.
	OpensSubject bool
	// OpensTicket is true when the server checked, as it stored the message, that no
	// stored subject of its ticket id, under any tenant, held anything before it: the
	// expected last subject sequence 0 checked on TicketFilter of its id, which
	// Store.Append sets on a new ticket's first event (events appended before it did are
	// checked on their own subject only). Set only for messages read from the log.
	OpensTicket bool
}

// FromMsg decodes a stored message into a Raw event; the payload is decoded too. A
// subject, unless "", must be the stored subject of the event's ce-tenant and ce-subject
// (StoredSubject); its partition goes to Raw.Partition.
func FromMsg(subject string, h nats.Header, data []byte, seq uint64) (Raw, error) {
	r, err := EnvelopeFromMsg(subject, h, data, seq)
	if err != nil {
		return Raw{}, err
	}
	if r.Data, err = DecodePayload(r.Type, data); err != nil {
		return Raw{}, fmt.Errorf("decode event seq %d: %w", seq, err)
	}
	return r, nil
}

// EnvelopeFromMsg is FromMsg without the payload (Raw.Data stays nil): enough to check the
// event's hash and its place in its ticket's chain, which cover its data's bytes as
// stored whatever they decode to.
func EnvelopeFromMsg(subject string, h nats.Header, data []byte, seq uint64) (Raw, error) {
	if v := h.Get(HeaderSpecVersion); v != SpecVersion {
		return Raw{}, fmt.Errorf("decode event seq %d: ce-specversion %q, want %q", seq, v, SpecVersion)
	}
	t, err := time.Parse(timeFormat, h.Get(HeaderTime))
	if err != nil {
		return Raw{}, fmt.Errorf("decode event seq %d: ce-time: %w", seq, err)
	}
	e := Event{
		ID:            h.Get(HeaderID),
		Type:          h.Get(HeaderType),
		Source:        h.Get(HeaderSource),
		Tenant:        h.Get(HeaderTenant),
		TicketID:      h.Get(HeaderSubject),
		Time:          t,
		Actor:         h.Get(HeaderActor),
		CorrelationID: h.Get(HeaderCorrelationID),
		CausationID:   h.Get(HeaderCausationID),
		PrevHash:      h.Get(HeaderPrevHash),
		Hash:          h.Get(HeaderHash),
		Sequence:      seq,
	}
	detach(&e.ID, &e.Type, &e.Source, &e.Tenant, &e.TicketID, &e.Actor, &e.CorrelationID, &e.CausationID, &e.PrevHash, &e.Hash)
	var partition int
	if subject != "" {
		p, tenant, ticketID, err := ParseStoredSubject(subject)
		if err != nil {
			return Raw{}, fmt.Errorf("decode event seq %d: %w", seq, err)
		}
		if tenant != e.Tenant || ticketID != e.TicketID {
			return Raw{}, fmt.Errorf("decode event seq %d: subject %q does not match ce-tenant/ce-subject %q", seq, subject,
				StoredSubject(p, e.Tenant, e.TicketID))
		}
		partition = p
	}
	checked := subject != "" && h.Get(jetstream.ExpectedLastSubjSeqHeader) == "0"
	on := h.Get(jetstream.ExpectedLastSubjSeqSubjHeader)
	wholeTicket := checked && on == TicketFilter(e.TicketID)
	return Raw{Event: e, RawData: data, Partition: partition, OpensSubject: wholeTicket || checked && on == "", OpensTicket: wholeTicket}, nil
}

// detach makes the strings copies that share one allocation of their own. nats.go hands
// header values out as substrings of one string holding the message's whole header block
// (about 1 KB for an event): an event kept in memory (a consumer's trails, the projector's
// batch) would pin that block for the sake of a few hundred bytes.
func detach(fields ...*string) {
	n := 0
	for _, f := range fields {
		n += len(*f)
	}
	var b strings.Builder
	b.Grow(n)
	for _, f := range fields {
		b.WriteString(*f)
	}
	all := b.String()
	for _, f := range fields {
		*f, all = all[:len(*f)], all[len(*f):]
	}
}

// Header is the event's envelope as stored: its CloudEvents and chain headers.
func (r Raw) Header() nats.Header { return toMsg(r.Event, r.RawData).Header }

// Structured is the CloudEvents 1.0 structured-mode JSON form of an event, as the HTTP API
// serves it, with the stream sequence as the extension attribute "sequence".
type Structured struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Tenant          string          `json:"tenant"`
	Actor           string          `json:"actor,omitempty"`
	CorrelationID   string          `json:"correlationid,omitempty"`
	CausationID     string          `json:"causationid,omitempty"`
	PrevHash        string          `json:"prevhash,omitempty"`
	Hash            string          `json:"hash"`
	Sequence        uint64          `json:"sequence"`
	Data            json.RawMessage `json:"data"`
}

// Envelope is the event a structured rendering stands for, its payload left undecoded
// (Data nil, RawData the data's bytes): enough to compute its hash.
func (s Structured) Envelope() (Raw, error) {
	if s.SpecVersion != SpecVersion || s.DataContentType != DataContentType {
		return Raw{}, fmt.Errorf("event %q: specversion %q and datacontenttype %q, want %q and %q", s.ID, s.SpecVersion, s.DataContentType, SpecVersion, DataContentType)
	}
	t, err := time.Parse(timeFormat, s.Time)
	if err != nil {
		return Raw{}, fmt.Errorf("event %q: time: %w", s.ID, err)
	}
	return Raw{Event: Event{ID: s.ID, Type: s.Type, Source: s.Source, Tenant: s.Tenant, TicketID: s.Subject, Time: t,
		Actor: s.Actor, CorrelationID: s.CorrelationID, CausationID: s.CausationID, PrevHash: s.PrevHash, Hash: s.Hash,
		Sequence: s.Sequence}, RawData: s.Data}, nil
}

// ToStructured renders a stored event in CloudEvents structured mode.
func (r Raw) ToStructured() Structured {
	return Structured{
		SpecVersion: SpecVersion, ID: r.ID, Source: r.Source, Type: r.Type, Subject: r.TicketID,
		Time: r.Time.UTC().Format(timeFormat), DataContentType: DataContentType, Tenant: r.Tenant,
		Actor: r.Actor, CorrelationID: r.CorrelationID, CausationID: r.CausationID,
		PrevHash: r.PrevHash, Hash: r.Hash, Sequence: r.Sequence, Data: r.RawData,
	}
}
