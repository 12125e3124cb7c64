package app_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/embedded"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/app"
)

// runOn starts run on dir with partitions and no service beside intake.
func runOn(dir string, partitions int) (*app.System, error) {
	return app.Start(context.Background(), app.RunConfig{DataDir: dir, HTTPAddr: "127.0.0.1:0", NATSListen: "127.0.0.1:-1",
		AdminToken: token, Services: []string{}, Partitions: partitions}, zap.NewNop())
}

// TestPartitionsComeFromTheLog: a new data directory's log gets --partitions; later runs
// take the log's whatever their setting is 0, refuse another, and every role's creds
// file holds the rights for the log's count, issued anew when it was issued for another.
func TestPartitionsComeFromTheLog(t *testing.T) {
	dir := t.TempDir()
	credsFile := func(r natsauth.Role) string { return filepath.Join(dir, app.CredentialsDir, natsauth.CredsFile(r)) }
	checkCreds := func(n int) {
		t.Helper()
		for _, r := range natsauth.Roles() {
			b, err := os.ReadFile(credsFile(r))
			if err == nil {
				err = natsauth.CheckRoleCreds(r, b, n)
			}
			if err != nil {
				t.Errorf("%s: %v", natsauth.CredsFile(r), err)
			}
		}
	}
	sys, err := runOn(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	if n := sys.Store.Partitions(); n != 4 {
		t.Fatalf("a new log with --partitions 4 has %d", n)
	}
	checkCreds(4)
	// Creds issued for another partition count, as by nats init with the default.
	stale, err := sys.Keys.IssueRole(natsauth.RoleRouting, events.DefaultPartitions)
	if err != nil {
		t.Fatal(err)
	}
	sys.Stop(context.Background())
	if err := natsauth.WritePrivate(credsFile(natsauth.RoleRouting), stale); err != nil {
		t.Fatal(err)
	}

	if sys, err = runOn(dir, 0); err != nil {
		t.Fatal(err)
	}
	if n := sys.Store.Partitions(); n != 4 {
		t.Errorf("the log of 4 partitions run without --partitions: %d", n)
	}
	checkCreds(4)
	sys.Stop(context.Background())

	if sys, err = runOn(dir, 8); err == nil {
		sys.Stop(context.Background())
		t.Fatal("run with --partitions 8 on a log of 4 started")
	} else if !strings.Contains(err.Error(), "stream TICKETS has 4 partitions, the setting asks for 8") {
		t.Fatalf("run with --partitions 8 on a log of 4: %v", err)
	}
}

// TestRunRefusesALogOfLayout1: a data directory of a release before partitions is refused
// with what to do, and nothing is added to it.
func TestRunRefusesALogOfLayout1(t *testing.T) {
	dir := t.TempDir()
	keys, err := natsauth.LoadOrCreateTrust(filepath.Join(dir, app.CredentialsDir))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := embedded.Start(embedded.Config{StoreDir: dir, Auth: keys})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := app.EmbeddedAdmin(srv, keys)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	old := events.StreamConfig(events.StoreConfig{})
	old.SubjectTransform, old.Metadata = nil, nil
	if _, err := js.CreateStream(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	srv.Shutdown()
	srv.WaitForShutdown()

	sys, err := runOn(dir, 0)
	if err == nil {
		sys.Stop(context.Background())
		t.Fatal("run on a log of layout 1 started")
	}
	for _, want := range []string{"stream TICKETS has log layout 1", "fresh data directory", "the release that wrote it still reads the old one"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("run on a log of layout 1: %v; want it to say %q", err, want)
		}
	}
}
