package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
)

// TestNATSDeployment walks deploy/README.md: nats init, nats-server with
// deploy/nats/nats-single.conf (listener and store moved to the test's own), nats provision
// with admin.creds and a partition count, a service's connection with its creds (refused
// while they were issued for another partition count), nats issue.
func TestNATSDeployment(t *testing.T) {
	root, start := singleNode(t)
	creds := filepath.Join(root, "credentials")
	var stdout, stderr strings.Builder
	if rc := natsCmd([]string{"init", "--out", creds, "--partitions", "8"}, &stdout, &stderr); rc != 0 {
		t.Fatalf("nats init: rc %d: %s", rc, stderr.String())
	}
	seed, err := os.ReadFile(filepath.Join(creds, natsauth.AccountSeedFile))
	if err != nil {
		t.Fatal(err)
	}
	if rc := natsCmd([]string{"init", "--out", creds}, &stdout, &stderr); rc != 0 { // for the default partition count
		t.Fatalf("second nats init: rc %d: %s", rc, stderr.String())
	}
	if again, _ := os.ReadFile(filepath.Join(creds, natsauth.AccountSeedFile)); string(again) != string(seed) {
		t.Fatal("a second nats init replaced the account key: every issued user would be locked out")
	}

	url := start(-1).ClientURL()

	if _, err := connectNATS(url, "", natsauth.RoleRouting); err == nil || !strings.Contains(err.Error(), "requires credentials: give --creds") {
		t.Fatalf("connect without creds: want a hint to give --creds, got %v", err)
	}
	if _, err := connectNATS(url, filepath.Join(creds, "auditor.creds"), natsauth.RoleRouting); err == nil ||
		!strings.Contains(err.Error(), `holds user "auditor", want the routing role's creds`) {
		t.Fatalf("connect as routing with auditor.creds: got %v", err)
	}
	provision := []string{"provision", "--nats", url, "--creds", filepath.Join(creds, "admin.creds"), "--partitions"}
	stdout.Reset()
	if rc := natsCmd(append(provision, "8"), &stdout, &stderr); rc != 0 || !strings.Contains(stdout.String(), "the ticket log has 8 partitions") {
		t.Fatalf("nats provision: rc %d: %s%s", rc, stdout.String(), stderr.String())
	}
	stderr.Reset()
	if rc := natsCmd(append(provision, "4"), &stdout, &stderr); rc != 1 || !strings.Contains(stderr.String(), "stream TICKETS has 8 partitions, the setting asks for 4") {
		t.Fatalf("nats provision with another partition count: rc %d: %s", rc, stderr.String())
	}
	routingCreds := filepath.Join(creds, "routing.creds")
	if err := checkCreds(routingCreds, natsauth.RoleRouting, 8); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("issued for %d partitions", events.DefaultPartitions)) ||
		!strings.Contains(err.Error(), "ledgerdesk nats init --out DIR --partitions 8") {
		t.Fatalf("creds of the default partition count on a log of 8: %v", err)
	}
	if rc := natsCmd([]string{"init", "--out", creds, "--partitions", "8"}, &stdout, &stderr); rc != 0 {
		t.Fatalf("nats init --partitions 8: rc %d: %s", rc, stderr.String())
	}
	if err := checkCreds(routingCreds, natsauth.RoleRouting, 8); err != nil {
		t.Fatalf("creds issued anew for the log: %v", err)
	}
	nc, err := connectNATS(url, routingCreds, natsauth.RoleRouting)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	if st, err := events.OpenStore(ctx, nc, events.StoreConfig{}); err != nil || st.Partitions() != 8 {
		t.Fatalf("routing opens the provisioned store: %v", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, reactor.DeadLetterStream); err != nil {
		t.Fatalf("routing opens the provisioned %s: %v", reactor.DeadLetterStream, err)
	}

	issued := filepath.Join(root, "acme-rmm.creds")
	if rc := natsCmd([]string{"issue", "--dir", creds, "--role", "auditor", "--name", "acme-rmm", "--out", issued}, &stdout, &stderr); rc != 0 {
		t.Fatalf("nats issue: rc %d: %s", rc, stderr.String())
	}
	if fi, err := os.Stat(issued); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("issued creds: %v; want mode 0600", err)
	}
	b, _ := os.ReadFile(issued)
	if user, err := natsauth.CredsUser(b); err != nil || user != "acme-rmm" {
		t.Fatalf("issued creds hold user %q (%v)", user, err)
	}
	if rc := natsCmd([]string{"issue", "--dir", creds, "--role", "routing", "--name", "routing-2", "--partitions", "8", "--out", issued}, &stdout, &stderr); rc != 0 {
		t.Fatalf("nats issue: rc %d: %s", rc, stderr.String())
	}
	if b, _ := os.ReadFile(issued); natsauth.CheckRoleCreds(natsauth.RoleRouting, b, 8) != nil {
		t.Fatal("nats issue --role routing --partitions 8: not routing's rights on a log of 8 partitions")
	}
	if rc := natsCmd([]string{"issue", "--dir", creds, "--role", "root", "--name", "x"}, &stdout, &stderr); rc != 1 ||
		!strings.Contains(stderr.String(), `--role "root": one of admin, auditor,`) {
		t.Fatalf("issue for an unknown role: rc %d: %s", rc, stderr.String())
	}
}

// singleNode copies deploy/nats/nats-single.conf into a directory of the test's, where
// its auth.conf is expected under credentials/, and returns the directory and how to start
// nats-server with it on port (-1: a free one; the store is the test's, the same for
// every start). The config must sync every write.
func singleNode(t *testing.T) (root string, start func(port int) *server.Server) {
	t.Helper()
	root = t.TempDir()
	conf, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nats", "nats-single.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "nats-single.conf"), conf, 0o600); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	return root, func(port int) *server.Server {
		return eventstest.RunConfigFile(t, filepath.Join(root, "nats-single.conf"), func(o *server.Options) {
			if !o.SyncAlways {
				t.Error("deploy config: want sync_interval: always")
			}
			o.Host, o.Port, o.StoreDir = "127.0.0.1", port, store
		})
	}
}
