package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
)

// cluster is deploy/nats/nats-cluster.conf run on three nodes in-process: each node's
// client and monitoring listeners on free ports, its routes to the others' route ports
// (picked once, so that a restarted node comes back where the others look for it), its
// store in its own directory.
type cluster struct {
	t      *testing.T
	conf   string
	routes []string // each node's route listener, host:port
	stores []string
	nodes  []*server.Server
}

// startCluster runs the three nodes of deploy/nats/nats-cluster.conf with the trust in
// <root>/credentials.
func startCluster(t *testing.T, root string) *cluster {
	conf, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nats", "nats-cluster.conf"))
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, conf: filepath.Join(root, "nats-cluster.conf"), nodes: make([]*server.Server, 3)}
	if err := os.WriteFile(c.conf, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c.routes = append(c.routes, freeAddr(t))
		c.stores = append(c.stores, t.TempDir())
	}
	for i := range 3 {
		c.start(i)
	}
	return c
}

// start starts node i (again) from the config file, as `NATS_SERVER_NAME=nats-<i+1>
// nats-server -c nats-cluster.conf` would.
func (c *cluster) start(i int) {
	t := c.t
	t.Setenv("NATS_SERVER_NAME", fmt.Sprintf("nats-%d", i+1))
	c.nodes[i] = eventstest.RunConfigFile(t, c.conf, func(o *server.Options) {
		if !o.SyncAlways {
			t.Error("cluster config: want sync_interval: always")
		}
		if o.ServerName != fmt.Sprintf("nats-%d", i+1) || o.Cluster.Name != "ledgerdesk" || len(o.Routes) != 3 {
			t.Errorf("cluster config: server %q in cluster %q with %d routes, want nats-%d in ledgerdesk with 3", o.ServerName, o.Cluster.Name, len(o.Routes), i+1)
		}
		o.Host, o.Port, o.HTTPHost, o.HTTPPort, o.StoreDir = "127.0.0.1", -1, "127.0.0.1", -1, c.stores[i]
		host, port, _ := net.SplitHostPort(c.routes[i])
		o.Cluster.Host = host
		o.Cluster.Port, _ = strconv.Atoi(port)
		o.Routes = nil
		for j, r := range c.routes {
			if j != i {
				o.Routes = append(o.Routes, &url.URL{Scheme: "nats-route", Host: r})
			}
		}
	})
}

// waitForMetaLeader waits until the cluster has elected the leader of its JetStream meta
// group, which answers the JetStream API (a few seconds after the nodes start).
func (c *cluster) waitForMetaLeader() {
	eventstest.CheckFor(c.t, 30*time.Second, 100*time.Millisecond, func() error {
		for _, n := range c.nodes {
			if n.JetStreamIsLeader() {
				return nil
			}
		}
		return errors.New("no JetStream meta leader")
	})
}

// urls is every running node's client URL, as a comma-separated list nats.Connect takes.
func (c *cluster) urls() string {
	var urls []string
	for _, n := range c.nodes {
		if n != nil && n.Running() {
			urls = append(urls, n.ClientURL())
		}
	}
	return strings.Join(urls, ",")
}

// freeAddr is a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestNATSClusterDeployment walks deploy/README.md's cluster: nats init, three nodes of
// deploy/nats/nats-cluster.conf, nats provision (three replicas, since the server is in a
// cluster), then tickets opened and moved on through intake's creds while the node leading
// the log is stopped and started again: every acknowledged event is in the log afterwards,
// each ticket's chain intact, and all three replicas are current.
func TestNATSClusterDeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node cluster with a failover")
	}
	root := t.TempDir()
	creds := filepath.Join(root, "credentials")
	var stdout, stderr strings.Builder
	if rc := natsCmd([]string{"init", "--out", creds}, &stdout, &stderr); rc != 0 {
		t.Fatalf("nats init: rc %d: %s", rc, stderr.String())
	}
	c := startCluster(t, root)

	c.waitForMetaLeader()
	stdout.Reset()
	if rc := natsCmd([]string{"provision", "--nats", c.urls(), "--creds", filepath.Join(creds, "admin.creds")}, &stdout, &stderr); rc != 0 {
		t.Fatalf("nats provision: rc %d: %s", rc, stderr.String())
	}
	if !strings.Contains(stdout.String(), "(replicas: 3)") {
		t.Fatalf("nats provision on a cluster: %s, want 3 replicas", stdout.String())
	}

	nc, err := connectNATS(c.urls(), filepath.Join(creds, "intake.creds"), natsauth.RoleIntake)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store, err := events.OpenStore(ctx, nc, events.StoreConfig{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Intake may not look at the streams' clusters: the admin does.
	admin, err := connectNATS(c.urls(), filepath.Join(creds, "admin.creds"), natsauth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{events.StreamName, events.ConfigStreamName, reactor.DeadLetterStream} {
		s, err := js.Stream(ctx, name)
		if err != nil || s.CachedInfo().Config.Replicas != 3 {
			t.Fatalf("stream %s: %v; want 3 replicas", name, err)
		}
	}

	// Each round opens tickets and moves the last round's on, one atomic batch each way;
	// what the log acknowledged is what must be there afterwards.
	heads := map[string]events.Appended{} // acknowledged tickets and their heads
	round := func(r int) {
		var appends []events.Append
		for id, h := range heads {
			appends = append(appends, events.Append{Tenant: "acme", TicketID: id, ExpectedVersion: h.Version,
				PrevHash: h.Events[len(h.Events)-1].Hash, Events: []events.Event{{Data: events.Commented{Body: fmt.Sprintf("round %d", r)}, Actor: "test"}}})
		}
		for range 20 {
			appends = append(appends, events.Append{Tenant: "acme", TicketID: eventstest.NewTicketID(t),
				Events: []events.Event{{Data: eventstest.OpenedFixture(fmt.Sprintf("round %d", r)), Actor: "test"}}})
		}
		acked := 0
		for i, res := range store.AppendBatch(ctx, appends) {
			if res.Err == nil {
				heads[appends[i].TicketID] = res.Appended
				acked++
			}
		}
		t.Logf("round %d: %d of %d appends acknowledged", r, acked, len(appends))
	}
	for r := range 5 {
		round(r)
	}
	leader := c.leaderOf(ctx, js, events.StreamName)
	c.nodes[leader].Shutdown()
	c.nodes[leader].WaitForShutdown()
	for r := 5; r < 15; r++ {
		round(r)
	}
	c.start(leader)
	for r := 15; r < 20; r++ {
		round(r)
	}
	if len(heads) < 380 {
		t.Fatalf("only %d of 400 tickets acknowledged: the cluster did not go on without the node", len(heads))
	}

	eventstest.CheckFor(t, 30*time.Second, 250*time.Millisecond, func() error {
		info, err := streamInfo(ctx, js, events.StreamName)
		if err != nil {
			return err
		}
		if info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			return fmt.Errorf("stream %s's cluster: %+v, want a leader and two replicas", events.StreamName, info.Cluster)
		}
		for _, p := range info.Cluster.Replicas {
			if !p.Current || p.Offline {
				return fmt.Errorf("replica %s of %s not current", p.Name, events.StreamName)
			}
		}
		return nil
	})
	for id, h := range heads {
		tr, err := store.LoadTrail(ctx, id)
		if err != nil {
			t.Fatalf("acknowledged ticket %s: %v", id, err)
		}
		// The chain (checked as the trail is read) links the acknowledged head to every
		// event before it. An append that timed out may have been stored after it.
		if until := tr.Until(h.Version); len(until) == 0 || until[len(until)-1].Hash != h.Events[len(h.Events)-1].Hash {
			t.Fatalf("ticket %s lost its acknowledged head (seq %d)", id, h.Version)
		}
	}
}

// leaderOf is the index of the node that leads stream name.
func (c *cluster) leaderOf(ctx context.Context, js jetstream.JetStream, name string) int {
	c.t.Helper()
	info, err := streamInfo(ctx, js, name)
	if err != nil || info.Cluster == nil {
		c.t.Fatalf("stream %s's cluster: %v", name, err)
	}
	for i, n := range c.nodes {
		if n.Name() == info.Cluster.Leader {
			return i
		}
	}
	c.t.Fatalf("stream %s led by %q, none of the nodes", name, info.Cluster.Leader)
	return -1
}

// streamInfo is stream name's info as the server has it now.
func streamInfo(ctx context.Context, js jetstream.JetStream, name string) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}
