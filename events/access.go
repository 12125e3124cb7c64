package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// API access is granted and revoked by events in a stream of their own, part of the audit
// trail: who granted what to whom, when, and who revoked it. One subject per principal.
// NB: wire names; never rename.
const (
	AccessStreamName    = "ACCESS"
	AccessSubjectPrefix = "access"
	TypeAccessGranted   = "ledgerdesk.access.granted.v1"
	TypeAccessRevoked   = "ledgerdesk.access.revoked.v1"
	accessSource        = "/ledgerdesk/access"
)

// AccessGrant is the data of an access.granted event: a principal and the hash of its
// token. The token itself is never stored. NB: persisted format.
type AccessGrant struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Role      string   `json:"role"`
	Tenants   []string `json:"tenants"`    // tenant tokens, or exactly ["*"] for all
	TokenHash string   `json:"token_hash"` // hex SHA-256 of the token
}

// AccessRevoked is the data of an access.revoked event. NB: persisted format.
type AccessRevoked struct {
	ID string `json:"id"`
}

// AccessEvent is one stored grant or revocation.
type AccessEvent struct {
	Type     string    // TypeAccessGranted or TypeAccessRevoked
	Sequence uint64    // ACCESS stream sequence
	Time     time.Time // when it was granted or revoked
	Actor    string    // who granted or revoked
	Grant    AccessGrant
	Revoked  AccessRevoked
}

// AccessStreamConfig is the ACCESS stream configuration: file storage, nothing ever
// deleted, purged or aged out.
func AccessStreamConfig(cfg StoreConfig) jetstream.StreamConfig {
	cfg.setDefaults()
	return jetstream.StreamConfig{
		Name:        AccessStreamName,
		Description: "ledgerdesk API access: every token grant and revocation, immutable",
		Subjects:    []string{AccessSubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    cfg.Replicas,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		MaxAge:      0,
	}
}

func accessSubject(id string) string { return AccessSubjectPrefix + "." + id }

// GrantAccess stores a grant as the first event of its principal's subject; a grant
// whose id exists already is refused with ErrConflict. It returns the stream sequence.
func (s *Store) GrantAccess(ctx context.Context, g AccessGrant, actor string) (uint64, error) {
	if !ValidToken(g.ID) {
		return 0, &ValidationError{Field: "id", Reason: "must be 1-64 letters, digits, '-' or '_'"}
	}
	return s.publishAccess(ctx, TypeAccessGranted, g.ID, g, actor, 0)
}

// RevokeAccess stores the revocation of principal id, whose grant is at stream sequence
// grantSeq; it is refused with ErrConflict when anything followed the grant (the
// principal is revoked already).
func (s *Store) RevokeAccess(ctx context.Context, id string, grantSeq uint64, actor string) (uint64, error) {
	return s.publishAccess(ctx, TypeAccessRevoked, id, AccessRevoked{ID: id}, actor, grantSeq)
}

func (s *Store) publishAccess(ctx context.Context, typ, id string, data any, actor string, expect uint64) (uint64, error) {
	body, err := json.Marshal(data)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", typ, err)
	}
	m := nats.NewMsg(accessSubject(id))
	SetEnvelope(m.Header, Event{ID: uuid.Must(uuid.NewV7()).String(), Type: typ, Source: accessSource,
		TicketID: id, Time: time.Now().UTC(), Actor: actor})
	m.Header.Del(HeaderTenant) // a principal spans tenants; they are in the data
	m.Data = body
	ack, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(expect))
	if err != nil {
		if IsWrongLastSequence(err) {
			return 0, fmt.Errorf("%w: access of %s changed concurrently", ErrConflict, id)
		}
		return 0, fmt.Errorf("store %s of %s: %w", typ, id, err)
	}
	return ack.Sequence, nil
}

// AccessLastSequence returns the sequence of the last grant or revocation (0 when none).
func (s *Store) AccessLastSequence(ctx context.Context) (uint64, error) {
	stream, err := s.js.Stream(ctx, AccessStreamName)
	if err != nil {
		return 0, fmt.Errorf("access stream: %w", err)
	}
	return lastSequence(ctx, stream)
}

// SubscribeAccess delivers every grant and revocation in order, like Subscribe. A message
// that is neither is delivered as an AccessEvent without Type, which grants and revokes
// nothing: it must not stop the revocations after it from taking effect.
func (s *Store) SubscribeAccess(ctx context.Context, handle func(AccessEvent) error) (*Subscription, error) {
	stream, err := s.js.Stream(ctx, AccessStreamName)
	if err != nil {
		return nil, fmt.Errorf("access stream: %w", err)
	}
	return subscribe(ctx, stream, 1, func(m jetstream.Msg, seq uint64) error {
		ev, err := accessFromMsg(m.Headers(), m.Data(), seq)
		if err != nil {
			ev = AccessEvent{Sequence: seq}
		}
		return handle(ev)
	})
}

func accessFromMsg(h nats.Header, data []byte, seq uint64) (AccessEvent, error) {
	ev := AccessEvent{Type: h.Get(HeaderType), Sequence: seq, Actor: h.Get(HeaderActor)}
	t, err := time.Parse(timeFormat, h.Get(HeaderTime))
	if err != nil {
		return ev, fmt.Errorf("decode access event seq %d: ce-time: %w", seq, err)
	}
	ev.Time = t
	switch ev.Type {
	case TypeAccessGranted:
		err = json.Unmarshal(data, &ev.Grant)
	case TypeAccessRevoked:
		err = json.Unmarshal(data, &ev.Revoked)
	default:
		err = fmt.Errorf("%w %q", ErrUnknownEventType, ev.Type)
	}
	if err != nil {
		return ev, fmt.Errorf("decode access event seq %d: %w", seq, err)
	}
	return ev, nil
}
