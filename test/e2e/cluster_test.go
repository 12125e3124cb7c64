package e2e

import (
	"context"
	"encoding/json"
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

// TestTheSystemSurvivesANodeOfItsCluster runs deploy/nats/nats-cluster.conf as three
// nats-server processes, provisions it as deploy/README.md says (three replicas), and every
// service as its own `ledgerdesk serve` process with its role's creds and every node's URL.
// 64 clients open tickets while the node leading the log is SIGKILLed and, fifteen seconds
// later, started again (the others elect a new leader after a raft election timeout of 4
// to 9 s). Tickets are acknowledged meanwhile; every acknowledged ticket is in
// the log afterwards; every ticket of the log is routed, assigned and SLA-attached exactly
// once (the services went on deciding, no effect twice), each chain intact; nothing is
// dead-lettered; reporting's queue holds every ticket of the log (the read model converged).
func TestTheSystemSurvivesANodeOfItsCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node cluster, five services and a failover")
	}
	bin := ldproc.Build(t)
	cluster := ldproc.StartNATSCluster(t, bin)
	srv := cluster.Server
	const token = "cluster-token"
	_, intakeURL := ldproc.ServeAPI(t, bin, srv, "intake", token)
	_, reportingURL := ldproc.ServeAPI(t, bin, srv, "reporting", token)
	for _, svc := range []string{"routing", "routing", "sla", "sla", "escalation"} {
		ldproc.Serve(t, bin, srv, svc)
	}
	c := ldproc.NewClientOf(intakeURL, token, 64, 10*time.Second)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ldproc.ConfigureDesk(ctx, t, c)
	log := ldproc.FollowLog(t, srv)

	// 64 clients open tickets until the node is back; an answer other than 201 (a
	// request in flight as the leader went) promises nothing.
	var acked sync.Map // ticket id → true
	var refused, whileDown atomic.Int32
	var killed, restarted atomic.Int64 // UnixNano; 0 before
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for client := range 64 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sent := time.Now().UnixNano()
				res, err := c.Create(ctx, "", ldproc.NewTicketBody(fmt.Sprintf("cluster ticket %d-%d", client, i)))
				if err != nil || res.Status != http.StatusCreated {
					refused.Add(1)
					continue
				}
				acked.Store(res.Ticket.ID, true)
				if k := killed.Load(); k != 0 && sent > k && restarted.Load() == 0 {
					whileDown.Add(1)
				}
			}
		})
	}
	time.Sleep(2 * time.Second)
	leader := cluster.LeaderOf(ctx, events.StreamName)
	killed.Store(time.Now().UnixNano())
	cluster.Kill(leader)
	time.Sleep(15 * time.Second)
	restarted.Store(time.Now().UnixNano())
	cluster.Start(leader)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	var ids []string
	acked.Range(func(id, _ any) bool { ids = append(ids, id.(string)); return true })
	t.Logf("%d tickets acknowledged (%d sent and acknowledged while %s was down), %d requests not", len(ids), whileDown.Load(),
		eventstest.NodeName(leader), refused.Load())
	if whileDown.Load() == 0 {
		t.Fatalf("no ticket acknowledged in the 15 s %s, leading the log, was down: the cluster did not go on without it", eventstest.NodeName(leader))
	}

	// Every ticket of the log, not only the acknowledged ones: one whose 201 was lost with
	// the leader may still have been stored, and the services must handle it too.
	eventstest.CheckFor(t, time.Minute, 100*time.Millisecond, func() error { return log.CaughtUp(ctx) })
	for _, id := range ids {
		if log.Count(id)[events.TypeOpened] != 1 {
			t.Fatalf("acknowledged ticket %s: %v in the log, want its opened event", id, log.Count(id))
		}
	}
	inLog := log.Tickets()
	throughOnce(ctx, t, log, inLog)
	cluster.WaitForReplicasCurrent(ctx, events.StreamName)

	reporting := ldproc.NewClientOf(reportingURL, token, 1, 10*time.Second)
	defer reporting.Close()
	eventstest.CheckFor(t, time.Minute, 200*time.Millisecond, func() error {
		var q struct{ Total int }
		status, body, err := reporting.Send(ctx, http.MethodGet, "/v1/queues?tenant=acme&group=desk&limit=1", "", nil)
		if err != nil || status != http.StatusOK || json.Unmarshal(body, &q) != nil {
			return fmt.Errorf("queue: %d %s %v", status, body, err)
		}
		if q.Total != len(inLog) {
			return fmt.Errorf("queue holds %d tickets, the log %d", q.Total, len(inLog))
		}
		return nil
	})
}
