package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
)

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
	c := eventstest.StartCluster(t, filepath.Join("..", "..", "deploy", "nats", "nats-cluster.conf"), creds)
	stdout.Reset()
	if rc := natsCmd([]string{"provision", "--nats", c.URLs(), "--creds", filepath.Join(creds, "admin.creds")}, &stdout, &stderr); rc != 0 {
		t.Fatalf("nats provision: rc %d: %s", rc, stderr.String())
	}
	if !strings.Contains(stdout.String(), "(replicas: 3)") {
		t.Fatalf("nats provision on a cluster: %s, want 3 replicas", stdout.String())
	}

	nc, err := connectNATS(c.URLs(), filepath.Join(creds, "intake.creds"), natsauth.RoleIntake)
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
	admin, err := connectNATS(c.URLs(), filepath.Join(creds, "admin.creds"), natsauth.RoleAdmin)
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
	leader := c.LeaderOf(ctx, js, events.StreamName)
	c.Stop(leader)
	for r := 5; r < 15; r++ {
		round(r)
	}
	c.Start(leader)
	for r := 15; r < 20; r++ {
		round(r)
	}
	if len(heads) < 380 {
		t.Fatalf("only %d of 400 tickets acknowledged: the cluster did not go on without the node", len(heads))
	}

	eventstest.WaitForReplicasCurrent(ctx, t, js, events.StreamName)
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
