package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/projections"
	"github.com/ledgerdesk/ledgerdesk/services/app"
)

// TestProjectionsRebuild: after `ledgerdesk run` stopped, `projections rebuild` rebuilds
// the read models of its data directory from the whole log.
func TestProjectionsRebuild(t *testing.T) {
	dir := t.TempDir()
	sys, err := app.Start(context.Background(), app.RunConfig{DataDir: dir, HTTPAddr: "127.0.0.1:0", NATSListen: "127.0.0.1:-1",
		AdminToken: "t", Services: []string{}}, zap.NewNop()) // no reporting: nothing is projected while it runs
	if err != nil {
		t.Fatal(err)
	}
	var last events.Event
	for range 3 {
		res, err := sys.Store.Append(context.Background(), events.Append{Tenant: "acme", TicketID: eventstest.NewTicketID(t),
			Events: []events.Event{{Data: eventstest.OpenedFixture("printer")}}})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Events[0]
	}
	sys.Stop(context.Background())

	var stdout, stderr strings.Builder
	if rc := projectionsCmd([]string{"rebuild", "--data", dir}, &stdout, &stderr); rc != 0 {
		t.Fatalf("rc %d: %s", rc, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "rebuilt the read models from 3 events in ") {
		t.Errorf("output %q", stdout.String())
	}
	p, err := projections.Open(filepath.Join(dir, app.ProjectionsDir), projections.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if v, seq, err := p.Ticket(last.TicketID); err != nil || seq != last.Sequence || v.Ticket.Title != "printer" {
		t.Errorf("rebuilt view %+v at seq %d (%v), want seq %d", v, seq, err, last.Sequence)
	}
	if rc := projectionsCmd([]string{"compact"}, &stdout, &stderr); rc != 2 {
		t.Errorf("unknown subcommand: rc %d", rc)
	}
}
