// Package crash is the fault-injection suite: it SIGKILLs `ledgerdesk run` under load
// and checks what a client sees after the restart.
package crash

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/test/internal/ldproc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	token          = "crash-test-token"
	workers        = 32               // concurrent clients
	killAfter      = 300              // acknowledged tickets before the SIGKILL
	loadTimeout    = 20 * time.Second // bound on reaching killAfter
	requestTimeout = 5 * time.Second
)

// attempt is one POST /v1/tickets of the load and what the client learnt from it.
type attempt struct {
	key, title string
	body       []byte
	acked      *ldproc.Ticket // the 201's ticket; nil when the answer was an error or none
}

// TestKillDuringIntake checks the durability contract of intake: a ticket acknowledged
// with 201 survives a SIGKILL intact, and a request without an answer is afterwards
// either wholly there or wholly absent — never half there.
func TestKillDuringIntake(t *testing.T) {
	bin := ldproc.Build(t)
	data := t.TempDir()

	first := ldproc.Start(t, bin, data, token)
	attempts := loadAndKill(t, first)

	second := ldproc.Start(t, bin, data, token)
	c := ldproc.NewClient(second, 1, requestTimeout)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var acked, present, absent int
	for _, a := range attempts {
		// Retrying with the same Idempotency-Key is what a client does after an error:
		// it must answer with the ticket the key opened, or open it now.
		retry, err := c.Create(ctx, a.key, a.body)
		if err != nil || retry.Status != http.StatusCreated {
			t.Errorf("%s: retry after restart: status %d, err %v: half there?", a.key, retry.Status, err)
			continue
		}
		switch {
		case a.acked != nil:
			acked++
			if !retry.Replayed || retry.Ticket.ID != a.acked.ID {
				t.Errorf("%s: acknowledged as %s, retry after restart opened %s (replayed %v): the key was forgotten",
					a.key, a.acked.ID, retry.Ticket.ID, retry.Replayed)
				continue
			}
			checkTicket(ctx, t, c, a.acked.ID, a.title, a.acked.Version)
		case retry.Replayed:
			present++
			checkTicket(ctx, t, c, retry.Ticket.ID, a.title, 0)
		default:
			absent++
			checkTicket(ctx, t, c, retry.Ticket.ID, a.title, retry.Ticket.Version)
		}
	}
	t.Logf("%d requests: %d acknowledged, %d unanswered found present, %d unanswered absent",
		len(attempts), acked, present, absent)
	if acked < killAfter {
		t.Errorf("only %d acknowledged tickets checked, want at least %d", acked, killAfter)
	}
}

// loadAndKill opens tickets from workers goroutines and SIGKILLs p once killAfter of them
// were acknowledged, while requests are in flight. It returns every attempt.
func loadAndKill(t *testing.T, p *ldproc.Proc) []attempt {
	t.Helper()
	c := ldproc.NewClient(p, workers, requestTimeout)
	defer c.Close()
	var (
		ackCount atomic.Int64
		stop     atomic.Bool
		enough   = make(chan struct{})
		once     sync.Once
		wg       sync.WaitGroup
		perWork  = make([][]attempt, workers)
	)
	for w := range workers {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				a := attempt{key: fmt.Sprintf("crash-%d-%d", w, i), title: fmt.Sprintf("crash ticket %d/%d", w, i)}
				a.body = ldproc.NewTicketBody(a.title)
				res, err := c.Create(context.Background(), a.key, a.body)
				if err == nil && res.Status == http.StatusCreated {
					a.acked = &res.Ticket
					if ackCount.Add(1) >= killAfter {
						once.Do(func() { close(enough) })
					}
				}
				perWork[w] = append(perWork[w], a)
			}
		})
	}
	select {
	case <-enough:
		p.Kill(t)
		stop.Store(true)
		wg.Wait()
	case <-time.After(loadTimeout):
		stop.Store(true)
		wg.Wait()
		t.Fatalf("only %d tickets acknowledged within %s, want %d", ackCount.Load(), loadTimeout, killAfter)
	}
	var all []attempt
	for _, as := range perWork {
		all = append(all, as...)
	}
	t.Logf("killed pid %d after %d acknowledged tickets, %d requests in all", p.Pid(), ackCount.Load(), len(all))
	return all
}

// checkTicket asserts that ticket id loads and that its history starts with its opened
// event (title title, at stream sequence openedSeq unless 0) and is an intact hash chain.
func checkTicket(ctx context.Context, t *testing.T, c *ldproc.Client, id, title string, openedSeq uint64) {
	t.Helper()
	status, tk, err := c.Ticket(ctx, id)
	if err != nil || status != http.StatusOK {
		t.Errorf("GET ticket %s: status %d, err %v", id, status, err)
		return
	}
	if tk.ID != id || tk.Title != title || tk.Priority != "P2" {
		t.Errorf("GET ticket %s = %+v, want title %q and priority P2", id, tk, title)
	}
	status, evs, err := c.Events(ctx, id)
	if err != nil || status != http.StatusOK || len(evs) == 0 {
		t.Errorf("GET ticket %s events: status %d, %d events, err %v", id, status, len(evs), err)
		return
	}
	opened := evs[0]
	var data struct {
		Title string `json:"title"`
	}
	if err := json.Unmarshal(opened.Data, &data); err != nil {
		t.Errorf("ticket %s: opened event data %s: %v", id, opened.Data, err)
	}
	if opened.Type != events.TypeOpened || opened.Subject != id || data.Title != title || opened.ID == "" ||
		(openedSeq != 0 && opened.Sequence != openedSeq) {
		t.Errorf("ticket %s: first event = %+v, want %s of this ticket titled %q at sequence %d",
			id, opened, events.TypeOpened, title, openedSeq)
	}
	if last := evs[len(evs)-1].Sequence; tk.Version != last {
		t.Errorf("ticket %s: version %d, want its last event's sequence %d", id, tk.Version, last)
	}
	if err := checkChain(evs); err != nil {
		t.Errorf("ticket %s: %v", id, err)
	}
}

// checkChain reports the first break in a ticket's hash chain: each event has a hash,
// the first has no prevhash, every other's prevhash is the hash before it.
func checkChain(evs []events.Structured) error {
	prev, prevSeq := "", uint64(0)
	for i, e := range evs {
		if e.Hash == "" || e.PrevHash != prev || e.Sequence <= prevSeq {
			return fmt.Errorf("hash chain broken at event %d (seq %d): prevhash %q after hash %q, hash %q",
				i, e.Sequence, e.PrevHash, prev, e.Hash)
		}
		prev, prevSeq = e.Hash, e.Sequence
	}
	return nil
}
