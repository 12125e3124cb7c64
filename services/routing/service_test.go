package routing_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
	"github.com/ledgerdesk/ledgerdesk/services/reactor/reactortest"
	"github.com/ledgerdesk/ledgerdesk/services/routing"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

func document() tenantconfig.Document {
	return tenantconfig.Document{
		Tenant: "acme",
		Groups: []tenantconfig.Group{
			{ID: "desk", Tier: 1, Strategy: tenantconfig.RoundRobin, Agents: []tenantconfig.Agent{{ID: "alice"}, {ID: "avi"}}},
			{ID: "network", Tier: 2, Strategy: tenantconfig.LeastLoaded, Agents: []tenantconfig.Agent{{ID: "nina"}, {ID: "ned"}}},
		},
		DefaultGroup: "desk",
		RoutingRules: []tenantconfig.RoutingRule{
			{ID: "network-outages", Match: tenantconfig.RouteMatch{Categories: []string{"network"}, Keywords: []string{"outage"}}, Group: "network"},
		},
	}
}

func opened(title, category string) events.Opened {
	o := eventstest.OpenedFixture(title)
	o.Category = category
	return o
}

func routedOnce(t *testing.T, env reactortest.Env, ticket string, n int) ([]events.Raw, []events.Raw) {
	t.Helper()
	var routed, assigned []events.Raw
	eventstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		routed, assigned = env.Events(t, ticket, events.TypeRouted), env.Events(t, ticket, events.TypeAssigned)
		if len(routed) < n || len(assigned) < n {
			return fmt.Errorf("%d routed and %d assigned, want %d", len(routed), len(assigned), n)
		}
		return nil
	})
	return routed, assigned
}

func TestRoutesByRuleAndStrategyAndReplaysNothing(t *testing.T) {
	env := reactortest.New(t)
	version := env.ApplyConfig(t, document())
	stop := env.Run(t, routing.New)

	outage := env.Open(t, "acme", opened("WAN outage in Berlin", "network"))
	routed, assigned := routedOnce(t, env, outage.TicketID, 1)
	r := routed[0].Data.(events.Routed)
	a := assigned[0].Data.(events.Assigned)
	if r != (events.Routed{Group: "network", Tier: 2, RuleID: "network-outages", RuleVersion: version}) {
		t.Errorf("routed %+v", r)
	}
	if a.Agent != "nina" || a.Strategy != "least_loaded" || a.RuleID != "network-outages" {
		t.Errorf("assigned %+v", a)
	}
	if routed[0].CausationID != outage.ID || assigned[0].CausationID != outage.ID {
		t.Errorf("causation %s / %s, want the opened event %s", routed[0].CausationID, assigned[0].CausationID, outage.ID)
	}
	// least_loaded: nina has one open ticket now, so the next outage goes to ned.
	second := env.Open(t, "acme", opened("another outage", "network"))
	if _, as := routedOnce(t, env, second.TicketID, 1); as[0].Data.(events.Assigned).Agent != "ned" {
		t.Errorf("second outage assigned to %+v, want ned", as[0].Data)
	}
	// No rule matches: the default group at tier 1, round robin.
	var agents []string
	var tickets []string
	for i := range 3 {
		o := env.Open(t, "acme", opened(fmt.Sprintf("printer %d jammed", i), "printing"))
		rs, as := routedOnce(t, env, o.TicketID, 1)
		if got := rs[0].Data.(events.Routed); got.Group != "desk" || got.Tier != 1 || got.RuleID != routing.RuleDefaultGroup {
			t.Errorf("unmatched ticket routed %+v", got)
		}
		agents = append(agents, as[0].Data.(events.Assigned).Agent)
		tickets = append(tickets, o.TicketID)
	}
	if fmt.Sprint(agents) != "[alice avi alice]" {
		t.Errorf("round robin gave %v", agents)
	}
	// Recategorizing re-routes.
	env.Do(t, tickets[0], events.Recategorized{Category: "network"})
	env.Do(t, tickets[0], events.Commented{Body: "mentions an outage now"}) // no effect
	if rs, _ := routedOnce(t, env, tickets[0], 2); rs[1].Data.(events.Routed).Group != "desk" {
		t.Errorf("recategorized ticket re-routed to %+v (its title has no outage keyword)", rs[1].Data)
	}

	// A tenant whose only agent is away: routed, not assigned. The agent comes back
	// before the replay below, which must not assign the ticket after the fact.
	away, back := false, true
	globex := tenantconfig.Document{Tenant: "globex", DefaultGroup: "desk",
		Groups: []tenantconfig.Group{{ID: "desk", Tier: 1, Agents: []tenantconfig.Agent{{ID: "gus", Available: &away}}}}}
	env.ApplyConfig(t, globex)
	unassigned := env.Open(t, "globex", opened("nobody here", "printing"))
	eventstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := len(env.Events(t, unassigned.TicketID, events.TypeRouted)); n != 1 {
			return fmt.Errorf("routed %d times", n)
		}
		return nil
	})
	globex.Groups[0].Agents[0].Available = &back
	env.ApplyConfig(t, globex)

	// Replay the whole log: drop the durable consumers while the service is down.
	stop()
	js, _ := jetstream.New(env.Conn)
	for p := range env.Store.Partitions() {
		if err := js.DeleteConsumer(context.Background(), events.StreamName, events.PartitionConsumer(routing.Name+"-tickets", p)); err != nil {
			t.Fatal(err)
		}
	}
	env.Run(t, routing.New)
	probe := env.Open(t, "acme", opened("after the replay", "printing"))
	routedOnce(t, env, probe.TicketID, 1) // the replay has reached the end of the log
	for _, id := range append(tickets[1:], outage.TicketID, second.TicketID) {
		if n := len(env.Events(t, id, events.TypeRouted)); n != 1 {
			t.Errorf("ticket %s routed %d times after a replay, want 1", id, n)
		}
	}
	if n := len(env.Events(t, unassigned.TicketID, events.TypeAssigned)); n != 0 {
		t.Errorf("ticket routed while nobody was available assigned %d times by the replay, want 0", n)
	}
	if n := len(env.Events(t, tickets[0], events.TypeRouted)); n != 2 {
		t.Errorf("recategorized ticket routed %d times after a replay, want 2", n)
	}
}

// TestViewStartsFromItsSnapshot: a stopping replica snapshots its view; the next one
// starts from it (it reads only the log after it) and counts the loads before it. A
// snapshot it cannot use (undecodable, of another log, ahead of the log) is named in a
// warning and the view is read from the whole log, with the same loads.
func TestViewStartsFromItsSnapshot(t *testing.T) {
	ctx := context.Background()
	env := reactortest.New(t)
	env.ApplyConfig(t, document())
	run := func() (stop func(), logs *observer.ObservedLogs) {
		core, logs := observer.New(zap.InfoLevel)
		svc, err := routing.New(ctx, reactor.Config{Conn: env.Conn, Store: env.Store, Logger: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		return reactortest.RunService(t, svc), logs
	}
	// least_loaded between nina and ned, nina first on a tie: the picks alternate only
	// when the view counts every earlier outage.
	picks := 0
	outage := func() {
		t.Helper()
		o := env.Open(t, "acme", opened(fmt.Sprintf("outage %d", picks), "network"))
		_, as := routedOnce(t, env, o.TicketID, 1)
		if got, want := as[0].Data.(events.Assigned).Agent, []string{"nina", "ned"}[picks%2]; got != want {
			t.Errorf("outage %d assigned to %s, want %s", picks, got, want)
		}
		picks++
	}
	stop, _ := run()
	for range 3 {
		outage()
	}
	stop()
	last, err := env.Store.LastSequence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(env.Conn)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := js.ObjectStore(ctx, routing.SnapshotBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.GetInfo(ctx, "view"); err != nil {
		t.Fatalf("no snapshot after the replica stopped: %v", err)
	}

	stop, logs := run()
	restored := logs.FilterMessage("routing view: read from its snapshot").All()
	if len(restored) != 1 || restored[0].ContextMap()["seq"] != last {
		t.Fatalf("view start logged %v, want it read from its snapshot at seq %d", logs.All(), last)
	}
	outage()
	stop()

	var otherLog, ahead bytes.Buffer
	if err := routing.EncodeViewSnapshot(&otherLog, routing.NewView(), env.Store.Created().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	beyond := routing.NewView()
	beyond.Skip(last + 1000)
	if err := routing.EncodeViewSnapshot(&ahead, beyond, env.Store.Created()); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		name, why string
		data      []byte
	}{
		{"undecodable", "read snapshot", []byte("not a snapshot")},
		{"of another log", "is of a log created", otherLog.Bytes()},
		{"ahead of the log", "an older copy of the store", ahead.Bytes()},
	} {
		if _, err := obs.PutBytes(ctx, "view", bad.data); err != nil {
			t.Fatal(err)
		}
		stop, logs := run()
		unused := logs.FilterMessage("routing view: snapshot not used; reading the whole log").All()
		if len(unused) != 1 || !strings.Contains(fmt.Sprint(unused[0].ContextMap()["error"]), bad.why) {
			t.Errorf("a snapshot %s: view start logged %v, want a warning that says %q", bad.name, logs.All(), bad.why)
		}
		outage()
		stop()
	}
}
