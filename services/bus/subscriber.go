package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// ErrGroupTopicConflict is returned by Subscribe when the group's durable consumer on
// the topic's stream already consumes another subject.
var ErrGroupTopicConflict = errors.New("bus: consumer group already consumes another subject of this stream")

var (
	_ message.Subscriber           = (*Subscriber)(nil)
	_ message.SubscribeInitializer = (*Subscriber)(nil)
)

// Subscriber consumes topics through JetStream pull consumers with the delivery
// contract in the package doc. It is safe for concurrent use; each Subscribe call
// delivers its messages one at a time on its own channel.
type Subscriber struct {
	cfg SubscriberConfig
	js  jetstream.JetStream

	ctx    context.Context // canceled by Close; parent of every subscription
	cancel context.CancelFunc
	subs   sync.WaitGroup // running subscriptions
	mu     sync.Mutex     // guards closed and subs.Add against Close
	closed bool
}

// NewSubscriber returns a Subscriber on cfg.Conn.
func NewSubscriber(cfg SubscriberConfig) (*Subscriber, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("bus: new subscriber: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Subscriber{cfg: cfg, js: js, ctx: ctx, cancel: cancel}, nil
}

// SubscribeInitialize creates or updates topic's stream when its Route carries a
// stream configuration, and otherwise checks that the stream exists.
func (s *Subscriber) SubscribeInitialize(topic string) error {
	route, err := resolve(s.cfg.Topics, topic)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if route.Create != nil {
		_, err = s.js.CreateOrUpdateStream(ctx, *route.Create)
	} else {
		_, err = s.js.Stream(ctx, route.Stream)
	}
	if err != nil {
		return fmt.Errorf("bus: initialize stream %s for topic %q: %w", route.Stream, topic, err)
	}
	return nil
}

// Subscribe starts consuming topic and returns the channel of its messages. The
// channel is closed when ctx is done or the Subscriber is closed, after the message in
// flight (if any) is nacked. Every message must be acked or nacked.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	route, err := resolve(s.cfg.Topics, topic)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	cons, err := s.consumer(ctx, route)
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe to %q: %w", topic, err)
	}
	sub := &subscription{s: s, route: route, out: make(chan *message.Message)}
	sub.ctx, sub.cancel = mergeCancel(ctx, s.ctx)
	cc, err := cons.Consume(sub.handle)
	if err != nil {
		sub.cancel()
		return nil, fmt.Errorf("bus: subscribe to %q: %w", topic, err)
	}
	s.subs.Add(1)
	go sub.run(cc, cons.CachedInfo().Name)
	return sub.out, nil
}

// consumer creates or updates the durable consumer of the group, or an ephemeral one.
func (s *Subscriber) consumer(ctx context.Context, route Route) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       s.cfg.ConsumerGroup,
		FilterSubject: route.Subject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxAckPending: 1,
		MaxDeliver:    -1,
	}
	if cfg.Durable != "" {
		existing, err := s.js.Consumer(ctx, route.Stream, cfg.Durable)
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
		case err != nil:
			return nil, err
		case existing.CachedInfo().Config.FilterSubject != route.Subject:
			return nil, fmt.Errorf("%w: %s on %s filters %q", ErrGroupTopicConflict,
				cfg.Durable, route.Stream, existing.CachedInfo().Config.FilterSubject)
		}
	}
	return s.js.CreateOrUpdateConsumer(ctx, route.Stream, cfg)
}

// Close ends every subscription (their channels are closed, in-flight messages
// nacked) and waits for them up to CloseTimeout. Later calls return nil.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() { s.subs.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(s.cfg.CloseTimeout):
		return fmt.Errorf("bus: close: subscriptions still running after %s", s.cfg.CloseTimeout)
	}
}

// subscription is one Subscribe call: a consumer, its output channel and its handler.
type subscription struct {
	s      *Subscriber
	route  Route
	out    chan *message.Message
	ctx    context.Context // done when the subscription ends
	cancel context.CancelFunc

	mu       sync.Mutex     // guards ended and inflight.Add against run
	ended    bool           // no more messages go to out
	inflight sync.WaitGroup // handle calls that may still send on out
}

// run waits for the end of the subscription, drains the consumer (naking what it
// pulled), waits for the handler, closes out and deletes an ephemeral consumer.
func (sub *subscription) run(cc jetstream.ConsumeContext, consumer string) {
	defer sub.s.subs.Done()
	defer sub.cancel()
	<-sub.ctx.Done()
	sub.mu.Lock()
	sub.ended = true
	sub.mu.Unlock()
	// Drain, not Stop: a message the client has already pulled would otherwise stay
	// pending on the server until AckWait; drained, handle naks it for another replica.
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-time.After(sub.s.cfg.CloseTimeout):
	}
	sub.inflight.Wait()
	close(sub.out)
	if sub.s.cfg.ConsumerGroup == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sub.s.js.DeleteConsumer(ctx, sub.route.Stream, consumer); err != nil {
			sub.s.cfg.Logger.Debug("bus: delete ephemeral consumer", watermill.LogFields{"consumer": consumer, "err": err})
		}
	}
}

// handle passes one JetStream message to the subscriber's channel and settles it with
// JetStream once the handler acks or nacks it. JetStream calls it serially.
func (sub *subscription) handle(jm jetstream.Msg) {
	sub.mu.Lock()
	if sub.ended {
		sub.mu.Unlock()
		sub.settle(jm, "", nakNow)
		return
	}
	sub.inflight.Add(1)
	sub.mu.Unlock()
	defer sub.inflight.Done()

	m := toMessage(jm, sub.route.Stream)
	ctx, cancel := context.WithCancel(sub.ctx)
	defer cancel()
	m.SetContext(ctx)

	select {
	case sub.out <- m:
	case <-ctx.Done():
		sub.settle(jm, m.UUID, nakNow)
		return
	}
	timeout := time.NewTimer(sub.s.cfg.AckWait)
	defer timeout.Stop()
	select {
	case <-m.Acked():
		sub.settle(jm, m.UUID, ack)
	case <-m.Nacked():
		sub.settle(jm, m.UUID, nakDelayed)
	case <-ctx.Done():
		select {
		case <-m.Acked(): // acked as the subscription ended: keep the ack
			sub.settle(jm, m.UUID, ack)
		default:
			sub.settle(jm, m.UUID, nakNow)
		}
	case <-timeout.C:
		// JetStream redelivers it after AckWait; stop waiting so the consumer moves on.
		sub.s.cfg.Logger.Error("bus: message not acked within AckWait", errors.New("ack timeout"),
			watermill.LogFields{"uuid": m.UUID, "subject": jm.Subject()})
	}
}

type settlement int

const (
	ack settlement = iota
	nakDelayed
	nakNow
)

// settle acks or naks jm and logs a failure (the message is then redelivered after AckWait).
func (sub *subscription) settle(jm jetstream.Msg, uuid string, how settlement) {
	var err error
	switch how {
	case ack:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = jm.DoubleAck(ctx)
		cancel()
	case nakDelayed:
		err = jm.NakWithDelay(sub.s.cfg.NakDelay)
	case nakNow:
		err = jm.Nak()
	}
	if err != nil {
		sub.s.cfg.Logger.Error("bus: settle message", err, watermill.LogFields{"uuid": uuid, "subject": jm.Subject()})
	}
}

// toMessage turns a JetStream message into a watermill message (see the package doc).
func toMessage(jm jetstream.Msg, stream string) *message.Message {
	h := jm.Headers()
	md := make(message.Metadata, len(h))
	for k, v := range h {
		if len(v) > 0 && !strings.HasPrefix(k, "Nats-") {
			md[k] = v[0]
		}
	}
	id := h.Get(events.HeaderID)
	if id == "" {
		id = h.Get(jetstream.MsgIDHeader)
	}
	if id == "" {
		if meta, err := jm.Metadata(); err == nil {
			id = fmt.Sprintf("%s-%d", stream, meta.Sequence.Stream)
		}
	}
	md[MetadataSubject] = jm.Subject()
	if meta, err := jm.Metadata(); err == nil {
		md[MetadataSequence] = strconv.FormatUint(meta.Sequence.Stream, 10)
		md[MetadataDelivered] = strconv.FormatUint(meta.NumDelivered, 10)
	}
	m := message.NewMessage(id, jm.Data())
	m.Metadata = md
	return m
}

// mergeCancel returns a context that is done when a or b is done; it carries a's values.
func mergeCancel(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	return ctx, func() { stop(); cancel() }
}
