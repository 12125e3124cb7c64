// Package eventstest has test helpers shared by every module's tests: an embedded
// JetStream server per test (with authentication, as always), connections to it as any
// role, and a polling helper.
package eventstest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/embedded"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
)

// keys holds the trust of every server RunJetStream started, for Connect.
var keys sync.Map // *server.Server → *natsauth.Keys

// RunJetStream starts an embedded JetStream server on a free port with its store in a
// temp dir, sync always and new keys, and an admin connection to it (the role that may
// create streams); both end in t.Cleanup. Connect gives connections as other roles.
func RunJetStream(t testing.TB) (*server.Server, *nats.Conn) {
	t.Helper()
	k, err := natsauth.Generate(events.DefaultPartitions)
	if err != nil {
		t.Fatalf("generate NATS keys: %v", err)
	}
	s, err := embedded.Start(embedded.Config{StoreDir: t.TempDir(), Auth: k})
	if err != nil {
		t.Fatalf("start embedded JetStream: %v", err)
	}
	keys.Store(s, k)
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
		keys.Delete(s)
	})
	return s, Connect(t, s, natsauth.RoleAdmin)
}

// Keys returns the trust of a server RunJetStream started.
func Keys(t testing.TB, s *server.Server) *natsauth.Keys {
	t.Helper()
	k, ok := keys.Load(s)
	if !ok {
		t.Fatal("eventstest: server not started by RunJetStream")
	}
	return k.(*natsauth.Keys)
}

// Connect connects to a server RunJetStream started as role (its creds and inbox
// prefix); the connection closes in t.Cleanup.
func Connect(t testing.TB, s *server.Server, role natsauth.Role, opts ...nats.Option) *nats.Conn {
	t.Helper()
	roleOpts, err := Keys(t, s).Connect(role)
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	nc, err := nats.Connect(s.ClientURL(), append(append(roleOpts, nats.Name("test-"+string(role))), opts...)...)
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// RunConfigFile starts a nats-server from a config file, as `nats-server -c path` would,
// after adjust (nil for none) changed the parsed options (say, a free port for the
// config's fixed one); it ends in t.Cleanup.
func RunConfigFile(t testing.TB, path string, adjust func(*server.Options)) *server.Server {
	t.Helper()
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server refuses %s: %v", path, err)
	}
	opts.NoLog, opts.NoSigs = true, true
	if adjust != nil {
		adjust(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("start nats-server with %s: %v", path, err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatalf("nats-server with %s not ready", path)
	}
	return s
}

// Try runs do on a fresh connection that connect opens with the options given (a role's),
// and returns nil when do succeeded, the server's permissions violation when it refused
// what do tried. nats.go reports a refused publish only to the async error handler, so
// do's own error (a timeout) is not waited for; do failing otherwise fails the test.
func Try(t testing.TB, connect func(...nats.Option) *nats.Conn, what string, do func(context.Context, *nats.Conn, jetstream.JetStream) error) (violation error) {
	t.Helper()
	violations := make(chan error, 16)
	nc := connect(nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			select {
			case violations <- err:
			default:
			}
		}
	}))
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- do(ctx, nc, js) }()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
		select { // a refused request may fail (say, no responders) before the handler runs
		case v := <-violations:
			return v
		case <-time.After(time.Second):
		}
		t.Fatalf("%s: neither done nor refused by permissions: %v", what, err)
	case v := <-violations:
		cancel()
		<-done
		return v
	}
	return nil
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
