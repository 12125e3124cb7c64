//go:build bench

package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/test/internal/ldproc"
)

// measureCluster runs deploy/nats/nats-cluster.conf as three nats-server processes on
// this machine (R3 streams, as nats provision makes them) and every service as a `serve`
// process with every node's URL, as intake.http runs them in one process (a tenant without
// configuration: the reacting services read every event and decide nothing). It reports
// cluster.intake.http, n tickets opened as intake.http opens them, and cluster.failover_s:
// under the same 64 clients, the time from SIGKILL of the node that leads the log until a
// request sent after that is acknowledged.
func measureCluster(t *testing.T, bin string, n int) []Result {
	cluster := ldproc.StartNATSCluster(t, bin)
	srv := cluster.Server
	const token = "bench-token"
	_, intakeURL := ldproc.ServeAPI(t, bin, srv, "intake", token)
	ldproc.ServeAPI(t, bin, srv, "reporting", token)
	for _, svc := range []string{"routing", "sla", "escalation"} {
		ldproc.Serve(t, bin, srv, svc)
	}
	c := ldproc.NewClientOf(intakeURL, token, intakeClients, 30*time.Second)
	defer c.Close()

	openTickets(t, c, intakeWarmup)
	start := time.Now()
	openTickets(t, c, n)
	rate := float64(n) / time.Since(start).Seconds()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader := cluster.LeaderOf(ctx, events.StreamName)
	failover := untilAcknowledged(ctx, t, c, func() { cluster.Kill(leader) })
	cluster.Start(leader)

	tput := Measured("cluster.intake.http", rate, "tickets/s")
	tput.RatioTo = "intake.http"
	tput.Note = fmt.Sprintf("%d tickets, 64 clients, `serve intake` on a 3-node cluster on this machine (R3, sync always; routing, sla, escalation, reporting idle beside it)", n)
	fo := Measured("cluster.failover_s", failover.Seconds(), "s")
	fo.Note = fmt.Sprintf("64 clients opening tickets; from SIGKILL of %s, leading TICKETS, until a request sent after it is acknowledged (the others elect a leader after raft's election timeout, 4 to 9 s)", eventstest.NodeName(leader))
	return []Result{tput, fo}
}

// untilAcknowledged keeps intakeClients clients opening tickets, runs lose once they
// are under way, and returns the time from lose until a request sent after it was
// acknowledged (answers other than 201 are what a failover costs, not failures).
func untilAcknowledged(ctx context.Context, t *testing.T, c *ldproc.Client, lose func()) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var lost atomic.Int64 // when lose began, UnixNano; 0 before
	acked := make(chan time.Time, 1)
	var started sync.WaitGroup
	var wg sync.WaitGroup
	started.Add(intakeClients)
	for w := range intakeClients {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				sent := time.Now().UnixNano()
				res, err := c.Create(ctx, "", ldproc.NewTicketBody(fmt.Sprintf("failover ticket %d-%d", w, i)))
				if i == 0 {
					started.Done()
				}
				if err == nil && res.Status == http.StatusCreated {
					if at := lost.Load(); at != 0 && sent > at {
						select {
						case acked <- time.Now():
						default:
						}
						cancel()
					}
				}
			}
		})
	}
	started.Wait()
	t0 := time.Now()
	lost.Store(t0.UnixNano())
	lose()
	<-ctx.Done() // the first acknowledgement after lose ends it, or the minute
	wg.Wait()
	var took time.Duration
	select {
	case at := <-acked:
		took = at.Sub(t0)
	default:
	}
	if took == 0 {
		t.Fatal("cluster failover: no request sent after the node stopped was acknowledged within a minute")
	}
	return took
}
