package inbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// Outcome statuses. NB: API contract.
const (
	StatusAccepted = "accepted"
	StatusRejected = "rejected"
)

// Outcome is the answer to one inbound message. NB: API and stored contract (OUTCOMES,
// GET /v1/events/outcome, POST /v1/events): fields are only ever added.
type Outcome struct {
	ID          string `json:"id,omitempty"`     // the message's ce-id
	Source      string `json:"source,omitempty"` // its ce-source
	Type        string `json:"type,omitempty"`   // its ce-type
	Tenant      string `json:"tenant,omitempty"`
	Integration string `json:"integration,omitempty"`
	// ExternalID is the external reference the message named (an alert's fingerprint).
	ExternalID string `json:"external_id,omitempty"`
	Status     string `json:"status"` // accepted or rejected
	// Ticket and Sequence, when accepted: the ticket the message was applied to and the
	// stream sequence of its last event then (its version: ETag of GET /v1/tickets/{id}).
	Ticket   string `json:"ticket,omitempty"`
	Sequence uint64 `json:"sequence,omitempty"`
	// Existing: an open whose external reference names a ticket still open, which it
	// addresses instead of opening another.
	Existing bool `json:"existing,omitempty"`
	// Evidence, for a backup result or a patch scan: the EVIDENCE stream sequence it is
	// recorded at (and Ticket the incident a failed backup opened or commented on).
	Evidence uint64 `json:"evidence,omitempty"`
	// Replayed: the message was answered before (the same key, type and data); this is
	// that first answer again, and nothing was applied now.
	Replayed bool `json:"replayed,omitempty"`
	// Problem says why, when rejected: every reason, with the schema path of each.
	Problem *httpx.Problem `json:"problem,omitempty"`
	// Digest is the SHA-256 of the message's type and data: a repeat of its key must match it.
	Digest string    `json:"digest,omitempty"`
	At     time.Time `json:"at"`

	key string // the subject token it is kept under
}

// messageKey is the key of a message: one subject token, from its tenant, integration,
// ce-source and ce-id.
func messageKey(tenant, integration, source, id string) string {
	return hashKey(tenant, integration, source, id)
}

// hashKey is a subject token for parts: 32 hex digits of their SHA-256.
func hashKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// digestOf is a message's digest: its type and its data, as compact JSON when it is JSON.
func digestOf(e *event.Event) string {
	data := e.Data()
	var compact bytes.Buffer
	if json.Compact(&compact, data) == nil {
		data = compact.Bytes()
	}
	h := sha256.New()
	h.Write([]byte(e.Type()))
	h.Write([]byte{0})
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// outcomes records and looks up outcomes in the OUTCOMES stream.
type outcomes struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	// group gathers concurrent records into atomic batches: one fsync for many outcomes.
	group *events.Group[*nats.Msg, error]
}

func newOutcomes(js jetstream.JetStream, stream jetstream.Stream) outcomes {
	return outcomes{js: js, stream: stream, group: events.NewGroup(2, events.MaxBatch, func(*nats.Msg) int { return 1 },
		func(msgs []*nats.Msg) []error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out := make([]error, len(msgs))
			if len(msgs) > 1 {
				batch := make([]*nats.Msg, len(msgs)) // copies: the batch sets headers of its own on them
				for i, m := range msgs {
					batch[i] = &nats.Msg{Subject: m.Subject, Data: m.Data, Header: maps.Clone(m.Header)}
				}
				if _, err := jetstreamext.PublishMsgBatch(ctx, js, batch, jetstreamext.BatchFlowControl{AckTimeout: 10 * time.Second}); err == nil {
					return out
				}
				// One duplicate Nats-Msg-Id (a redelivery's outcome) refuses the whole
				// batch: each is then published alone, a duplicate answered as stored.
			}
			for i, m := range msgs {
				_, out[i] = js.PublishMsg(ctx, m, jetstream.WithExpectStream(OutcomeStream))
			}
			return out
		})}
}

// close records what is queued and stops.
func (s outcomes) close() { s.group.Close() }

// record stores o on its outcome subject, deduplicated by msgID when given (the inbox
// message's stream sequence: a redelivery's outcome is the same message), and returns once
// it is stored.
func (s outcomes) record(ctx context.Context, o Outcome, msgID string) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	m := &nats.Msg{Subject: subjectOutcome(o.Tenant, o.Integration, o.key), Data: b, Header: nats.Header{}}
	m.Header.Set("Content-Type", "application/json")
	if msgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	err, qerr := s.group.Do(ctx, m)
	return errors.Join(qerr, err)
}

// accepted returns the first accepted outcome kept under the message key, if any: what a
// repeat of the message is answered with. A rejected one binds nothing: the message may
// be sent again, fixed, under the same id.
func (s outcomes) accepted(ctx context.Context, tenant, integration, key string) (*Outcome, error) {
	subject := subjectOutcome(tenant, integration, key)
	for seq := uint64(1); ; {
		m, err := s.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("inbox: look up outcome %s: %w", subject, err)
		}
		o, err := decodeOutcome(m, key)
		if err != nil || o.Status == StatusAccepted {
			return o, err
		}
		seq = m.Sequence + 1
	}
}

// lookup returns the first accepted outcome of a message, else its latest rejection; nil
// when it has none.
func (s outcomes) lookup(ctx context.Context, tenant, integration, source, id string) (*Outcome, error) {
	key := messageKey(tenant, integration, source, id)
	if o, err := s.accepted(ctx, tenant, integration, key); o != nil || err != nil {
		return o, err
	}
	m, err := s.stream.GetLastMsgForSubject(ctx, subjectOutcome(tenant, integration, key))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inbox: look up outcome: %w", err)
	}
	return decodeOutcome(m, key)
}

// decodeOutcome decodes a stored outcome, kept under key.
func decodeOutcome(m *jetstream.RawStreamMsg, key string) (*Outcome, error) {
	var o Outcome
	if err := json.Unmarshal(m.Data, &o); err != nil {
		return nil, fmt.Errorf("inbox: outcome %d (%s) undecodable: %w", m.Sequence, m.Subject, err)
	}
	o.key = key
	return &o, nil
}
