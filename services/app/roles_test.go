package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/app"
)

// TestServicesRunOnTheirRoles runs the whole system, each service on its own role's
// connection, and checks that the role table gives each what it uses: routing assigns,
// SLA attaches its clock, reporting projects the ticket, and no connection is refused
// anything (a refusal only reaches the async error handler, which logs it).
func TestServicesRunOnTheirRoles(t *testing.T) {
	for _, name := range app.ServiceNames() {
		if !natsauth.Role(name).Valid() {
			t.Fatalf("service %q has no role of the same name in natsauth", name)
		}
	}
	core, logs := observer.New(zap.InfoLevel)
	dir := t.TempDir()
	sys, err := app.Start(context.Background(), app.RunConfig{
		DataDir: dir, HTTPAddr: "127.0.0.1:0", NATSListen: "127.0.0.1:-1", AdminToken: token,
		SeedConfigDir: filepath.Join("..", "..", "deploy", "demo-config"),
	}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Stop(context.Background()) })
	c := &client{t: t, base: "http://" + sys.HTTPAddr.String(), sys: sys}
	tk, _ := c.open()
	eventstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		var hist []struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(c.do("GET", "/v1/tickets/"+tk.ID+"/events", "").body, &hist); err != nil {
			return err
		}
		var types []string
		for _, e := range hist {
			types = append(types, e.Type)
		}
		if !slices.Contains(types, events.TypeAssigned) || !slices.Contains(types, events.TypeSLAAttached) {
			return fmt.Errorf("history %v: want routing's assignment and SLA's clock", types)
		}
		if r := c.do("GET", "/v1/tickets/"+tk.ID+"/view", ""); r.status != http.StatusOK {
			return fmt.Errorf("reporting view: %d %s", r.status, r.body)
		}
		return nil
	})
	if errs := logs.FilterMessage("nats error").All(); len(errs) > 0 {
		t.Fatalf("a role was refused something it uses: %v", errs[0].ContextMap())
	}
	if logs.FilterMessage("NATS credentials").Len() != 1 {
		t.Error("run does not log where the NATS credentials are")
	}
}
