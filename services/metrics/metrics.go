package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// Namespace prefixes every family of ledgerdesk's own. NB: dashboards and alert rules
// name the families: never rename one.
const Namespace = "ledgerdesk"

// ScrapeTimeout bounds each read from the server a scrape makes (a consumer's info, a
// stream's state).
const ScrapeTimeout = 2 * time.Second

// Outcomes of a webhook delivery (WebhookDelivery).
const (
	WebhookDelivered = "delivered"
	WebhookFailed    = "failed"
)

// Metrics is one process's families and the registry that serves them. Create it with
// New; it is safe for concurrent use, and every method is a no-op on nil.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests  *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec
	commitEvents  prometheus.Histogram
	commitSeconds prometheus.Histogram
	commitAppends *prometheus.CounterVec
	handled       *prometheus.CounterVec
	handleSeconds *prometheus.HistogramVec
	redelivered   *prometheus.CounterVec
	deadLetters   *prometheus.CounterVec
	webhooks      *prometheus.CounterVec
	consumers     *consumers
}

// New returns the families, registered with a registry of their own beside the Go
// runtime's and the process's collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by method, route pattern (unmatched: no route) and status code."},
			[]string{"method", "route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "http_request_duration_seconds",
			Help: "Time from an HTTP request's arrival to its answer, by method and route pattern.", Buckets: prometheus.DefBuckets},
			[]string{"method", "route"}),
		commitEvents: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "commit_group_events",
			Help:    "Events per group commit: the appends gathered into atomic batches that share one fsync.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "commit_group_duration_seconds",
			Help: "Time a group commit takes, from taking its appends to answering them (the fsyncs included).",
			// 1 ms to 4 s: an atomic batch costs a fixed ~7 ms on an idle disk.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 13)}),
		commitAppends: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "commit_appends_total",
			Help: "Appends the group committer answered, by outcome: stored, duplicate (appended before: nothing stored), conflict (the ticket moved on), failed."},
			[]string{"outcome"}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "consumer_handled_messages_total",
			Help: "Messages a durable consumer's handler took (acknowledged, redelivered or dead-lettered), by consumer."},
			[]string{"consumer"}),
		handleSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "consumer_handle_duration_seconds",
			Help:    "Time a consumer's handler takes for one delivery: a batch for the ticket handlers and the inbox, one message for the others.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}, // 1 ms to 16 s
			[]string{"consumer"}),
		redelivered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "consumer_redeliveries_total",
			Help: "Messages a durable consumer delivered more than once (a failed or unacknowledged earlier delivery), by consumer."},
			[]string{"consumer"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "dead_letters_total",
			Help: "Messages set aside in the DEADLETTER stream (refused by the hash chain, or failed after every retry), by service and handler."},
			[]string{"service", "handler"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "webhook_deliveries_total",
			Help: "Webhook notifications, by outcome: delivered, or failed after its retries (recorded as notification_failed)."},
			[]string{"outcome"}),
		consumers: newConsumers(),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.commitEvents, m.commitSeconds, m.commitAppends,
		m.handled, m.handleSeconds, m.redelivered, m.deadLetters, m.webhooks, m.consumers)
	for _, o := range []string{"stored", "duplicate", "conflict", "failed"} {
		m.commitAppends.WithLabelValues(o)
	}
	return m
}

// Registry is the registry the families are in: Handler serves it.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the registry in Prometheus's text format (or OpenMetrics, when asked).
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

// ObserveCommit is an events.CommitObserver: a group commit's size, latency and answers.
func (m *Metrics) ObserveCommit(st events.CommitStats) {
	if m == nil {
		return
	}
	m.commitEvents.Observe(float64(st.Events))
	m.commitSeconds.Observe(st.Duration.Seconds())
	for outcome, n := range map[string]int{"stored": st.Stored, "duplicate": st.Duplicates, "conflict": st.Conflicts, "failed": st.Failed} {
		if n > 0 {
			m.commitAppends.WithLabelValues(outcome).Add(float64(n))
		}
	}
}

// Handled records one delivery a consumer's handler took: msgs messages, redelivered of
// them delivered before, in took.
func (m *Metrics) Handled(consumer string, msgs, redelivered int, took time.Duration) {
	if m == nil {
		return
	}
	m.handled.WithLabelValues(consumer).Add(float64(msgs))
	m.handleSeconds.WithLabelValues(consumer).Observe(took.Seconds())
	if redelivered > 0 {
		m.redelivered.WithLabelValues(consumer).Add(float64(redelivered))
	}
}

// Consumer makes a consumer's series present (at zero) before its first message.
func (m *Metrics) Consumer(consumer string) {
	if m == nil {
		return
	}
	m.handled.WithLabelValues(consumer)
	m.redelivered.WithLabelValues(consumer)
}

// DeadLetterHandler makes a handler's dead-letter count present (at zero) before its first.
func (m *Metrics) DeadLetterHandler(service, handler string) {
	if m == nil {
		return
	}
	m.deadLetters.WithLabelValues(service, handler)
}

// DeadLetter counts a message a service's handler set aside in DEADLETTER.
func (m *Metrics) DeadLetter(service, handler string) {
	if m == nil {
		return
	}
	m.deadLetters.WithLabelValues(service, handler).Inc()
}

// WebhookDelivery counts a webhook notification's outcome (WebhookDelivered or
// WebhookFailed).
func (m *Metrics) WebhookDelivery(outcome string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(outcome).Inc()
}

// WebhookOutcomes makes the webhook outcomes present (at zero) before the first delivery.
func (m *Metrics) WebhookOutcomes() {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(WebhookDelivered)
	m.webhooks.WithLabelValues(WebhookFailed)
}

// Gauge registers the gauge Namespace_name, read with read at every scrape (with a
// context bounded by ScrapeTimeout); a read that fails gives no sample. The returned
// func unregisters it. An error is a second gauge of the same name.
func (m *Metrics) Gauge(name, help string, read func(context.Context) (float64, error)) (unregister func(), err error) {
	if m == nil {
		return func() {}, nil
	}
	g := &gaugeFunc{desc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, nil, nil), read: read}
	if err := m.reg.Register(g); err != nil {
		return nil, err
	}
	return func() { m.reg.Unregister(g) }, nil
}

// gaugeFunc is a gauge read from elsewhere when scraped.
type gaugeFunc struct {
	desc *prometheus.Desc
	read func(context.Context) (float64, error)
}

func (g *gaugeFunc) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *gaugeFunc) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
	defer cancel()
	if v, err := g.read(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v)
	}
}

// Cached returns read with its last value kept for every: for a gauge whose read costs
// the server (the SLA timers count every schedule's subject), however often it is scraped.
func Cached(every time.Duration, read func(context.Context) (float64, error)) func(context.Context) (float64, error) {
	var mu sync.Mutex
	var at time.Time
	var last float64
	return func(ctx context.Context) (float64, error) {
		mu.Lock()
		defer mu.Unlock()
		if !at.IsZero() && time.Since(at) < every {
			return last, nil
		}
		v, err := read(ctx)
		if err != nil {
			return 0, err
		}
		last, at = v, time.Now()
		return v, nil
	}
}
