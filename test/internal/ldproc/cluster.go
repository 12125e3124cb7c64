package ldproc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
)

// natsServerVersion is the nats-server the cluster suites run as processes: the version
// `ledgerdesk run` embeds.
const natsServerVersion = "v2.15.2"

// NATSServer returns the path of the real nats-server: the one on PATH, else one built
// with `go install github.com/nats-io/nats-server/v2@` + natsServerVersion into the user
// cache (through the Go module proxy; the first build takes a minute or two).
func NATSServer(t testing.TB) string {
	t.Helper()
	return tool(t, "nats-server", "nats-server", "github.com/nats-io/nats-server/v2", natsServerVersion)
}

// NATSCluster is deploy/nats/nats-cluster.conf run as three nats-server processes, as an
// operator runs it, keys from `ledgerdesk nats init` and streams from `ledgerdesk nats
// provision` (three replicas): a node can be SIGKILLed as a crash ends it, and started
// again on its store and ports.
type NATSCluster struct {
	eventstest.ClusterLayout
	Server   // its URLs and creds
	t        testing.TB
	bin      string   // nats-server
	confs    []string // each node's copy of the config
	monitors []string // each node's monitoring base URL
	nodes    []*Proc
	admin    jetstream.JetStream
}

// StartNATSCluster runs the cluster with ledgerdesk's bin and returns it once its streams
// are provisioned.
func StartNATSCluster(t testing.TB, bin string) *NATSCluster {
	t.Helper()
	root := t.TempDir()
	creds := filepath.Join(root, "credentials")
	if out, err := exec.Command(bin, "nats", "init", "--out", creds).CombinedOutput(); err != nil {
		t.Fatalf("nats init: %v\n%s", err, out)
	}
	conf, err := os.ReadFile(filepath.Join(RepoRoot(t), "deploy", "nats", "nats-cluster.conf"))
	if err != nil {
		t.Fatal(err)
	}
	c := &NATSCluster{ClusterLayout: eventstest.NewClusterLayout(t), t: t, bin: NATSServer(t), nodes: make([]*Proc, eventstest.ClusterNodes)}
	c.Server = External{URL: c.URLs(), CredsDir: creds}
	for i := range eventstest.ClusterNodes {
		// Each node's copy sits beside credentials/, which it includes, with its store moved
		// to the test's own (nats-server refuses -sd beside a store_dir).
		own := strings.Replace(string(conf), `store_dir: "/data/nats"`, fmt.Sprintf("store_dir: %q", t.TempDir()), 1)
		if own == string(conf) {
			t.Fatal(`deploy/nats/nats-cluster.conf: no store_dir: "/data/nats" to move`)
		}
		path := filepath.Join(root, eventstest.NodeName(i)+".conf")
		if err := os.WriteFile(path, []byte(own), 0o600); err != nil {
			t.Fatal(err)
		}
		c.confs = append(c.confs, path)
		c.monitors = append(c.monitors, "http://"+eventstest.FreeAddr(t))
		c.Start(i)
	}
	for i := range eventstest.ClusterNodes {
		c.waitHealthy(i)
	}
	out, err := exec.Command(bin, "nats", "provision", "--nats", c.URLs(), "--creds", filepath.Join(creds, "admin.creds")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "(replicas: 3)") {
		t.Fatalf("nats provision: %v: %s", err, out)
	}
	if c.admin, err = jetstream.New(Connect(t, c, natsauth.RoleAdmin)); err != nil {
		t.Fatal(err)
	}
	return c
}

// Start starts node i (again), as `NATS_SERVER_NAME=nats-<i+1> nats-server -c
// nats-cluster.conf` with its listeners and routes moved to the test's own (flags) and its
// store (its copy of the file), and returns once it accepts clients.
func (c *NATSCluster) Start(i int) {
	t := c.t
	t.Helper()
	host, port, _ := net.SplitHostPort(c.Clients[i])
	var routes []string
	for _, r := range c.RoutesOf(i) {
		routes = append(routes, r.String())
	}
	_, monitor, _ := net.SplitHostPort(strings.TrimPrefix(c.monitors[i], "http://"))
	args := []string{"-c", c.confs[i], "-a", host, "-p", port, "-m", monitor,
		"--cluster", "nats://" + c.Routes[i], "--routes", strings.Join(routes, ",")}
	p := spawn(t, c.bin, args, "NATS_SERVER_NAME="+eventstest.NodeName(i))
	p.crashOnly = true
	c.nodes[i] = p
	eventstest.CheckFor(t, readyTimeout, 50*time.Millisecond, func() error {
		if p.Exited() {
			t.Fatalf("nats-server %s exited: %v\n%s", eventstest.NodeName(i), p.waitErr, p.LogTail(20))
		}
		conn, err := net.DialTimeout("tcp", c.Clients[i], time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

// waitHealthy waits until node i's /healthz answers 200: it is in touch with the
// JetStream meta leader and its assets are current (nats-server's own health check, the
// one deploy/ points probes at).
func (c *NATSCluster) waitHealthy(i int) {
	c.t.Helper()
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	eventstest.CheckFor(c.t, readyTimeout, 100*time.Millisecond, func() error {
		resp, err := client.Get(c.monitors[i] + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("nats-server %s /healthz: %s", eventstest.NodeName(i), resp.Status)
		}
		return nil
	})
}

// Kill SIGKILLs node i: no goodbye, no leadership handed over, as a crash or a power cut
// of that machine.
func (c *NATSCluster) Kill(i int) { c.nodes[i].Kill(c.t) }

// LeaderOf is the index of the node that leads stream name now.
func (c *NATSCluster) LeaderOf(ctx context.Context, name string) int {
	c.t.Helper()
	return eventstest.NodeIndex(c.t, eventstest.StreamLeader(ctx, c.t, c.admin, name))
}

// WaitForReplicasCurrent waits until every node's replica of stream name is current.
func (c *NATSCluster) WaitForReplicasCurrent(ctx context.Context, name string) {
	c.t.Helper()
	eventstest.WaitForReplicasCurrent(ctx, c.t, c.admin, name)
}
