package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/embedded"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
)

// TestAnAppendInFlightEndsWhenItsConnectionDrops: a request waiting for its answer ends
// with ErrAnswerLost as soon as the connection drops (the server went away), not when
// its timeout runs out; the handler the connection had is still called; a request released
// before is not touched.
func TestAnAppendInFlightEndsWhenItsConnectionDrops(t *testing.T) {
	keys, err := natsauth.Generate(events.DefaultPartitions)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := embedded.Start(embedded.Config{StoreDir: t.TempDir(), Auth: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	opts, err := keys.Connect(natsauth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	theirs := make(chan struct{}, 1)
	nc, err := nats.Connect(srv.ClientURL(), append(opts, nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { theirs <- struct{}{} }))...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.AccountInfo(context.Background()); err != nil {
		t.Fatal(err)
	}
	during := events.WatchDisconnects(nc)
	answered, release := during(context.Background())
	release()
	inFlight, release := during(context.Background())
	defer release()

	start := time.Now()
	srv.Shutdown()
	select {
	case <-inFlight.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the request in flight still waits 5 s after its server went away")
	}
	if !errors.Is(context.Cause(inFlight), events.ErrAnswerLost) {
		t.Errorf("the request in flight ended with %v, want ErrAnswerLost", context.Cause(inFlight))
	}
	if errors.Is(context.Cause(answered), events.ErrAnswerLost) {
		t.Error("a request answered before the drop was told of it")
	}
	select {
	case <-theirs:
	case <-time.After(time.Second):
		t.Error("the connection's own disconnect handler was not called")
	}
	t.Logf("ended %s after the server went away", time.Since(start).Round(time.Millisecond))
}
