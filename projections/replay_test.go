package projections_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/projections"
)

// appendScript appends the script's events to a real store, each at its own time.
func appendScript(t *testing.T, store *events.Store, raws []events.Raw) {
	t.Helper()
	ctx := context.Background()
	for _, r := range raws {
		id, evs := "tk-"+r.TicketID, []events.Event{{Time: r.Time, Data: r.Data}}
		var err error
		if _, ok := r.Data.(events.Opened); ok {
			_, err = store.Append(ctx, events.Append{Tenant: r.Tenant, TicketID: id, Events: evs})
		} else {
			_, err = store.Update(ctx, id, func(events.Trail) ([]events.Event, error) { return evs, nil }, events.UpdateOptions{Attempts: 1})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestAsOfEqualsTheReportServedThen: the summary served at a moment, and the summary
// computed later by replaying the log up to that moment, are the same.
func TestAsOfEqualsTheReportServedThen(t *testing.T) {
	_, nc := eventstest.RunJetStream(t)
	store, err := events.NewStore(context.Background(), nc, events.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	moment := time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC) // T3 escalated, not yet resolved
	var before, after []events.Raw
	for _, r := range march().raws {
		if r.Time.After(moment) {
			after = append(after, r)
		} else {
			before = append(before, r)
		}
	}
	appendScript(t, store, before)
	live := open(t, vfs.NewMem(), 3)
	defer live.Close()
	if err := catchUp(t, live, store); err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	served, err := live.Summary("acme", from, to, moment)
	if err != nil {
		t.Fatal(err)
	}

	appendScript(t, store, after)
	past, err := projections.Replay(context.Background(), store, moment)
	if err != nil {
		t.Fatal(err)
	}
	defer past.Close()
	replayed, err := past.Summary("acme", from, to, moment)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := json.Marshal(served)
	r, _ := json.Marshal(replayed)
	if string(s) != string(r) {
		t.Errorf("as of %s:\nserved   %s\nreplayed %s", moment, s, r)
	}
	if served.Opened != 3 || served.Resolved != 3 || served.BacklogTotal != 1 {
		t.Errorf("the served report is not the fixture's state at %s: %s", moment, s)
	}
	now, err := projections.Replay(context.Background(), store, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer now.Close()
	if full, _ := now.Summary("acme", from, to, to); full.Resolved != 5 || full.Seq != uint64(len(march().raws)) {
		t.Errorf("a replay up to now has %d resolutions at seq %d", full.Resolved, full.Seq)
	}
}
