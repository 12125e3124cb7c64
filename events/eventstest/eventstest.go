// Package eventstest has test helpers shared by every module's tests: an embedded
// JetStream server per test and a polling helper.
package eventstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/ledgerdesk/ledgerdesk/events/embedded"
)

// RunJetStream starts an embedded JetStream server on a free port with its store in a
// temp dir and sync always, and a client connection to it; both end in t.Cleanup.
func RunJetStream(t testing.TB) (*server.Server, *nats.Conn) {
	t.Helper()
	s, err := embedded.Start(embedded.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded JetStream: %v", err)
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		s.Shutdown()
		t.Fatalf("connect to embedded JetStream: %v", err)
	}
	t.Cleanup(func() {
		nc.Close()
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s, nc
}

// CheckFor polls f until it returns nil or total elapses, then fails the test with f's last error.
func CheckFor(t testing.TB, total, interval time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(interval)
	}
	t.Fatalf("condition not met within %s: %v", total, err)
}
