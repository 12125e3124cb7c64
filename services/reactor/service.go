package reactor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/bus"
	"github.com/ledgerdesk/ledgerdesk/services/metrics"
)

// DeadLetterStream keeps the messages a handler gave up on, under
// deadletter.<service>, with the error and the original headers. NB: never rename.
const (
	DeadLetterStream  = "DEADLETTER"
	deadLetterTopic   = "deadletter"
	deadLetterSubject = "deadletter"
)

// Metadata keys the poison queue sets on a dead letter (watermill's own names).
const (
	MetadataReason  = middleware.ReasonForPoisonedKey
	MetadataHandler = middleware.PoisonedHandlerKey
)

// Config configures a reacting service.
type Config struct {
	// Name is the service's name: event source "/ledgerdesk/<name>", actor
	// "service:<name>", dead letters under deadletter.<name>. NB: never rename a service:
	// its handlers' durable consumers carry the name and would start over from sequence 1.
	Name string
	// Conn is the NATS connection (required; not closed by the service).
	Conn *nats.Conn
	// Store is the ticket event store (required).
	Store *events.Store
	// Logger (required).
	Logger *zap.Logger
	// MaxRetries is how often a failing message is retried, with exponential backoff,
	// before it goes to the dead-letter stream (default 5); a failure because the log is
	// unavailable (events.Unavailable) is retried for as long as it lasts.
	MaxRetries int
	// RetryInterval is the first retry's delay; each next one doubles it (default 100ms).
	RetryInterval time.Duration
	// AckWait is how long JetStream waits for a handler before it redelivers (default
	// 30s); a killed replica's unacked messages come back after it.
	AckWait time.Duration
	// BatchSize is how many messages of a partition a ticket handler takes at once
	// (default 256): their tickets' decisions are appended together.
	BatchSize int
	// MaxAckPending bounds a partition consumer's unacked messages (default 4 ×
	// BatchSize), Later work included.
	MaxAckPending int
	// CachedTickets bounds the ticket histories each ticket handler keeps in memory
	// across the partitions it holds (default 20,000); closed and cancelled tickets are
	// dropped, and a missing one costs one read of its history.
	CachedTickets int
	// Committer appends the decisions (default: one of the service's own, closed by Run;
	// share one per process so that every service's appends share atomic batches).
	Committer *events.Committer
	// SoleCommitter tells that every writer of the log appends through Committer
	// (ledgerdesk run: the intake, the inbox and every reacting service share one). A
	// ticket it remembers then needs no read of its head before an append (see
	// partition.catchUp); an append from elsewhere costs a refused batch and a decision
	// on the ticket's history, never a wrong decision.
	SoleCommitter bool
	// Configs is the tenants' configuration cache the handlers decide with (default: one
	// of the service's own, following the CONFIG stream).
	Configs *Configs
	// Metrics records the handlers' consumers and dead letters (nil: none).
	Metrics *metrics.Metrics
}

func (c *Config) setDefaults() {
	if c.MaxRetries == 0 {
		c.MaxRetries = 5
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = 100 * time.Millisecond
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.BatchSize == 0 {
		c.BatchSize = 256
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = 4 * c.BatchSize
	}
	if c.CachedTickets == 0 {
		c.CachedTickets = 20_000
	}
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if !events.ValidToken(c.Name) {
		errs = append(errs, fmt.Errorf("reactor: invalid service name %q", c.Name))
	}
	if c.Conn == nil {
		errs = append(errs, errors.New("reactor: Conn is required"))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("reactor: Store is required"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("reactor: Logger is required"))
	}
	if c.MaxRetries < 0 || c.RetryInterval < 0 || c.AckWait < 0 || c.BatchSize < 0 || c.MaxAckPending < 0 || c.CachedTickets < 0 {
		errs = append(errs, errors.New("reactor: MaxRetries, RetryInterval, AckWait, BatchSize, MaxAckPending and CachedTickets must not be negative"))
	}
	if c.BatchSize > events.MaxBatch {
		errs = append(errs, fmt.Errorf("reactor: BatchSize %d is more than an atomic batch holds (%d)", c.BatchSize, events.MaxBatch))
	}
	return errors.Join(errs...)
}

// Service is one reacting service: ticket handlers (React) on partitioned, batched
// consumers shared with its other replicas, and message-at-a-time handlers (Handle) on
// durable consumers inside a watermill Router. Add handlers, then Run.
type Service struct {
	name, source, actor string
	cfg                 Config
	store               *events.Store
	log                 *zap.Logger
	router              *message.Router
	dlq                 *DeadLetters
	committer           *events.Committer
	ownCommitter        bool
	configs             *Configs

	mu       sync.Mutex
	subs     []*bus.Subscriber
	onStop   []func()
	detached map[string]error // the partition consumers not consuming now, with why
	handlers []*ticketHandler
	leads    atomic.Bool   // this replica owns partition 0 (Leads)
	quit     chan struct{} // closed by Close
	closing  sync.Once
	running  chan struct{} // closed once every handler consumes
}

// New creates the service and its router with middleware. The DEADLETTER stream must
// exist (app.ProvisionStreams makes it with admin rights; a service role may not).
func New(ctx context.Context, cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, err
	}
	if _, err := js.Stream(ctx, DeadLetterStream); err != nil {
		return nil, fmt.Errorf("open stream %s (provisioned with admin credentials): %w", DeadLetterStream, err)
	}
	wlog := zapAdapter{cfg.Logger.Named(cfg.Name)}
	dlq := NewDeadLetters(js, cfg.Name, cfg.Metrics)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, wlog)
	if err != nil {
		return nil, err
	}
	// The log's being unavailable is retried for as long as it lasts, never poisoned.
	poison, err := middleware.PoisonQueueWithFilter(dlq, deadLetterTopic, func(err error) bool { return !events.Unavailable(err) })
	if err != nil {
		return nil, err
	}
	// Outermost first: each message is recorded once, whatever its retries; a message
	// that still fails after the retries is poisoned; panics become errors the retry sees.
	router.AddMiddleware(
		observe(cfg.Metrics),
		correlationID,
		poison,
		middleware.Retry{MaxRetries: cfg.MaxRetries, InitialInterval: cfg.RetryInterval, Multiplier: 2,
			MaxInterval: 5 * time.Second, Logger: wlog}.Middleware,
		middleware.Recoverer,
	)
	s := &Service{name: cfg.Name, source: "/ledgerdesk/" + cfg.Name, actor: "service:" + cfg.Name,
		cfg: cfg, store: cfg.Store, log: cfg.Logger.Named(cfg.Name), router: router, dlq: dlq,
		committer: cfg.Committer, configs: cfg.Configs, detached: map[string]error{},
		quit: make(chan struct{}), running: make(chan struct{})}
	if s.committer == nil {
		s.committer, s.ownCommitter = events.NewCommitter(cfg.Store, 2, cfg.Metrics.ObserveCommit), true
	}
	if s.configs == nil {
		if s.configs, err = FollowConfigs(ctx, cfg.Store, s.log); err != nil {
			s.closeOwn()
			return nil, err
		}
	}
	return s, nil
}

// closeOwn closes what the service made for itself.
func (s *Service) closeOwn() {
	if s.ownCommitter {
		s.committer.Close()
	}
	if s.cfg.Configs == nil && s.configs != nil {
		s.configs.Close()
	}
}

// DeadLetterStreamConfig is the DEADLETTER stream: file storage, kept 30 days.
func DeadLetterStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        DeadLetterStream,
		Description: "ledgerdesk messages a service gave up on, with the error and their original headers",
		Subjects:    []string{deadLetterSubject + ".>"},
		Storage:     jetstream.FileStorage,
		MaxAge:      30 * 24 * time.Hour,
		Duplicates:  time.Hour,
	}
}

// Name is the service's name.
func (s *Service) Name() string { return s.name }

// Source is the ce-source of the events the service appends.
func (s *Service) Source() string { return s.source }

// Store is the ticket event store.
func (s *Service) Store() *events.Store { return s.store }

// Logger is the service's logger.
func (s *Service) Logger() *zap.Logger { return s.log }

// Configs is the tenants' configuration the service decides with.
func (s *Service) Configs() *Configs { return s.configs }

// Handler handles one message; an error retries it, then dead-letters it.
type Handler func(ctx context.Context, msg *message.Message) error

// Handle adds a handler that consumes route through the durable consumer
// "<service>-<handler>", shared by every replica of the service. NB: handler names are
// persisted in consumer names; never rename one.
func (s *Service) Handle(handler string, route bus.Route, h Handler) error {
	consumer := s.name + "-" + handler
	sub, err := bus.NewSubscriber(bus.SubscriberConfig{Conn: s.cfg.Conn, Topics: fixedTopic(route.Subject, route),
		ConsumerGroup: consumer, AckWait: s.cfg.AckWait, Logger: zapAdapter{s.log}})
	if err != nil {
		return err
	}
	if err := sub.SubscribeInitialize(route.Subject); err != nil {
		return err
	}
	js := s.store.JetStream()
	unwatch := s.cfg.Metrics.WatchConsumer(consumer, func(ctx context.Context) (*jetstream.ConsumerInfo, error) {
		c, err := js.Consumer(ctx, route.Stream, consumer)
		if err != nil {
			return nil, err
		}
		return c.CachedInfo(), nil
	})
	s.cfg.Metrics.DeadLetterHandler(s.name, consumer)
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.onStop = append(s.onStop, unwatch)
	s.mu.Unlock()
	s.router.AddConsumerHandler(consumer, route.Subject, sub, func(msg *message.Message) error {
		return h(msg.Context(), msg)
	})
	return nil
}

// React adds a ticket handler: every replica of the service consumes its share of the
// ticket log's partitions through the durable consumers "<service>-<handler>-<pp>", in
// batches; decide gets each ticket of a batch with its trusted history (see Decider and
// the package doc). An event that is not a ledgerdesk event or does not link to its
// ticket's chain is logged at error level and stored in DEADLETTER with the reason at
// once, without retries, and decide never sees it. NB: handler names are persisted in
// consumer names; never rename one.
func (s *Service) React(handler string, decide Decider) error {
	if !events.ValidToken(handler) || decide == nil {
		return fmt.Errorf("reactor: React: invalid handler %q or nil Decider", handler)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers = append(s.handlers, &ticketHandler{svc: s, name: handler, base: s.name + "-" + handler, decide: decide})
	s.cfg.Metrics.DeadLetterHandler(s.name, s.name+"-"+handler)
	return nil
}

// OnStop registers f to run when Run returns, after the handlers have stopped.
func (s *Service) OnStop(f func()) {
	s.mu.Lock()
	s.onStop = append(s.onStop, f)
	s.mu.Unlock()
}

// Run runs the handlers until ctx ends or Close; it returns once they have stopped.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	var routerErr, shareErr error
	shared := make(chan struct{})
	wg.Go(func() { routerErr = s.router.Run(ctx) })
	wg.Go(func() {
		quit := make(chan struct{})
		go func() {
			select {
			case <-s.quit:
			case <-ctx.Done():
			}
			close(quit)
		}()
		shareErr = s.sharePartitions(ctx, quit, shared)
		if shareErr != nil {
			_ = s.router.Close()
		}
	})
	stopped := make(chan struct{})
	go func() {
		<-shared
		select {
		case <-s.router.Running():
			close(s.running)
		case <-stopped:
		}
	}()
	wg.Wait()
	close(stopped)
	s.mu.Lock()
	subs, onStop := s.subs, s.onStop
	s.mu.Unlock()
	for _, f := range onStop {
		f()
	}
	err := errors.Join(routerErr, shareErr)
	for _, sub := range subs {
		err = errors.Join(err, sub.Close())
	}
	s.closeOwn()
	return errors.Join(err, s.dlq.Close())
}

// Leads reports whether this replica owns partition 0 by the leases it sees: one replica
// of the service at a time, but for moments while the replicas' leases disagree (one
// joining, leaving or killed). For work that one replica does for all (routing's
// snapshots); a service without ticket handlers never leads.
func (s *Service) Leads() bool { return s.leads.Load() }

// Running is closed when every handler is consuming.
func (s *Service) Running() chan struct{} { return s.running }

// Metrics is where the service records (nil: nowhere).
func (s *Service) Metrics() *metrics.Metrics { return s.cfg.Metrics }

// Detached names the partition consumers of this replica that are not consuming now (their
// consumer could not be created or consumed from; each is retried with a backoff), with
// why, sorted; none while every partition it holds consumes.
func (s *Service) Detached() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.detached))
	for name, err := range s.detached {
		out = append(out, name+": "+err.Error())
	}
	slices.Sort(out)
	return out
}

// setDetached records whether a partition consumer consumes (err nil) or not.
func (s *Service) setDetached(durable string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.detached, durable)
	} else {
		s.detached[durable] = err
	}
}

// Close stops the handlers, waiting for the ones in flight.
func (s *Service) Close() error {
	s.closing.Do(func() { close(s.quit) })
	return s.router.Close()
}

// correlationID carries the cause's ce-correlationid (or its id) as watermill's
// correlation id, so that logs and dead letters name the request a message belongs to.
func correlationID(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		id := msg.Metadata.Get(events.HeaderCorrelationID)
		if id == "" {
			id = msg.UUID
		}
		middleware.SetCorrelationID(id, msg)
		return h(msg)
	}
}

// observe records each message a Router handler took (metrics.Handled): once, however
// often the retry middleware inside it calls the handler.
func observe(m *metrics.Metrics) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			start := time.Now()
			out, err := h(msg)
			redelivered := 0
			if n, _ := strconv.ParseUint(msg.Metadata.Get(bus.MetadataDelivered), 10, 64); n > 1 {
				redelivered = 1
			}
			m.Handled(message.HandlerNameFromCtx(msg.Context()), 1, redelivered, time.Since(start))
			return out, err
		}
	}
}

// fixedTopic maps exactly one topic to a route.
func fixedTopic(topic string, r bus.Route) bus.Topics {
	return func(t string) (bus.Route, error) {
		if t != topic {
			return bus.Route{}, fmt.Errorf("%w: %q", bus.ErrUnknownTopic, t)
		}
		return r, nil
	}
}

// zapAdapter logs watermill's messages through zap. (watermill ships adapters for the
// standard library and slog only; the project logs with zap.)
type zapAdapter struct{ l *zap.Logger }

func (a zapAdapter) fields(f watermill.LogFields) []zap.Field {
	out := make([]zap.Field, 0, len(f))
	for k, v := range f {
		out = append(out, zap.Any(k, v))
	}
	return out
}

func (a zapAdapter) Error(msg string, err error, f watermill.LogFields) {
	a.l.Error(msg, append(a.fields(f), zap.Error(err))...)
}
func (a zapAdapter) Info(msg string, f watermill.LogFields)  { a.l.Info(msg, a.fields(f)...) }
func (a zapAdapter) Debug(msg string, f watermill.LogFields) { a.l.Debug(msg, a.fields(f)...) }
func (a zapAdapter) Trace(msg string, f watermill.LogFields) { a.l.Debug(msg, a.fields(f)...) }
func (a zapAdapter) With(f watermill.LogFields) watermill.LoggerAdapter {
	return zapAdapter{a.l.With(a.fields(f)...)}
}
