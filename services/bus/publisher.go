package bus

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// ErrClosed is returned by Publish and Subscribe after Close.
var ErrClosed = errors.New("bus: closed")

var _ message.Publisher = (*Publisher)(nil)

// Publisher publishes watermill messages to JetStream and waits for each PubAck. It is
// safe for concurrent use. It must not be used for appends to the ticket log: it
// drops the PubAck's sequence and cannot express optimistic concurrency or atomic
// batches (use package events for those).
type Publisher struct {
	cfg    PublisherConfig
	js     jetstream.JetStream
	closed atomic.Bool
}

// NewPublisher returns a Publisher on cfg.Conn.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("bus: new publisher: %w", err)
	}
	return &Publisher{cfg: cfg, js: js}, nil
}

// Publish stores msgs, in order, on topic's subject. It returns when every message is
// acknowledged by JetStream, or at the first failure (earlier messages stay stored).
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if p.closed.Load() {
		return ErrClosed
	}
	route, err := resolve(p.cfg.Topics, topic)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := p.publish(route.Subject, m); err != nil {
			return fmt.Errorf("bus: publish %s to %s: %w", m.UUID, route.Subject, err)
		}
	}
	return nil
}

func (p *Publisher) publish(subject string, m *message.Message) error {
	nm := nats.NewMsg(subject)
	nm.Data = m.Payload
	for k, v := range m.Metadata {
		nm.Header[k] = []string{v}
	}
	nm.Header[events.HeaderID] = []string{m.UUID}
	nm.Header[jetstream.MsgIDHeader] = []string{m.UUID}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.PublishTimeout)
	defer cancel()
	_, err := p.js.PublishMsg(ctx, nm)
	return err
}

// Close makes further Publish calls fail with ErrClosed. It does not close the
// connection and is safe to call more than once.
func (p *Publisher) Close() error {
	p.closed.Store(true)
	return nil
}
