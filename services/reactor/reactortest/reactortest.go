// Package reactortest has helpers for tests of the reacting services: a real embedded
// JetStream with the event store, configuration applied to the CONFIG stream, tickets
// appended to the log, and a service run for the length of a test.
package reactortest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/services/app"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// Env is an embedded JetStream with the ticket store on it.
type Env struct {
	Conn  *nats.Conn
	Store *events.Store
}

// New starts an embedded JetStream for the test.
func New(t testing.TB) Env {
	t.Helper()
	_, nc := eventstest.RunJetStream(t)
	if err := app.ProvisionStreams(context.Background(), nc); err != nil {
		t.Fatal(err)
	}
	store, err := events.OpenStore(context.Background(), nc, events.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return Env{Conn: nc, Store: store}
}

// ApplyConfig stores doc (which must be valid) as the tenant's next configuration version.
func (e Env) ApplyConfig(t testing.TB, doc tenantconfig.Document) int {
	t.Helper()
	doc.SetDefaults()
	if err := doc.Validate(); err != nil {
		t.Fatalf("test configuration is invalid: %v", err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Store.ApplyConfig(context.Background(), doc.Tenant, b, "test")
	if err != nil {
		t.Fatal(err)
	}
	return int(v.Version)
}

// Open appends an opened ticket and returns its event.
func (e Env) Open(t testing.TB, tenant string, o events.Opened) events.Event {
	t.Helper()
	res, err := e.Store.Append(context.Background(), events.Append{Tenant: tenant, TicketID: eventstest.NewTicketID(t),
		Events: []events.Event{{Data: o}}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Events[0]
}

// Do appends a command's events to a ticket after its head, as intake would: through
// events.Store.Update, deciding again after a lost race.
func (e Env) Do(t testing.TB, ticketID string, cmd events.Payload) []events.Event {
	t.Helper()
	up, err := e.Store.Update(context.Background(), ticketID, func(h events.Trail) ([]events.Event, error) {
		decided, err := events.Decide(h.Ticket(), cmd, time.Now())
		if err != nil {
			return nil, fmt.Errorf("%T on ticket %s: %w", cmd, ticketID, err)
		}
		evs := make([]events.Event, len(decided))
		for i, p := range decided {
			evs[i] = events.Event{Data: p, Source: "/ledgerdesk/test", Actor: "tester"}
		}
		return evs, nil
	}, events.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return up.Events
}

// Events returns the ticket's events of a type, in order.
func (e Env) Events(t testing.TB, ticketID, typ string) []events.Raw {
	t.Helper()
	raws, _, err := e.Store.Load(context.Background(), ticketID)
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Raw
	for _, r := range raws {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Run creates a service with newService and runs it until stop or the test's end; it
// returns once the service consumes.
func (e Env) Run(t testing.TB, newService func(context.Context, reactor.Config) (*reactor.Service, error)) (stop func()) {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	svc, err := newService(context.Background(), reactor.Config{Conn: e.Conn, Store: e.Store, Logger: log,
		MaxRetries: 3, RetryInterval: 20 * time.Millisecond, AckWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return RunService(t, svc)
}

// RunService runs svc until stop or the test's end; it returns once the service consumes.
func RunService(t testing.TB, svc *reactor.Service) (stop func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- svc.Run(context.Background()) }()
	select {
	case <-svc.Running():
	case err := <-done:
		t.Fatalf("service ended before it ran: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = svc.Close()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}
