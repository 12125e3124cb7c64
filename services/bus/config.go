package bus

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Metadata keys a Subscriber adds to every message: the NATS subject it was stored
// under, its stream sequence and how often the consumer has delivered it (1 the first
// time). NB: never rename; handlers and dead letters rely on them.
const (
	MetadataSubject   = "ledgerdesk-subject"
	MetadataSequence  = "ledgerdesk-stream-seq"
	MetadataDelivered = "ledgerdesk-delivered"
)

// Route says where a watermill topic lives in JetStream.
type Route struct {
	// Stream is the name of the stream that stores the topic.
	Stream string
	// Subject is the subject messages of the topic are published to and consumed from
	// (a consumer filter, so it may hold wildcards for subscribe-only topics).
	Subject string
	// Create, when not nil, is the stream configuration SubscribeInitialize creates or
	// updates; nil means the stream is owned elsewhere and must already exist.
	Create *jetstream.StreamConfig
}

// Topics maps a watermill topic to its Route; an unknown topic is an error. It must be
// safe for concurrent use and must always return the same Route for a topic.
type Topics func(topic string) (Route, error)

// ErrUnknownTopic is returned (wrapped) by Topics implementations for a topic they do
// not map.
var ErrUnknownTopic = errors.New("bus: unknown topic")

func (r Route) validate(topic string) error {
	var errs []error
	if r.Stream == "" || !validName(r.Stream) {
		errs = append(errs, fmt.Errorf("bus: topic %q: invalid stream name %q", topic, r.Stream))
	}
	if r.Subject == "" {
		errs = append(errs, fmt.Errorf("bus: topic %q: empty subject", topic))
	}
	if r.Create != nil && r.Create.Name != r.Stream {
		errs = append(errs, fmt.Errorf("bus: topic %q: stream config names %q, route names %q", topic, r.Create.Name, r.Stream))
	}
	return errors.Join(errs...)
}

// validName reports whether s may name a stream or consumer: no subject tokens,
// whitespace or path separators.
func validName(s string) bool { return !strings.ContainsAny(s, ".*> \t\r\n/\\") }

// resolve maps topic through topics and validates the Route.
func resolve(topics Topics, topic string) (Route, error) {
	r, err := topics(topic)
	if err != nil {
		return Route{}, fmt.Errorf("resolve topic %q: %w", topic, err)
	}
	return r, r.validate(topic)
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Conn is the NATS connection (required). The Publisher does not close it.
	Conn *nats.Conn
	// Topics maps topics to subjects (required).
	Topics Topics
	// PublishTimeout bounds the wait for each PubAck (default 10s).
	PublishTimeout time.Duration
}

func (c *PublisherConfig) setDefaults() {
	if c.PublishTimeout == 0 {
		c.PublishTimeout = 10 * time.Second
	}
}

// Validate reports every problem with the configuration.
func (c PublisherConfig) Validate() error {
	var errs []error
	if c.Conn == nil {
		errs = append(errs, errors.New("bus: publisher: Conn is required"))
	}
	if c.Topics == nil {
		errs = append(errs, errors.New("bus: publisher: Topics is required"))
	}
	if c.PublishTimeout < 0 {
		errs = append(errs, errors.New("bus: publisher: PublishTimeout is negative"))
	}
	return errors.Join(errs...)
}

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	// Conn is the NATS connection (required). The Subscriber does not close it.
	Conn *nats.Conn
	// Topics maps topics to streams and subjects (required).
	Topics Topics
	// ConsumerGroup names the durable consumer shared by every replica of a service
	// (it must never be renamed, see the package doc); empty means an ephemeral
	// consumer per Subscribe call. It must be a valid consumer name.
	ConsumerGroup string
	// AckWait is how long JetStream waits for an ack before it redelivers, and how
	// long a subscription waits for the handler (default 30s).
	AckWait time.Duration
	// NakDelay is how long JetStream waits before it redelivers a nacked message
	// (default 1s). It keeps a failing message from spinning; retries with backoff
	// belong to the Router's retry middleware.
	NakDelay time.Duration
	// CloseTimeout bounds how long Close waits for subscriptions to end (default 30s).
	CloseTimeout time.Duration
	// Logger receives errors that cannot be returned, e.g. a failed ack (default: none).
	Logger watermill.LoggerAdapter
}

func (c *SubscriberConfig) setDefaults() {
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.NakDelay == 0 {
		c.NakDelay = time.Second
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
}

// Validate reports every problem with the configuration.
func (c SubscriberConfig) Validate() error {
	var errs []error
	if c.Conn == nil {
		errs = append(errs, errors.New("bus: subscriber: Conn is required"))
	}
	if c.Topics == nil {
		errs = append(errs, errors.New("bus: subscriber: Topics is required"))
	}
	if !validName(c.ConsumerGroup) {
		errs = append(errs, fmt.Errorf("bus: subscriber: invalid ConsumerGroup %q", c.ConsumerGroup))
	}
	if c.AckWait < 0 || c.NakDelay < 0 || c.CloseTimeout < 0 {
		errs = append(errs, errors.New("bus: subscriber: AckWait, NakDelay and CloseTimeout must not be negative"))
	}
	return errors.Join(errs...)
}
