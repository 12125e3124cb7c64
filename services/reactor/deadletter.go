package reactor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/bus"
	"github.com/ledgerdesk/ledgerdesk/services/metrics"
)

// DeadLetters stores what one service gave up on in the DEADLETTER stream, under
// deadletter.<service>: the original message's headers and payload, the reason
// (MetadataReason) and the handler (MetadataHandler). It is the poison queue of the
// service's Router and the one place where a reader sets aside an event it refuses. Safe
// for concurrent use.
type DeadLetters struct {
	service string
	js      jetstream.JetStream
	metrics *metrics.Metrics
	closed  atomic.Bool
}

var _ message.Publisher = (*DeadLetters)(nil)

// NewDeadLetters publishes the dead letters of service through js, counting them in m
// (nil: nowhere); the DEADLETTER stream must exist.
func NewDeadLetters(js jetstream.JetStream, service string, m *metrics.Metrics) *DeadLetters {
	return &DeadLetters{service: service, js: js, metrics: m}
}

// Publish stores watermill messages the poison queue hands over (the topic is ignored:
// every dead letter of the service goes under its subject).
func (d *DeadLetters) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		h := nats.Header{}
		for k, v := range m.Metadata {
			h.Set(k, v)
		}
		origin := m.Metadata.Get(bus.MetadataSequence)
		if origin == "" {
			origin = m.UUID
		}
		if err := d.store(context.Background(), origin, m.Metadata.Get(MetadataHandler), h, m.Payload); err != nil {
			return err
		}
	}
	return nil
}

// Refuse stores a message of the log that handler refused to act on, with why.
func (d *DeadLetters) Refuse(ctx context.Context, handler string, refused events.Refused) error {
	orig := refused.Message()
	return d.keep(ctx, handler, orig.Subject, refused.Seq(), orig.Header, orig.Data, refused)
}

// store publishes one dead letter. Its message id is derived from its origin (the
// original's stream sequence, which its handler's stream makes unique), the service and
// the handler: a redelivered refusal is stored once, and two services (or two handlers)
// refusing the same message each keep their own dead letter.
func (d *DeadLetters) store(ctx context.Context, origin, handler string, h nats.Header, data []byte) error {
	if d.closed.Load() {
		return bus.ErrClosed
	}
	m := nats.NewMsg(deadLetterSubject + "." + d.service)
	m.Header, m.Data = h, data
	m.Header.Set(jetstream.MsgIDHeader, DerivedID(origin, "deadletter", d.service, handler))
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ack, err := d.js.PublishMsg(ctx, m)
	if err != nil {
		return fmt.Errorf("%s: dead-letter message %s: %w", d.service, origin, err)
	}
	if !ack.Duplicate { // a refusal redelivered is one dead letter
		d.metrics.DeadLetter(d.service, handler)
	}
	return nil
}

// Close makes later calls fail with bus.ErrClosed; it does not close the connection.
func (d *DeadLetters) Close() error {
	d.closed.Store(true)
	return nil
}

// GiveUp stores a message of the log that handler failed on MaxRetries times, with the
// error.
func (d *DeadLetters) GiveUp(ctx context.Context, handler string, m jetstream.Msg, reason error) error {
	meta, err := m.Metadata()
	if err != nil {
		return err
	}
	return d.keep(ctx, handler, m.Subject(), meta.Sequence.Stream, m.Headers(), m.Data(), reason)
}

// keep stores a message of the log at seq with the reason and the handler; its headers
// and payload are kept as they are, but for the server's own.
func (d *DeadLetters) keep(ctx context.Context, handler, subject string, seq uint64, header nats.Header, data []byte, reason error) error {
	h := nats.Header{}
	for k, v := range header {
		if !strings.HasPrefix(k, "Nats-") {
			h[k] = v
		}
	}
	origin := strconv.FormatUint(seq, 10)
	h.Set(MetadataReason, reason.Error())
	h.Set(MetadataHandler, handler)
	h.Set(bus.MetadataSubject, subject)
	h.Set(bus.MetadataSequence, origin)
	return d.store(ctx, origin, handler, h, data)
}
