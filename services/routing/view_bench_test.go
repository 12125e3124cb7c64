package routing_test

import (
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/routing"
)

// BenchmarkViewOpenTickets applies opened, routed and assigned for b.N tickets and
// reports the heap the view keeps per open ticket. Every event carries its own copies of
// the strings, as decoding a message gives them, and is sealed into its ticket's chain.
func BenchmarkViewOpenTickets(b *testing.B) {
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7()).String()
	}
	fresh := func(s string, i int) string { return strings.Clone(s + strconv.Itoa(i)) }
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	v := routing.NewView()
	seq := uint64(0)
	for i, id := range ids {
		prev := ""
		for _, p := range []events.Payload{events.Opened{}, events.Routed{Group: fresh("group", i%7), Tier: 1}, events.Assigned{Agent: fresh("agent", i%50)}} {
			seq++
			r, err := events.Seal(events.Event{Tenant: fresh("tenant", i%3), TicketID: strings.Clone(id), Data: p}, prev)
			if err != nil {
				b.Fatal(err)
			}
			r.Sequence, prev = seq, r.Hash
			v.Apply(r)
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "heap-B/ticket")
	runtime.KeepAlive(v)
	runtime.KeepAlive(ids)
}
