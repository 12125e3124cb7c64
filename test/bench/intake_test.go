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

	"github.com/ledgerdesk/ledgerdesk/test/internal/ldproc"
)

const (
	intakeClients = 64
	intakeWarmup  = 512 // tickets opened before the clock starts
)

// measureIntake opens n tickets through POST /v1/tickets from intakeClients concurrent
// clients against `ledgerdesk run` as a child process and reports tickets acknowledged
// per second, their p99 latency and the process's peak RSS.
func measureIntake(t *testing.T, bin string, n int) []Result {
	p := ldproc.Start(t, bin, t.TempDir(), "bench-token")
	c := ldproc.NewClient(p, intakeClients, 30*time.Second)
	defer c.Close()

	openTickets(t, c, intakeWarmup)
	start := time.Now()
	lat := openTickets(t, c, n)
	rate := float64(n) / time.Since(start).Seconds()
	rss, err := p.PeakRSSMB()
	if err != nil {
		t.Fatal(err)
	}
	p.Stop(t) // its services would go on catching up and disturb the next measurements

	tput := Measured("intake.http", rate, "tickets/s")
	tput.RatioTo, tput.Target = "raw.atomic_publish", &Target{Op: ">=", Limit: 0.5, On: "ratio"}
	p99 := Measured("intake.http.p99_ms", float64(Percentile(lat, 99))/float64(time.Millisecond), "ms")
	p99.Target = &Target{Op: "<=", Limit: 25, On: "value"}
	mem := Measured("rss_mb", rss, "MiB")
	mem.Target = &Target{Op: "<=", Limit: 512, On: "value"}
	mem.Note = "peak VmHWM of ledgerdesk during intake"
	return []Result{tput, p99, mem}
}

// openTickets opens n tickets from intakeClients goroutines and returns each request's
// latency. Any answer other than 201 fails the test.
func openTickets(t *testing.T, c *ldproc.Client, n int) []time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		lats = make([][]time.Duration, intakeClients)
	)
	for w := range intakeClients {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n) && ctx.Err() == nil; i = next.Add(1) {
				body := ldproc.NewTicketBody(fmt.Sprintf("bench ticket %d", i))
				t0 := time.Now()
				res, err := c.Create(ctx, "", body)
				if err != nil || res.Status != http.StatusCreated {
					t.Errorf("open ticket: status %d, err %v", res.Status, err)
					cancel()
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return all
}
