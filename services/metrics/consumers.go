package metrics

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// ConsumerInfo reads a durable consumer's state from the server.
type ConsumerInfo func(context.Context) (*jetstream.ConsumerInfo, error)

// WatchConsumer reports the pending and ack-pending messages of the durable consumer
// named consumer, read with info at every scrape, until unwatch is called; its handled
// and redelivered series are present from now on. A second watch of the same name
// replaces the first.
func (m *Metrics) WatchConsumer(consumer string, info ConsumerInfo) (unwatch func()) {
	if m == nil {
		return func() {}
	}
	m.Consumer(consumer)
	return m.consumers.watch(consumer, info)
}

// Batches wraps a batch handler of a durable consumer (reactor.ConsumeBatches) so that
// each batch is recorded with Handled.
func (m *Metrics) Batches(consumer string, handle func([]jetstream.Msg)) func([]jetstream.Msg) {
	if m == nil {
		return handle
	}
	return func(batch []jetstream.Msg) {
		start := time.Now()
		redelivered := 0
		for _, msg := range batch {
			if meta, err := msg.Metadata(); err == nil && meta.NumDelivered > 1 {
				redelivered++
			}
		}
		handle(batch)
		m.Handled(consumer, len(batch), redelivered, time.Since(start))
	}
}

// consumers collects the pending gauges of the watched consumers, reading them all at
// once when scraped.
type consumers struct {
	pending, ackPending *prometheus.Desc

	mu      sync.Mutex
	watched map[string]*watchedConsumer
}

type watchedConsumer struct{ info ConsumerInfo }

func newConsumers() *consumers {
	return &consumers{
		pending: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "consumer", "pending_messages"),
			"Messages of a durable consumer's stream it has not delivered yet (its lag), as the server counts them; reported by the replicas consuming it.",
			[]string{"consumer"}, nil),
		ackPending: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "consumer", "ack_pending_messages"),
			"Messages a durable consumer delivered that are not acknowledged yet, as the server counts them.",
			[]string{"consumer"}, nil),
		watched: map[string]*watchedConsumer{},
	}
}

func (c *consumers) watch(name string, info ConsumerInfo) func() {
	w := &watchedConsumer{info: info}
	c.mu.Lock()
	c.watched[name] = w
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.watched[name] == w {
			delete(c.watched, name)
		}
	}
}

func (c *consumers) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.ackPending
}

// maxReads bounds the consumer info requests one scrape has in flight.
const maxReads = 8

func (c *consumers) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
	defer cancel()
	c.read(ctx, func(name string, ci *jetstream.ConsumerInfo) {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(ci.NumPending), name)
		ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(ci.NumAckPending), name)
	})
}

// read reads every watched consumer's info, at most maxReads at once, and hands each it
// got to each (called concurrently); a consumer that is gone, or whose server did not
// answer within ctx, is left out.
func (c *consumers) read(ctx context.Context, each func(name string, ci *jetstream.ConsumerInfo)) {
	c.mu.Lock()
	watched := make(map[string]ConsumerInfo, len(c.watched))
	for name, w := range c.watched {
		watched[name] = w.info
	}
	c.mu.Unlock()
	slots := make(chan struct{}, maxReads)
	var wg sync.WaitGroup
	for name, info := range watched {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if ci, err := info(ctx); err == nil && ci != nil {
				each(name, ci)
			}
		})
	}
	wg.Wait()
}

// Lagging names the watched consumers more than max messages behind their stream (each
// with its lag), sorted: what readiness refuses (see app.NodeConfig.ReadyMaxLag).
func (m *Metrics) Lagging(ctx context.Context, max uint64) []string {
	if m == nil {
		return nil
	}
	var mu sync.Mutex
	var out []string
	m.consumers.read(ctx, func(name string, ci *jetstream.ConsumerInfo) {
		if ci.NumPending > max {
			mu.Lock()
			out = append(out, fmt.Sprintf("consumer %s is %d messages behind (more than %d)", name, ci.NumPending, max))
			mu.Unlock()
		}
	})
	slices.Sort(out)
	return out
}
