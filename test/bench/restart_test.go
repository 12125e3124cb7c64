//go:build bench

package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/test/internal/ldproc"
)

// bulkTenant has no configuration: routing reads its tickets into the load view and
// decides nothing for them.
const bulkTenant = "bulk"

// measureRestart fills the log of `ledgerdesk run --services=` with n opened tickets (a
// tenant without configuration, appended in atomic batches from here), lets `serve
// routing` consume them all, and reports:
//   - rss_mb.routing: that replica's peak RSS once its load view holds the n open tickets;
//   - restart.ready_s: that replica stopped (it snapshots its view), from starting a new
//     one until it has routed, in every partition, a ticket of a configured tenant opened
//     after its start (200 tickets/s offered).
func measureRestart(t *testing.T, bin string, n int) []Result {
	run, c, ctx := startDesk(t, bin, "", 30*time.Minute)
	admin := ldproc.Connect(t, run, natsauth.RoleAdmin)
	store, err := events.OpenStore(ctx, admin, events.StoreConfig{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	fillLog(ctx, t, store, n)
	last, err := store.LastSequence(ctx)
	if err != nil {
		t.Fatal(err)
	}

	first := ldproc.Serve(t, bin, run, "routing")
	waitConsumed(ctx, t, store, "routing-tickets")
	for !strings.Contains(first.LogTail(1000), `"msg":"routing view: caught up with the log"`) { // so that it stops with a snapshot of it all
		select {
		case <-ctx.Done():
			t.Fatal("the routing view never caught up with the log")
		case <-time.After(500 * time.Millisecond):
		}
	}
	rss := peakRSS(t, first)
	first.Stop(t)

	log := ldproc.FollowLogFrom(t, run, last+1)
	load, stopLoad := context.WithCancel(ctx)
	offered := offerInBackground(load, t, c, 200)
	startedAt := time.Now()
	second := ldproc.Serve(t, bin, run, "routing")
	all := make([]int, store.Partitions())
	for p := range all {
		all[p] = p
	}
	restart, restartErr := waitRoutedAfter(ctx, t, log, startedAt, all, 2*time.Minute)
	stopLoad()
	offered()
	for _, p := range []*ldproc.Proc{second, run} {
		p.Stop(t)
	}

	mem := Measured("rss_mb.routing", rss, "MiB")
	mem.Target = &Target{Op: "<=", Limit: 512, On: "value"}
	mem.Note = fmt.Sprintf("peak VmHWM of `serve routing` once it has read a log of %d open tickets", n)
	ready := Measured("restart.ready_s", restart.Seconds(), "s")
	ready.Target = &Target{Op: "<=", Limit: 5, On: "value"}
	ready.Note = fmt.Sprintf("`serve routing` started on a log of %d open tickets (its view from the snapshot the stopped replica left) until it routes a new ticket in every partition", n)
	if restartErr != nil {
		ready.Value, ready.Note = nil, restartErr.Error()+"; "+ready.Note
	}
	return []Result{mem, ready}
}

// fillLog appends n opened tickets of bulkTenant, MaxBatch to an atomic batch, four
// batches at a time.
func fillLog(ctx context.Context, t *testing.T, store *events.Store, n int) {
	batches := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for size := range batches {
				appends := make([]events.Append, size)
				for i := range appends {
					appends[i] = events.Append{Tenant: bulkTenant, TicketID: uuid.Must(uuid.NewV7()).String(),
						Events: []events.Event{{Data: bulkOpened, Source: "/bench", Actor: "bench"}}}
				}
				for _, r := range store.AppendBatch(ctx, appends) {
					if r.Err != nil {
						t.Errorf("fill the log: %v", r.Err)
						return
					}
				}
			}
		})
	}
	for left := n; left > 0 && !t.Failed(); left -= events.MaxBatch {
		batches <- min(left, events.MaxBatch)
	}
	close(batches)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

var bulkOpened = events.Opened{Type: events.Incident, Title: "disk almost full on a monitored host", Description: "bulk",
	Requester: events.Requester{Name: "Monitoring", Email: "monitoring@example.com"},
	Impact:    events.Medium, Urgency: events.Medium, Priority: "P3", Category: "hardware", Source: "monitoring"}

// waitConsumed waits until every partition durable of handler (<service>-<handler>) has
// nothing pending and nothing unacked.
func waitConsumed(ctx context.Context, t *testing.T, store *events.Store, handler string) {
	for {
		left := uint64(0)
		for p := range store.Partitions() {
			cons, err := store.JetStream().Consumer(ctx, events.StreamName, events.PartitionConsumer(handler, p))
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				left++ // not made yet
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := cons.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			left += info.NumPending + uint64(info.NumAckPending)
		}
		if left == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %d messages still pending or unacked", handler, left)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
