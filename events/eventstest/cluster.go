package eventstest

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
)

// Cluster is deploy/nats/nats-cluster.conf run on three nodes in the test's process, as
// nats-server's own tests build clusters: each node named NodeName(i) (the config's
// NATS_SERVER_NAME), listening where its ClusterLayout says, its monitoring listener on a
// free port, its store in a directory of its own. Stop is a graceful shutdown (the node
// hands its leaderships over first); for a crash, run the nodes as processes
// (test/internal/ldproc).
type Cluster struct {
	ClusterLayout
	t      testing.TB
	conf   string
	stores []string
	Nodes  []*server.Server
}

// ClusterLayout is where each of ClusterNodes nodes listens: client and route ports on
// loopback, picked once so that a restarted node comes back where its clients and the
// other nodes look for it.
type ClusterLayout struct {
	Clients, Routes []string // host:port of each node's listener
}

// NewClusterLayout picks the ports of a cluster's nodes.
func NewClusterLayout(t testing.TB) ClusterLayout {
	t.Helper()
	var l ClusterLayout
	for range ClusterNodes {
		l.Clients, l.Routes = append(l.Clients, FreeAddr(t)), append(l.Routes, FreeAddr(t))
	}
	return l
}

// URLs is every node's client URL, comma-separated as nats.Connect and the --nats flag
// take them: a client reconnects to another node while one is stopped.
func (l ClusterLayout) URLs() string {
	var urls []string
	for _, a := range l.Clients {
		urls = append(urls, "nats://"+a)
	}
	return strings.Join(urls, ",")
}

// RoutesOf are node i's routes: every other node's route URL.
func (l ClusterLayout) RoutesOf(i int) []*url.URL {
	var routes []*url.URL
	for j, r := range l.Routes {
		if j != i {
			routes = append(routes, &url.URL{Scheme: "nats-route", Host: r})
		}
	}
	return routes
}

// NodeName is node i's server name, as its NATS_SERVER_NAME gives it.
func NodeName(i int) string { return fmt.Sprintf("nats-%d", i+1) }

// ClusterNodes is how many nodes deploy/nats/nats-cluster.conf names.
const ClusterNodes = 3

// StartCluster runs the cluster config file conf (deploy/nats/nats-cluster.conf) on
// ClusterNodes nodes with the trust in credsDir, a directory `ledgerdesk nats init --out`
// wrote whose name is "credentials" (the config includes ./credentials/auth.conf: the file
// is copied beside it), and waits until they have elected their JetStream meta leader;
// the nodes stop in t.Cleanup.
func StartCluster(t testing.TB, conf, credsDir string) *Cluster {
	t.Helper()
	if filepath.Base(credsDir) != "credentials" {
		t.Fatalf("eventstest: cluster creds in %s, want a directory named credentials", credsDir)
	}
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(filepath.Dir(credsDir), filepath.Base(conf))
	if err := os.WriteFile(copied, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{ClusterLayout: NewClusterLayout(t), t: t, conf: copied, Nodes: make([]*server.Server, ClusterNodes)}
	for range ClusterNodes {
		c.stores = append(c.stores, t.TempDir())
	}
	for i := range ClusterNodes {
		c.Start(i)
	}
	c.WaitForMetaLeader()
	return c
}

// Start starts node i (again) from the config file, as `NATS_SERVER_NAME=nats-<i+1>
// nats-server -c nats-cluster.conf` would.
func (c *Cluster) Start(i int) {
	t := c.t
	t.Helper()
	name := NodeName(i)
	t.Setenv("NATS_SERVER_NAME", name)
	c.Nodes[i] = RunConfigFile(t, c.conf, func(o *server.Options) {
		if !o.SyncAlways {
			t.Error("cluster config: want sync_interval: always")
		}
		if o.ServerName != name || o.Cluster.Name == "" || len(o.Routes) != ClusterNodes {
			t.Errorf("cluster config: server %q in cluster %q with %d routes, want %s with %d", o.ServerName, o.Cluster.Name, len(o.Routes), name, ClusterNodes)
		}
		o.Host, o.Port = hostPort(c.Clients[i])
		o.Cluster.Host, o.Cluster.Port = hostPort(c.Routes[i])
		o.HTTPHost, o.HTTPPort, o.StoreDir = "127.0.0.1", -1, c.stores[i]
		o.Routes = c.RoutesOf(i)
	})
}

// Stop stops node i as a crash would end it, without a goodbye (its store stays).
func (c *Cluster) Stop(i int) {
	c.Nodes[i].Shutdown()
	c.Nodes[i].WaitForShutdown()
}

// WaitForMetaLeader waits until the cluster has elected the leader of its JetStream meta
// group, which answers the JetStream API (a few seconds after the nodes start).
func (c *Cluster) WaitForMetaLeader() {
	c.t.Helper()
	CheckFor(c.t, 30*time.Second, 100*time.Millisecond, func() error {
		for _, n := range c.Nodes {
			if n.Running() && n.JetStreamIsLeader() {
				return nil
			}
		}
		return errors.New("no JetStream meta leader")
	})
}

// LeaderOf is the index of the node that leads stream name (js needs the rights to
// look at the stream, an admin's or an auditor's).
func (c *Cluster) LeaderOf(ctx context.Context, js jetstream.JetStream, name string) int {
	c.t.Helper()
	return NodeIndex(c.t, StreamLeader(ctx, c.t, js, name))
}

// NodeIndex is the index of the node of deploy/nats/nats-cluster.conf named name (nats-<i+1>).
func NodeIndex(t testing.TB, name string) int {
	t.Helper()
	for i := range ClusterNodes {
		if NodeName(i) == name {
			return i
		}
	}
	t.Fatalf("server %q is none of the cluster's nodes", name)
	return -1
}

// StreamLeader is the name of the server that leads stream name now.
func StreamLeader(ctx context.Context, t testing.TB, js jetstream.JetStream, name string) string {
	t.Helper()
	info, err := StreamInfo(ctx, js, name)
	if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("stream %s's leader: %v", name, err)
	}
	return info.Cluster.Leader
}

// WaitForReplicasCurrent waits until stream name of a cluster of ClusterNodes has a
// leader and every other node's replica is current.
func WaitForReplicasCurrent(ctx context.Context, t testing.TB, js jetstream.JetStream, name string) {
	t.Helper()
	CheckFor(t, 30*time.Second, 250*time.Millisecond, func() error {
		info, err := StreamInfo(ctx, js, name)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != ClusterNodes-1 {
			return fmt.Errorf("stream %s's cluster: %+v, want a leader and %d replicas", name, info.Cluster, ClusterNodes-1)
		}
		for _, p := range info.Cluster.Replicas {
			if !p.Current || p.Offline {
				return fmt.Errorf("replica %s of %s not current", p.Name, name)
			}
		}
		return nil
	})
}

// StreamInfo is stream name's info as the server has it now.
func StreamInfo(ctx context.Context, js jetstream.JetStream, name string) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}

// hostPort splits a host:port FreeAddr made.
func hostPort(addr string) (string, int) {
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return host, n
}

// FreeAddr returns a loopback host:port that was free a moment ago (listen on :0, close).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
