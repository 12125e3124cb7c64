package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/test/internal/ldproc"
)

// TestTheSystemSurvivesANodeOfItsCluster runs deploy/nats/nats-cluster.conf on three
// nodes, provisions it as deploy/README.md says (three replicas), and every service as its
// own `ledgerdesk serve` process with its role's creds and every node's URL. 64 clients
// open tickets while the node leading the log is stopped and, three seconds later,
// started again: every acknowledged ticket is in the log afterwards, every ticket of the
// log is routed, assigned and SLA-attached exactly once (the services went on deciding,
// no effect twice), each chain intact, nothing dead-lettered, and reporting's queue holds
// every ticket of the log (the read model converged).
func TestTheSystemSurvivesANodeOfItsCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node cluster, five services and a failover")
	}
	bin := ldproc.Build(t)
	root := t.TempDir()
	creds := filepath.Join(root, "credentials")
	if out, err := exec.Command(bin, "nats", "init", "--out", creds).CombinedOutput(); err != nil {
		t.Fatalf("nats init: %v\n%s", err, out)
	}
	cluster := eventstest.StartCluster(t, filepath.Join(ldproc.RepoRoot(t), "deploy", "nats", "nats-cluster.conf"), creds)
	if out, err := exec.Command(bin, "nats", "provision", "--nats", cluster.URLs(), "--creds", filepath.Join(creds, "admin.creds")).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "(replicas: 3)") {
		t.Fatalf("nats provision: %v\n%s", err, out)
	}
	srv := ldproc.External{URL: cluster.URLs(), CredsDir: creds}

	const token = "cluster-token"
	api := func(service string) (*ldproc.Proc, string) {
		addr := ldproc.FreeAddr(t)
		return ldproc.Serve(t, bin, srv, service, "--http", addr, "--data", t.TempDir(), "--admin-token", token, "--rate-limit", "0"), "http://" + addr
	}
	_, intakeURL := api("intake")
	_, reportingURL := api("reporting")
	for _, svc := range []string{"routing", "routing", "sla", "sla", "escalation"} {
		ldproc.Serve(t, bin, srv, svc)
	}
	c := ldproc.NewClientOf(intakeURL, token, 64, 10*time.Second)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ldproc.ConfigureDesk(ctx, t, c)
	log := ldproc.FollowLog(t, srv)
	js, err := jetstream.New(ldproc.Connect(t, srv, natsauth.RoleAdmin))
	if err != nil {
		t.Fatal(err)
	}

	// 64 clients open tickets until the failover is over; an answer other than 201 (a
	// request in flight as the leader went) promises nothing.
	var acked sync.Map // ticket id → true
	var refused atomic.Int32
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
				res, err := c.Create(ctx, "", ldproc.NewTicketBody(fmt.Sprintf("cluster ticket %d-%d", client, i)))
				if err != nil || res.Status != http.StatusCreated {
					refused.Add(1)
					continue
				}
				acked.Store(res.Ticket.ID, true)
			}
		})
	}
	time.Sleep(2 * time.Second)
	leader := cluster.LeaderOf(ctx, js, events.StreamName)
	cluster.Stop(leader)
	time.Sleep(3 * time.Second)
	cluster.Start(leader)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	var ids []string
	acked.Range(func(id, _ any) bool { ids = append(ids, id.(string)); return true })
	t.Logf("%d tickets acknowledged, %d requests not, across the loss of %s", len(ids), refused.Load(), cluster.Nodes[leader].Name())
	if len(ids) < 500 {
		t.Fatalf("only %d tickets acknowledged in 7 s of 64 clients", len(ids))
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
	cluster.WaitForReplicasCurrent(ctx, js, events.StreamName)

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
