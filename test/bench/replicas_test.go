//go:build bench

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/test/internal/ldproc"
)

// measureReplicas runs routing (two replicas) and SLA as `ledgerdesk serve` processes
// beside `ledgerdesk run` (intake, escalation, reporting) and reports:
//   - rss_mb.sla: SLA's peak RSS after n tickets, all open with their clocks running;
//   - pipeline.failover_s: from SIGKILL of one routing replica, while tickets keep coming,
//     until the other has routed a ticket opened after the kill in every partition the
//     killed one held.
func measureReplicas(t *testing.T, bin string, n int) []Result {
	run, c, ctx := startDesk(t, bin, "escalation,reporting", 15*time.Minute)
	routing := []*ldproc.Proc{ldproc.Serve(t, bin, run, "routing"), ldproc.Serve(t, bin, run, "routing")}
	sla := ldproc.Serve(t, bin, run, "sla")
	log := ldproc.FollowLog(t, run)

	openTickets(t, c, n)
	waitAll(ctx, t, log, n)
	rssSLA := peakRSS(t, sla)

	// Failover: tickets keep coming at 200/s; one routing replica is SIGKILLed.
	held := waitForShares(ctx, t, routing)
	load, stopLoad := context.WithCancel(ctx)
	offered := offerInBackground(load, t, c, 200)
	time.Sleep(2 * time.Second)
	killedAt := time.Now()
	routing[0].Kill(t)
	failover, failoverErr := waitRoutedAfter(ctx, t, log, killedAt, held[0], time.Minute)
	stopLoad()
	offered()
	// Stopped here, not at the suite's end: the next measurements must have the machine.
	for _, p := range append(routing, sla, run) {
		p.Stop(t)
	}

	mem := Measured("rss_mb.sla", rssSLA, "MiB")
	mem.Target, mem.Note = &Target{Op: "<=", Limit: 512, On: "value"}, fmt.Sprintf("peak VmHWM of `serve sla` after %d tickets, all open", n)
	fail := Measured("pipeline.failover_s", failover.Seconds(), "s")
	fail.Target = &Target{Op: "<=", Limit: 10, On: "value"}
	fail.Note = fmt.Sprintf("SIGKILL of one of two routing replicas (%d partitions) at 200 tickets/s until each of its partitions has a new ticket routed", len(held[0]))
	if failoverErr != nil {
		fail.Value, fail.Note = nil, failoverErr.Error()+"; "+fail.Note
	}
	return []Result{mem, fail}
}

// startDesk starts `ledgerdesk run --services services` with the desk tenant configured,
// a client of intakeClients connections, and a context of limit; all end with the test.
func startDesk(t *testing.T, bin, services string, limit time.Duration) (*ldproc.Proc, *ldproc.Client, context.Context) {
	run := ldproc.Start(t, bin, t.TempDir(), "bench-token", "--services", services)
	c := ldproc.NewClient(run, intakeClients, 30*time.Second)
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	ldproc.ConfigureDesk(ctx, t, c)
	return run, c, ctx
}

// waitAll waits until the log holds n tickets routed, assigned and SLA-attached.
func waitAll(ctx context.Context, t *testing.T, log *ldproc.Log, n int) {
	for {
		routed, attached := log.First(events.TypeAssigned), log.First(events.TypeSLAAttached)
		if len(routed) >= n && len(attached) >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d tickets assigned, %d SLA-attached", len(routed), n, len(attached))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// peakRSS is the largest peak RSS of the processes, in MiB.
func peakRSS(t *testing.T, ps ...*ldproc.Proc) float64 {
	var peak float64
	for _, p := range ps {
		rss, err := p.PeakRSSMB()
		if err != nil {
			t.Fatal(err)
		}
		peak = max(peak, rss)
	}
	return peak
}

var shareLine = regexp.MustCompile(`"msg":"consuming partitions"[^\n]*"partitions":(\[[0-9,]*\])`)

// waitForShares waits until the replicas' latest shares cover every partition once, and
// returns each replica's share.
func waitForShares(ctx context.Context, t *testing.T, ps []*ldproc.Proc) [][]int {
	for {
		shares := make([][]int, len(ps))
		held := map[int]int{}
		for i, p := range ps {
			m := shareLine.FindAllStringSubmatch(p.LogTail(100000), -1)
			if len(m) > 0 {
				_ = json.Unmarshal([]byte(m[len(m)-1][1]), &shares[i])
			}
			for _, part := range shares[i] {
				held[part]++
			}
		}
		disjoint := true
		for _, k := range held {
			disjoint = disjoint && k == 1
		}
		if disjoint && len(held) == events.DefaultPartitions && len(shares[0]) > 0 {
			return shares
		}
		select {
		case <-ctx.Done():
			t.Fatalf("replicas never split the partitions: %v", shares)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// offerInBackground opens perSecond tickets a second until ctx ends; the returned func
// waits for the last request and tells how many were opened.
func offerInBackground(ctx context.Context, t *testing.T, c *ldproc.Client, perSecond int) func() int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	opened := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			wg.Go(func() {
				res, err := c.Create(context.WithoutCancel(ctx), "", ldproc.NewTicketBody(fmt.Sprintf("offered ticket %d", i)))
				if err != nil || res.Status != http.StatusCreated {
					t.Errorf("open ticket: status %d, err %v", res.Status, err)
					return
				}
				mu.Lock()
				opened++
				mu.Unlock()
			})
		}
	}()
	return func() int {
		<-done
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return opened
	}
}

// waitRoutedAfter waits until, in each of the partitions, a ticket opened after since has
// been routed, and returns how long after since the last of them was; an error after limit.
func waitRoutedAfter(ctx context.Context, t *testing.T, log *ldproc.Log, since time.Time, partitions []int, limit time.Duration) (time.Duration, error) {
	want := map[int]bool{}
	for _, p := range partitions {
		want[p] = true
	}
	deadline := time.After(limit)
	for {
		opened, routed := log.First(events.TypeOpened), log.First(events.TypeRouted)
		first := map[int]time.Time{} // partition → when a ticket opened after since was first seen routed
		for id, o := range opened {
			r, ok := routed[id]
			if !ok || !o.Time.After(since) || !want[o.Partition] {
				continue
			}
			if at, seen := first[o.Partition]; !seen || r.At.Before(at) {
				first[o.Partition] = r.At
			}
		}
		if len(first) == len(want) {
			var last time.Time
			for _, at := range first {
				if at.After(last) {
					last = at
				}
			}
			return last.Sub(since), nil
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-deadline:
			return 0, fmt.Errorf("not met within %s: new tickets routed in partitions %v of %v", limit, keys(first), strings.Trim(fmt.Sprint(partitions), "[]"))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func keys(m map[int]time.Time) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
