package crash

import (
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// TestCheckChain makes sure the crash test's chain check can fail.
func TestCheckChain(t *testing.T) {
	good := []events.Structured{{Hash: "a", Sequence: 3}, {PrevHash: "a", Hash: "b", Sequence: 7}}
	if err := checkChain(good); err != nil {
		t.Fatalf("intact chain: %v", err)
	}
	for name, evs := range map[string][]events.Structured{
		"first has prevhash": {{PrevHash: "x", Hash: "a", Sequence: 1}},
		"link broken":        {{Hash: "a", Sequence: 1}, {PrevHash: "z", Hash: "b", Sequence: 2}},
		"hash missing":       {{Hash: "a", Sequence: 1}, {PrevHash: "a", Sequence: 2}},
		"sequence reversed":  {{Hash: "a", Sequence: 5}, {PrevHash: "a", Hash: "b", Sequence: 4}},
	} {
		if checkChain(evs) == nil {
			t.Errorf("%s: checkChain passed a broken chain", name)
		}
	}
}
