package eventstest

import (
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// Seal links a log written by hand into hash chains, one per ticket, as Append would
// store it: each event gets its data encoded, the previous event of its ticket as
// PrevHash, and its Hash. Sequences and every other attribute are kept.
func Seal(t testing.TB, log []events.Raw) []events.Raw {
	t.Helper()
	heads := map[string]string{}
	out := make([]events.Raw, len(log))
	for i, r := range log {
		sealed, err := events.Seal(r.Event, heads[r.TicketID])
		if err != nil {
			t.Fatalf("seal event %d: %v", i, err)
		}
		sealed.Sequence = r.Sequence
		heads[r.TicketID] = sealed.Hash
		out[i] = sealed
	}
	return out
}
