//go:build unix

package projections_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
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
// log, on disk, every batch synced) against a raw ordered read of the same log, one after
// the other in every iteration, so that a noisy machine slows both alike: rebuild/raw is
// the figure that counts. cpu_us/event is the process's CPU time (the embedded server's
// included) per event of each.
func BenchmarkRebuild(b *testing.B) {
	store, last := benchLog(b, 10_000)
	var raw, rebuild, rawCPU, rebuildCPU time.Duration
	for range b.N {
		took, cpu := timed(b, func() { rawRead(b, store, last) })
		raw, rawCPU = raw+took, rawCPU+cpu
		took, cpu = rebuildAll(b, store, last)
		rebuild, rebuildCPU = rebuild+took, rebuildCPU+cpu
	}
	events := float64(last) * float64(b.N)
	b.ReportMetric(events/raw.Seconds(), "raw_events/s")
	b.ReportMetric(events/rebuild.Seconds(), "rebuild_events/s")
	b.ReportMetric(raw.Seconds()/rebuild.Seconds(), "rebuild/raw")
	b.ReportMetric(float64(rawCPU.Microseconds())/events, "raw_cpu_us/event")
	b.ReportMetric(float64(rebuildCPU.Microseconds())/events, "rebuild_cpu_us/event")
}

// timed runs f and returns the wall and the process CPU time it took (getrusage: unix only).
func timed(b *testing.B, f func()) (wall, cpu time.Duration) {
	b.Helper()
	usage := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	startCPU, start := usage(), time.Now()
	f()
	return time.Since(start), usage() - startCPU
}

// rawRead reads the log to seq last through an ordered consumer, doing nothing with it.
func rawRead(b *testing.B, store *events.Store, last uint64) {
	b.Helper()
	ctx := context.Background()
	cons, err := store.JetStream().OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Uint64
	done := make(chan struct{})
	cc, err := cons.Consume(func(jetstream.Msg) {
		if got.Add(1) == last {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	<-done
	cc.Stop()
}

// rebuildAll runs a projector on a fresh store until it includes seq last, and returns
// the wall and CPU time that took (timed).
func rebuildAll(b *testing.B, store *events.Store, last uint64) (wall, cpu time.Duration) {
	b.Helper()
	p, err := projections.Open(b.TempDir(), projections.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	wall, cpu = timed(b, func() {
		go func() { done <- p.Run(ctx, store) }()
		if err := p.WaitFor(ctx, last); err != nil {
			b.Fatal(err)
		}
	})
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return wall, cpu
}

// BenchmarkApply times the applier alone: the log of BenchmarkRebuild, read once, applied
// by Apply to a fresh store on disk in batches of 1,000 events and in one batch of the
// whole log (each batch synced with its checkpoint); each ticket's view is written once a
// batch.
func BenchmarkApply(b *testing.B) {
	store, _ := benchLog(b, 10_000)
	evs := readAll(b, store)
	for _, batch := range []int{1000, len(evs)} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var wall, cpu time.Duration
			for range b.N {
				p, err := projections.Open(b.TempDir(), projections.Options{})
				if err != nil {
					b.Fatal(err)
				}
				took, used := timed(b, func() {
					for from := 0; from < len(evs); from += batch {
						if err := p.Apply(evs[from:min(from+batch, len(evs))]); err != nil {
							b.Fatal(err)
						}
					}
				})
				wall, cpu = wall+took, cpu+used
				p.Close()
			}
			n := float64(b.N * len(evs))
			b.ReportMetric(float64(wall.Nanoseconds())/n, "ns/event")
			b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu_ns/event")
		})
	}
}
