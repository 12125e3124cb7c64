package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/test/internal/ldproc"
)

// TestReplicasShareTheLogAndSurviveSIGKILL runs three replicas each of routing and SLA
// as their own `ledgerdesk serve` processes beside `ledgerdesk run` (intake, escalation,
// reporting), opens 5,000 tickets from 64 clients and SIGKILLs one replica of each
// mid-load, starting it again two seconds later. Every ticket ends with exactly one
// routed, one assigned and one sla_attached, each caused by its opened event, its events
// form an intact chain in order, and nothing is dead-lettered.
func TestReplicasShareTheLogAndSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts eight processes and opens 5,000 tickets")
	}
	const tickets = 5000
	bin := ldproc.Build(t)
	run := ldproc.Start(t, bin, t.TempDir(), "replica-token", "--services", "escalation,reporting")
	c := ldproc.NewClient(run, 64, 30*time.Second)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ldproc.ConfigureDesk(ctx, t, c)
	replicas := map[string][]*ldproc.Proc{}
	for _, svc := range []string{"routing", "sla"} {
		for range 3 {
			replicas[svc] = append(replicas[svc], ldproc.Serve(t, bin, run, svc))
		}
	}

	log := ldproc.FollowLog(t, run)
	var opened atomic.Int32
	ids := make(chan string, tickets)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 64 {
		wg.Go(func() {
			for i := range next {
				res, err := c.Create(ctx, "", ldproc.NewTicketBody(fmt.Sprintf("replica ticket %d", i)))
				if err != nil || res.Status != http.StatusCreated {
					t.Errorf("open ticket: status %d, err %v", res.Status, err)
					continue
				}
				ids <- res.Ticket.ID
				opened.Add(1)
			}
		})
	}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for opened.Load() < tickets/3 {
			time.Sleep(5 * time.Millisecond)
		}
		replicas["routing"][0].Kill(t)
		replicas["sla"][0].Kill(t)
		time.Sleep(2 * time.Second)
		replicas["routing"][0] = ldproc.Serve(t, bin, run, "routing")
		replicas["sla"][0] = ldproc.Serve(t, bin, run, "sla")
	}()
	for i := range tickets {
		next <- i
	}
	close(next)
	wg.Wait()
	<-killed
	close(ids)
	if t.Failed() {
		t.FailNow()
	}

	var all []string
	for id := range ids {
		all = append(all, id)
	}
	throughOnce(ctx, t, log, all)
	for svc, ps := range replicas {
		for i, p := range ps {
			if !sharing.MatchString(p.LogTail(100000)) {
				t.Errorf("%s replica %d never consumed a share of the partitions", svc, i)
			}
		}
	}
}

// throughOnce waits until every ticket of ids is routed, assigned and SLA-attached and every
// durable consumer of the log is drained (nothing more comes), then checks that each has
// exactly one of each, caused by its opened event, in an intact chain, and that nothing
// was dead-lettered.
func throughOnce(ctx context.Context, t *testing.T, log *ldproc.Log, ids []string) {
	t.Helper()
	eventstest.CheckFor(t, 3*time.Minute, 200*time.Millisecond, func() error {
		missing := 0
		for _, id := range ids {
			if n := log.Count(id); n[events.TypeRouted] == 0 || n[events.TypeAssigned] == 0 || n[events.TypeSLAAttached] == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d tickets not yet routed, assigned and SLA-attached", missing, len(ids))
		}
		return log.Drained(ctx)
	})
	for _, id := range ids {
		raws := log.Ticket(id)
		if err := events.VerifyChain(raws); err != nil {
			t.Fatalf("ticket %s: %v", id, err)
		}
		n := map[string]int{}
		for _, r := range raws {
			n[r.Type]++
			switch r.Type {
			case events.TypeRouted, events.TypeAssigned, events.TypeSLAAttached:
				if r.CausationID != raws[0].ID {
					t.Errorf("ticket %s: %s caused by %q, want its opened event %s", id, r.Type, r.CausationID, raws[0].ID)
				}
			}
		}
		if raws[0].Type != events.TypeOpened || n[events.TypeRouted] != 1 || n[events.TypeAssigned] != 1 || n[events.TypeSLAAttached] != 1 {
			t.Fatalf("ticket %s: events %v (first %s), want one each of routed, assigned, sla_attached after opened", id, n, raws[0].Type)
		}
	}
	if n, err := log.DeadLetters(ctx); err != nil || n != 0 {
		t.Errorf("DEADLETTER holds %d messages (%v), want none", n, err)
	}
}

// sharing matches the log line of a replica that consumes some partitions.
var sharing = regexp.MustCompile(`"msg":"consuming partitions"[^\n]*"partitions":\[\d`)
