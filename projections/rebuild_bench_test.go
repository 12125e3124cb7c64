package projections_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/projections"
)

// benchLog appends the log of a pipeline run to a fresh store: tickets opened, then
// routed, assigned, given an SLA and answered, each step for every ticket in turn (so one
// ticket's events lie far apart, as in a busy log), in atomic batches. It returns the
// store and the number of events.
func benchLog(b *testing.B, tickets int) (*events.Store, uint64) {
	b.Helper()
	_, nc := eventstest.RunJetStream(b)
	ctx := context.Background()
	store, err := events.NewStore(ctx, nc, events.StoreConfig{})
	if err != nil {
		b.Fatal(err)
	}
	due := time.Now().Add(time.Hour).UTC()
	steps := []func(i int) events.Payload{
		func(i int) events.Payload {
			o := eventstest.OpenedFixture(fmt.Sprintf("ticket %d", i))
			o.Category = []string{"network", "email", "hardware", "access"}[i%4]
			return o
		},
		func(i int) events.Payload { return events.Routed{Group: []string{"desk", "net"}[i%2], Tier: 1 + i%2} },
		func(i int) events.Payload { return events.Assigned{Agent: fmt.Sprintf("agent-%d", i%20)} },
		func(int) events.Payload {
			return events.SLAAttached{PolicyID: "p", PolicyVersion: 1, Calendar: "24x7", Reason: "opened", Targets: []events.SLATarget{
				{Clock: events.ClockResponse, TargetMS: 1800000, Due: &due},
				{Clock: events.ClockResolution, TargetMS: 14400000, Due: &due},
			}}
		},
		func(int) events.Payload { return events.Responded{Message: "on it"} },
	}
	ids := make([]string, tickets)
	heads := make([]events.Appended, tickets)
	for i := range ids {
		ids[i] = eventstest.NewTicketID(b)
	}
	for _, step := range steps {
		for from := 0; from < tickets; from += events.MaxBatch {
			to := min(from+events.MaxBatch, tickets)
			appends := make([]events.Append, 0, to-from)
			for i := from; i < to; i++ {
				a := events.Append{Tenant: []string{"acme", "globex"}[i%2], TicketID: ids[i], Events: []events.Event{{Data: step(i), Actor: "bench"}}}
				if h := heads[i]; len(h.Events) > 0 {
					a.ExpectedVersion, a.PrevHash = h.Version, h.Events[len(h.Events)-1].Hash
				}
				appends = append(appends, a)
			}
			for k, r := range store.AppendBatch(ctx, appends) {
				if r.Err != nil {
					b.Fatalf("append: %v", r.Err)
				}
				heads[from+k] = r.Appended
			}
		}
	}
	last, err := store.LastSequence(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return store, last
}

// BenchmarkRebuild times a rebuild from zero (Run until the read models include the whole
// log, on disk, every batch synced) against a raw ordered read of the same log.
func BenchmarkRebuild(b *testing.B) {
	store, last := benchLog(b, 10_000)
	b.Run("raw_ordered_read", func(b *testing.B) {
		var took time.Duration
		for range b.N {
			ctx := context.Background()
			cons, err := store.JetStream().OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{})
			if err != nil {
				b.Fatal(err)
			}
			var got atomic.Uint64
			done := make(chan struct{})
			start := time.Now()
			cc, err := cons.Consume(func(jetstream.Msg) {
				if got.Add(1) == last {
					close(done)
				}
			})
			if err != nil {
				b.Fatal(err)
			}
			<-done
			took += time.Since(start)
			cc.Stop()
		}
		b.ReportMetric(float64(last)*float64(b.N)/took.Seconds(), "events/s")
	})
	b.Run("rebuild", func(b *testing.B) {
		var took time.Duration
		for range b.N {
			p, err := projections.Open(b.TempDir(), projections.Options{})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			start := time.Now()
			go func() { done <- p.Run(ctx, store) }()
			if err := p.WaitFor(ctx, last); err != nil {
				b.Fatal(err)
			}
			took += time.Since(start)
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			p.Close()
		}
		b.ReportMetric(float64(last)*float64(b.N)/took.Seconds(), "events/s")
	})
}
