package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Tenant configuration (calendars, SLA policies, groups, routing and escalation rules) is
// versioned data in its own stream: one subject per tenant, every applied document kept.
// NB: wire names; never rename.
const (
	ConfigStreamName    = "CONFIG"
	ConfigSubjectPrefix = "config"
	TypeConfigApplied   = "ledgerdesk.config.applied.v1"
	headerConfigVersion = "ce-configversion"
)

// ConfigVersion is one applied version of a tenant's configuration document.
type ConfigVersion struct {
	Tenant    string          `json:"tenant"`
	Version   uint64          `json:"version"`  // 1 for the first document a tenant applied, then +1
	Sequence  uint64          `json:"sequence"` // CONFIG stream sequence
	AppliedAt time.Time       `json:"applied_at"`
	Actor     string          `json:"actor,omitempty"`
	Document  json.RawMessage `json:"document"`
}

// ConfigStreamConfig is the CONFIG stream configuration.
func ConfigStreamConfig(cfg StoreConfig) jetstream.StreamConfig {
	cfg.setDefaults()
	return jetstream.StreamConfig{
		Name:        ConfigStreamName,
		Description: "ledgerdesk tenant configuration: every applied version, immutable",
		Subjects:    []string{ConfigSubjectPrefix + ".*"},
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
	}
}

func configSubject(tenant string) string { return ConfigSubjectPrefix + "." + tenant }

// CurrentConfig returns the tenant's latest configuration, or ErrNoConfig (an ErrNotFound).
func (s *Store) CurrentConfig(ctx context.Context, tenant string) (ConfigVersion, error) {
	if !ValidToken(tenant) {
		return ConfigVersion{}, ErrNoConfig
	}
	m, err := s.config.GetLastMsgForSubject(ctx, configSubject(tenant))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return ConfigVersion{}, ErrNoConfig
	}
	if err != nil {
		return ConfigVersion{}, fmt.Errorf("load config of %s: %w", tenant, err)
	}
	return configFromMsg(tenant, m.Header, m.Data, m.Sequence, m.Time)
}

func configFromMsg(tenant string, h nats.Header, data []byte, seq uint64, stored time.Time) (ConfigVersion, error) {
	v, err := strconv.ParseUint(h.Get(headerConfigVersion), 10, 64)
	if err != nil {
		return ConfigVersion{}, fmt.Errorf("config of %s at seq %d: bad %s: %w", tenant, seq, headerConfigVersion, err)
	}
	at, err := time.Parse(timeFormat, h.Get(HeaderTime))
	if err != nil {
		at = stored
	}
	return ConfigVersion{Tenant: tenant, Version: v, Sequence: seq, AppliedAt: at, Actor: h.Get(HeaderActor), Document: data}, nil
}

// ApplyConfig stores doc (a validated document, as JSON) as the tenant's next version.
// Concurrent applies for one tenant are serialised by the expected last subject
// sequence: a lost race returns ErrConflict and stores nothing.
func (s *Store) ApplyConfig(ctx context.Context, tenant string, doc json.RawMessage, actor string) (ConfigVersion, error) {
	if !ValidToken(tenant) {
		return ConfigVersion{}, &ValidationError{Field: "tenant", Reason: "must be 1-64 letters, digits, '-' or '_'"}
	}
	prev, err := s.CurrentConfig(ctx, tenant)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return ConfigVersion{}, err
	}
	next := ConfigVersion{Tenant: tenant, Version: prev.Version + 1, AppliedAt: time.Now().UTC(), Actor: actor, Document: doc}
	m := nats.NewMsg(configSubject(tenant))
	SetEnvelope(m.Header, Event{ID: uuid.Must(uuid.NewV7()).String(), Type: TypeConfigApplied, Source: "/ledgerdesk/config",
		Tenant: tenant, TicketID: tenant, Time: next.AppliedAt, Actor: actor})
	m.Header.Set(headerConfigVersion, strconv.FormatUint(next.Version, 10))
	m.Data = doc
	ack, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(prev.Sequence))
	if err != nil {
		if IsWrongLastSequence(err) {
			return ConfigVersion{}, fmt.Errorf("%w: configuration of %s changed concurrently", ErrConflict, tenant)
		}
		return ConfigVersion{}, fmt.Errorf("apply config of %s: %w", tenant, err)
	}
	next.Sequence = ack.Sequence
	return next, nil
}

// ConfigAt returns version v of the tenant's configuration, or ErrNoConfig (an ErrNotFound). Versions are
// numbered 1, 2, … in the order of the tenant's subject, so version v is its v-th message.
func (s *Store) ConfigAt(ctx context.Context, tenant string, v uint64) (ConfigVersion, error) {
	if !ValidToken(tenant) || v == 0 {
		return ConfigVersion{}, ErrNoConfig
	}
	seq := uint64(1)
	for n := uint64(1); ; n++ {
		m, err := s.config.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(configSubject(tenant)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return ConfigVersion{}, ErrNoConfig
		}
		if err != nil {
			return ConfigVersion{}, fmt.Errorf("load config %d of %s: %w", v, tenant, err)
		}
		if n == v {
			return configFromMsg(tenant, m.Header, m.Data, m.Sequence, m.Time)
		}
		seq = m.Sequence + 1
	}
}

// IsWrongLastSequence reports whether a publish failed its expected last subject sequence:
// someone else appended to the subject first.
func IsWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == codeWrongLastSequence || apiErr.ErrorCode == codeWrongLastSequenceConst)
}

// FollowConfigs delivers every applied configuration version, in stream order, to handle
// through an ordered consumer of the CONFIG stream, until ctx ends or Stop; a message
// that is not a configuration version is skipped. It returns when the subscription is
// set up.
func (s *Store) FollowConfigs(ctx context.Context, handle func(ConfigVersion)) (*Subscription, error) {
	return subscribe(ctx, s.config, 1, func(m jetstream.Msg, seq uint64) error {
		var stored time.Time
		if meta, err := m.Metadata(); err == nil {
			stored = meta.Timestamp
		}
		tenant := strings.TrimPrefix(m.Subject(), ConfigSubjectPrefix+".")
		if v, err := configFromMsg(tenant, m.Headers(), m.Data(), seq, stored); err == nil {
			handle(v)
		}
		return nil
	})
}

// ConfigAfter is the sequence of the CONFIG stream's first message after seq, 0 when it
// holds none (one request): a follower that has seen seq has seen every version applied
// so far when it is 0. One direct get (the stream allows them), which the server answers
// beside the JetStream API (a STREAM.INFO waits in that queue with every other API
// request), on the connection's shared reply subscription.
func (s *Store) ConfigAfter(ctx context.Context, seq uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	m, err := s.config.GetMsg(ctx, seq+1, jetstream.WithGetMsgSubject(ConfigSubjectPrefix+".>"))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("config stream after seq %d: %w", seq, err)
	}
	return m.Sequence, nil
}
