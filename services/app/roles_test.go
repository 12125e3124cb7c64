package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/app"
)

// TestServicesRunOnTheirRoles runs the whole system, each service on its own role's
// connection, and checks that the role table gives each what it uses: routing assigns,
// SLA attaches its clock, reporting projects the ticket, and no connection is refused
// anything (a refusal only reaches the async error handler, which logs it).
func TestServicesRunOnTheirRoles(t *testing.T) {
	for _, name := range app.ServiceNames() {
		if !natsauth.Role(name).Valid() {
			t.Fatalf("service %q has no role of the same name in natsauth", name)
		}
	}
	core, logs := observer.New(zap.InfoLevel)
	dir := t.TempDir()
	sys, err := app.Start(context.Background(), app.RunConfig{
		DataDir: dir, HTTPAddr: "127.0.0.1:0", NATSListen: "127.0.0.1:-1", AdminToken: token,
		SeedConfigDir: filepath.Join("..", "..", "deploy", "demo-config"),
	}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the stop, so it runs after it: what the services do as they stop
	// (routing writes its view's snapshot) is on their role connections too.
	t.Cleanup(func() {
		if errs := logs.FilterMessage("nats error").All(); len(errs) > 0 {
			t.Errorf("a role was refused something it uses while stopping: %v", errs[0].ContextMap())
		}
	})
	t.Cleanup(func() { sys.Stop(context.Background()) })
	c := &client{t: t, base: "http://" + sys.HTTPAddr.String(), sys: sys}
	tk, _ := c.open()
	eventstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		var hist []struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(c.do("GET", "/v1/tickets/"+tk.ID+"/events", "").body, &hist); err != nil {
			return err
		}
		var types []string
		for _, e := range hist {
			types = append(types, e.Type)
		}
		if !slices.Contains(types, events.TypeAssigned) || !slices.Contains(types, events.TypeSLAAttached) {
			return fmt.Errorf("history %v: want routing's assignment and SLA's clock", types)
		}
		if r := c.do("GET", "/v1/tickets/"+tk.ID+"/view", ""); r.status != http.StatusOK {
			return fmt.Errorf("reporting view: %d %s", r.status, r.body)
		}
		return nil
	})
	if errs := logs.FilterMessage("nats error").All(); len(errs) > 0 {
		t.Fatalf("a role was refused something it uses: %v", errs[0].ContextMap())
	}
	if logs.FilterMessage("NATS credentials").Len() != 1 {
		t.Error("run does not log where the NATS credentials are")
	}
	checkPartitionRights(t, c)
}

// checkPartitionRights exercises, with the creds run issued for the log's partition
// count, the rights of the partitioned runtime on the last partition's durables: each
// reacting service unpins its own and puts its own replica leases in MEMBERS, and
// neither another role's durables nor its leases.
func checkPartitionRights(t *testing.T, c *client) {
	js := c.adminJetStream()
	ctx := context.Background()
	last := events.PartitionConsumer("", c.sys.Store.Partitions()-1)
	roles := []natsauth.Role{natsauth.RoleRouting, natsauth.RoleSLA, natsauth.RoleEscalation}
	handler := map[natsauth.Role]string{natsauth.RoleRouting: "routing-tickets", natsauth.RoleSLA: "sla-tickets", natsauth.RoleEscalation: "escalation-tickets"}
	group := map[natsauth.Role]string{} // each durable's priority group, as the runtime made it
	for _, r := range roles {
		cons, err := js.Consumer(ctx, events.StreamName, handler[r]+last)
		if err != nil {
			t.Fatalf("%s: the runtime's durable of the last partition: %v", r, err)
		}
		if groups := cons.CachedInfo().Config.PriorityGroups; len(groups) == 1 {
			group[r] = groups[0]
		} else {
			t.Fatalf("%s%s: priority groups %v, want one", handler[r], last, groups)
		}
	}
	unpin := func(r natsauth.Role) func(context.Context, *nats.Conn, jetstream.JetStream) error {
		return func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
			s, err := js.Stream(ctx, events.StreamName)
			if err != nil {
				return err
			}
			return s.UnpinConsumer(ctx, handler[r]+last, group[r])
		}
	}
	lease := func(key string) func(context.Context, *nats.Conn, jetstream.JetStream) error {
		return func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
			kv, err := js.KeyValue(ctx, natsauth.BucketMembers)
			if err == nil {
				_, err = kv.Put(ctx, key, []byte("lease"))
			}
			return err
		}
	}
	for i, r := range roles {
		other := roles[(i+1)%len(roles)]
		connect := func(opts ...nats.Option) *nats.Conn {
			roleOpts, err := c.sys.Keys.Connect(r)
			if err != nil {
				t.Fatal(err)
			}
			nc, err := nats.Connect(c.sys.NATS.ClientURL(), append(roleOpts, opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			return nc
		}
		for _, tc := range []struct {
			what    string
			do      func(context.Context, *nats.Conn, jetstream.JetStream) error
			allowed bool
		}{
			{"unpin its own partition durable", unpin(r), true},
			{"put its own lease", lease(string(r) + ".i1"), true},
			{"unpin " + string(other) + "'s partition durable", unpin(other), false},
			{"put " + string(other) + "'s lease", lease(string(other) + ".i2"), false},
		} {
			if v := eventstest.Try(t, connect, string(r)+": "+tc.what, tc.do); (v == nil) != tc.allowed {
				t.Errorf("%s: %s: allowed %v, want %v (%v)", r, tc.what, v == nil, tc.allowed, v)
			}
		}
	}
}
