package natsauth_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/embedded"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
)

// env is one server with the streams of the table (the MEMBERS bucket too), a few
// messages in them, a lease of sla's and the partition durables routing-tickets-03 and
// sla-tickets-00 (pinned in priority group "g"), made by admin.
type env struct {
	srv   *server.Server
	admin *nats.Conn
}

func newEnv(t *testing.T) env {
	t.Helper()
	srv, admin := eventstest.RunJetStream(t)
	ctx := context.Background()
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	// The streams carry the table's names and subjects; unlike production they allow
	// delete and purge, so that what admin may do succeeds and what a role may not is
	// refused by its permissions, not by the stream.
	tickets := events.StreamConfig(events.StoreConfig{}) // the log's layout
	for _, c := range []jetstream.StreamConfig{
		{Name: natsauth.StreamTickets, Subjects: []string{natsauth.SubjectTickets}, SubjectTransform: tickets.SubjectTransform,
			Metadata: tickets.Metadata, AllowDirect: true, AllowAtomicPublish: true},
		{Name: natsauth.StreamConfig, Subjects: []string{natsauth.SubjectConfig}, AllowDirect: true},
		{Name: natsauth.StreamAccess, Subjects: []string{natsauth.SubjectAccess}, AllowDirect: true},
		{Name: natsauth.StreamDeadLetter, Subjects: []string{"deadletter.>"}},
		{Name: natsauth.StreamSLATimers, Subjects: []string{natsauth.SubjectSLASchedule, "sla.due.>"}, AllowMsgSchedules: true},
		{Name: natsauth.StreamInbox, Subjects: []string{natsauth.SubjectInbox}, AllowDirect: true},
		{Name: natsauth.StreamOutcomes, Subjects: []string{natsauth.SubjectOutcomes}, AllowDirect: true},
		{Name: natsauth.StreamEvidence, Subjects: []string{natsauth.SubjectEvidence}, AllowDirect: true},
		{Name: natsauth.StreamCheckpoints, Subjects: []string{natsauth.SubjectCheckpoints}, AllowDirect: true},
	} {
		c.Storage = jetstream.MemoryStorage
		if _, err := js.CreateStream(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsauth.BucketMembers, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "sla.i0", []byte("lease")); err != nil {
		t.Fatal(err)
	}
	refs, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsauth.BucketReferences, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refs.Put(ctx, "acme.r0", []byte(`{"ticket":"t1"}`)); err != nil {
		t.Fatal(err)
	}
	obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: natsauth.BucketRoutingSnapshots, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.PutBytes(ctx, "view", []byte("snapshot")); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"tickets.acme.t1", "tickets.acme.t1", "config.acme", "access.acme.grant", "deadletter.routing",
		"inbox.acme.zabbix", "outcomes.acme.zabbix.k0", "evidence.acme.patch.k0", natsauth.SubjectCheckpoints} {
		if _, err := js.Publish(ctx, subj, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []jetstream.ConsumerConfig{partitionConfig("routing-tickets-03"), partitionConfig("sla-tickets-00")} {
		if _, err := js.CreateConsumer(ctx, natsauth.StreamTickets, c); err != nil {
			t.Fatal(err)
		}
	}
	return env{srv: srv, admin: admin}
}

// partitionConfig is a partition durable as the reacting services' runtime makes them:
// its replicas pull in a priority group with a pinned client. (Its filter takes every
// partition, so that the test has messages to fetch.)
func partitionConfig(name string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{Durable: name, FilterSubject: "tickets.>", AckPolicy: jetstream.AckExplicitPolicy,
		PriorityPolicy: jetstream.PriorityPolicyPinned, PriorityGroups: []string{"g"}, PinnedTTL: time.Minute}
}

// op is one thing a role tries; nc is a fresh connection as the role.
type op struct {
	name    string
	allowed []natsauth.Role
	do      func(ctx context.Context, e env, nc *nats.Conn, js jetstream.JetStream) error
}

func publish(subject string) func(context.Context, env, *nats.Conn, jetstream.JetStream) error {
	return func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		_, err := js.Publish(ctx, subject, []byte("{}"))
		return err
	}
}

// fetchOne reads one message from a consumer, and acks it if ack.
func fetchOne(ctx context.Context, c jetstream.Consumer, ack bool, opts ...jetstream.FetchOpt) error {
	batch, err := c.Fetch(1, append(opts, jetstream.FetchMaxWait(2*time.Second))...)
	if err != nil {
		return err
	}
	for m := range batch.Messages() {
		if ack {
			return m.DoubleAck(ctx)
		}
		return nil
	}
	if err := batch.Error(); err != nil {
		return err
	}
	return errors.New("no message")
}

// subscribe subscribes to filter and waits for a message admin publishes to subject.
func subscribe(filter, subject string) func(context.Context, env, *nats.Conn, jetstream.JetStream) error {
	return func(ctx context.Context, e env, nc *nats.Conn, _ jetstream.JetStream) error {
		sub, err := nc.SubscribeSync(filter)
		if err != nil {
			return err
		}
		if err := nc.Flush(); err != nil {
			return err
		}
		if err := e.admin.Publish(subject, []byte("x")); err != nil {
			return err
		}
		_, err = sub.NextMsgWithContext(ctx)
		return err
	}
}

var (
	all       = natsauth.Roles()
	writers   = []natsauth.Role{natsauth.RoleIntake, natsauth.RoleRouting, natsauth.RoleSLA, natsauth.RoleEscalation, natsauth.RoleAdmin}
	adminOnly = []natsauth.Role{natsauth.RoleAdmin}
)

// readers are the roles whose Reads says they may read stream.
func readers(stream string) []natsauth.Role {
	var out []natsauth.Role
	for _, r := range all {
		if r.Reads(stream) {
			out = append(out, r)
		}
	}
	return out
}

// streamInfo reads a stream's info (what readiness checks of the log streams).
func streamInfo(name string) func(context.Context, env, *nats.Conn, jetstream.JetStream) error {
	return func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		_, err := js.Stream(ctx, name)
		return err
	}
}

// ops is what the table in roles.go says, operation by operation. Destructive ones last:
// they run in this order on one server per role.
var ops = []op{
	// Role.Reads agrees with the server on the log streams.
	{"info of TICKETS", readers(natsauth.StreamTickets), streamInfo(natsauth.StreamTickets)},
	{"info of CONFIG", readers(natsauth.StreamConfig), streamInfo(natsauth.StreamConfig)},
	{"info of ACCESS", readers(natsauth.StreamAccess), streamInfo(natsauth.StreamAccess)},
	{"publish to a ticket", writers, publish("tickets.acme.t2")},
	{"append an atomic batch of two tickets", writers, func(ctx context.Context, _ env, nc *nats.Conn, _ jetstream.JetStream) error {
		s, err := events.OpenStore(ctx, nc, events.StoreConfig{Timeout: 5 * time.Second})
		if err != nil {
			return err
		}
		var appends []events.Append
		for _, id := range []string{"b1", "b2"} {
			appends = append(appends, events.Append{Tenant: "acme", TicketID: id, Events: []events.Event{{Data: events.Opened{Title: "x"}}}})
		}
		for _, r := range s.AppendBatch(ctx, appends) {
			if r.Err != nil {
				return r.Err
			}
		}
		return nil
	}},
	{"publish to config", []natsauth.Role{natsauth.RoleIntake, natsauth.RoleAdmin}, publish("config.acme")},
	{"publish to access", []natsauth.Role{natsauth.RoleIntake, natsauth.RoleAdmin}, publish("access.acme.grant")},
	{"publish to deadletter.routing", []natsauth.Role{natsauth.RoleRouting, natsauth.RoleAdmin}, publish("deadletter.routing")},
	{"publish to deadletter.escalation", []natsauth.Role{natsauth.RoleEscalation, natsauth.RoleAdmin}, publish("deadletter.escalation")},
	{"publish an SLA schedule", []natsauth.Role{natsauth.RoleSLA, natsauth.RoleAdmin}, publish("sla.schedule.acme.t1")},
	{"direct get of a ticket's last event", all, func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		s, err := js.Stream(ctx, natsauth.StreamTickets)
		if err != nil {
			return err
		}
		_, err = s.GetLastMsgForSubject(ctx, "tickets.*.acme.t1")
		return err
	}},
	{"direct get from access", []natsauth.Role{natsauth.RoleIntake, natsauth.RoleReporting, natsauth.RoleAuditor, natsauth.RoleAdmin},
		func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
			s, err := js.Stream(ctx, natsauth.StreamAccess)
			if err != nil {
				return err
			}
			_, err = s.GetMsg(ctx, 1, jetstream.WithGetMsgSubject("access.>"))
			return err
		}},
	{"get a dead letter", []natsauth.Role{natsauth.RoleRouting, natsauth.RoleSLA, natsauth.RoleEscalation, natsauth.RoleReporting, natsauth.RoleAuditor, natsauth.RoleAdmin},
		func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
			s, err := js.Stream(ctx, natsauth.StreamDeadLetter)
			if err != nil {
				return err
			}
			_, err = s.GetMsg(ctx, 1)
			return err
		}},
	{"ordered consumer on tickets", []natsauth.Role{natsauth.RoleRouting, natsauth.RoleReporting, natsauth.RoleAuditor, natsauth.RoleAdmin},
		orderedOn(natsauth.StreamTickets)},
	{"ordered consumer on config", []natsauth.Role{natsauth.RoleIntake, natsauth.RoleRouting, natsauth.RoleSLA, natsauth.RoleEscalation, natsauth.RoleAuditor, natsauth.RoleAdmin},
		orderedOn(natsauth.StreamConfig)},
	{"publish an outcome", []natsauth.Role{natsauth.RoleIntake, natsauth.RoleAdmin}, publish("outcomes.acme.zabbix.k1")},
	{"publish to the inbox", adminOnly, publish("inbox.acme.zabbix")},
	{"ordered consumer on the inbox", adminOnly, orderedOn(natsauth.StreamInbox)},
	{"record evidence", []natsauth.Role{natsauth.RoleIntake, natsauth.RoleAdmin}, publish("evidence.acme.backup.k1.success")},
	{"ordered consumer on evidence", []natsauth.Role{natsauth.RoleReporting, natsauth.RoleAuditor, natsauth.RoleAdmin}, orderedOn(natsauth.StreamEvidence)},
	{"sign a checkpoint", []natsauth.Role{natsauth.RoleReporting, natsauth.RoleAdmin}, publish(natsauth.SubjectCheckpoints)},
	{"read the newest checkpoint", []natsauth.Role{natsauth.RoleReporting, natsauth.RoleAuditor, natsauth.RoleAdmin},
		func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
			s, err := js.Stream(ctx, natsauth.StreamCheckpoints)
			if err != nil {
				return err
			}
			_, err = s.GetLastMsgForSubject(ctx, natsauth.SubjectCheckpoints)
			return err
		}},
	{"ordered consumer on checkpoints", []natsauth.Role{natsauth.RoleAuditor, natsauth.RoleAdmin}, orderedOn(natsauth.StreamCheckpoints)},
	{"get an outcome", []natsauth.Role{natsauth.RoleIntake, natsauth.RoleAuditor, natsauth.RoleAdmin},
		func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
			s, err := js.Stream(ctx, natsauth.StreamOutcomes)
			if err != nil {
				return err
			}
			_, err = s.GetMsg(ctx, 1, jetstream.WithGetMsgSubject("outcomes.acme.zabbix.k0"))
			return err
		}},
	{"durable intake-inbox: create, fetch, ack", []natsauth.Role{natsauth.RoleIntake, natsauth.RoleAdmin},
		func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
			c, err := js.CreateOrUpdateConsumer(ctx, natsauth.StreamInbox, jetstream.ConsumerConfig{Durable: "intake-inbox",
				AckPolicy: jetstream.AckExplicitPolicy, PriorityPolicy: jetstream.PriorityPolicyPinned, PriorityGroups: []string{"inbox"}, PinnedTTL: time.Minute})
			if err != nil {
				return err
			}
			return fetchOne(ctx, c, true, jetstream.FetchPriorityGroup("inbox"))
		}},
	{"read a reference", []natsauth.Role{natsauth.RoleIntake, natsauth.RoleAuditor, natsauth.RoleAdmin}, onReferences(func(ctx context.Context, kv jetstream.KeyValue) error {
		_, err := kv.Get(ctx, "acme.r0")
		return err
	})},
	{"create and update a reference", []natsauth.Role{natsauth.RoleIntake, natsauth.RoleAdmin}, onReferences(func(ctx context.Context, kv jetstream.KeyValue) error {
		rev, err := kv.Create(ctx, "acme.r1", []byte(`{"ticket":"t2"}`))
		if err != nil {
			return err
		}
		_, err = kv.Update(ctx, "acme.r1", []byte(`{"ticket":"t3"}`), rev)
		return err
	})},
	{"ordered consumer on access", []natsauth.Role{natsauth.RoleIntake, natsauth.RoleReporting, natsauth.RoleAuditor, natsauth.RoleAdmin},
		orderedOn(natsauth.StreamAccess)},
	{"partition durable routing-tickets-03: update, fetch pinned, ack", []natsauth.Role{natsauth.RoleRouting, natsauth.RoleAdmin},
		func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
			c, err := js.CreateOrUpdateConsumer(ctx, natsauth.StreamTickets, partitionConfig("routing-tickets-03"))
			if err != nil {
				return err
			}
			return fetchOne(ctx, c, true, jetstream.FetchPriorityGroup("g"))
		}},
	{"unpin routing-tickets-03", []natsauth.Role{natsauth.RoleRouting, natsauth.RoleAdmin}, unpin("routing-tickets-03")},
	// Fetching alone would steal another role's messages: roles with ordered consumers on
	// TICKETS may pull from any consumer name but the durables of others.
	{"partition durable sla-tickets-00: fetch pinned", []natsauth.Role{natsauth.RoleSLA, natsauth.RoleAdmin},
		func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
			c, err := js.Consumer(ctx, natsauth.StreamTickets, "sla-tickets-00")
			if err != nil {
				return err
			}
			return fetchOne(ctx, c, false, jetstream.FetchPriorityGroup("g"))
		}},
	{"unpin sla-tickets-00", []natsauth.Role{natsauth.RoleSLA, natsauth.RoleAdmin}, unpin("sla-tickets-00")},
	{"partition durable escalation-tickets-03: create", []natsauth.Role{natsauth.RoleEscalation, natsauth.RoleAdmin},
		func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
			_, err := js.CreateOrUpdateConsumer(ctx, natsauth.StreamTickets, partitionConfig("escalation-tickets-03"))
			return err
		}},
	{"put and delete routing's lease", []natsauth.Role{natsauth.RoleRouting, natsauth.RoleAdmin}, lease("routing.i1")},
	{"put and delete sla's lease", []natsauth.Role{natsauth.RoleSLA, natsauth.RoleAdmin}, lease("sla.i1")},
	{"put and delete escalation's lease", []natsauth.Role{natsauth.RoleEscalation, natsauth.RoleAdmin}, lease("escalation.i1")},
	{"read a lease", []natsauth.Role{natsauth.RoleRouting, natsauth.RoleSLA, natsauth.RoleEscalation, natsauth.RoleAuditor, natsauth.RoleAdmin},
		func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
			kv, err := js.KeyValue(ctx, natsauth.BucketMembers)
			if err != nil {
				return err
			}
			_, err = kv.Get(ctx, "sla.i0")
			return err
		}},
	{"watch the leases", []natsauth.Role{natsauth.RoleRouting, natsauth.RoleSLA, natsauth.RoleEscalation, natsauth.RoleAuditor, natsauth.RoleAdmin},
		func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
			kv, err := js.KeyValue(ctx, natsauth.BucketMembers)
			if err != nil {
				return err
			}
			w, err := kv.WatchAll(ctx)
			if err != nil {
				return err
			}
			defer func() { _ = w.Stop() }()
			for {
				select {
				case e := <-w.Updates():
					if e == nil { // the values there were are all delivered
						return nil
					}
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}},
	{"put routing's snapshot, replacing the last", []natsauth.Role{natsauth.RoleRouting, natsauth.RoleAdmin},
		onSnapshots(func(ctx context.Context, obs jetstream.ObjectStore) error {
			_, err := obs.PutBytes(ctx, "view", make([]byte, 8<<20)) // many chunks, as a snapshot has: the get sees flow control
			return err
		})},
	{"get routing's snapshot", []natsauth.Role{natsauth.RoleRouting, natsauth.RoleAuditor, natsauth.RoleAdmin},
		onSnapshots(func(ctx context.Context, obs jetstream.ObjectStore) error {
			_, err := obs.GetBytes(ctx, "view")
			return err
		})},
	{"publish to a stored subject (no stream takes it)", adminOnly, func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		if _, err := js.Publish(ctx, "tickets.0.acme.t2", []byte("{}")); !errors.Is(err, jetstream.ErrNoStreamResponse) {
			return fmt.Errorf("publish to tickets.0.acme.t2: %v, want no stream to take it", err)
		}
		return nil
	}},
	{"durable sla-timers: create", []natsauth.Role{natsauth.RoleSLA, natsauth.RoleAdmin},
		func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
			_, err := js.CreateOrUpdateConsumer(ctx, natsauth.StreamSLATimers, jetstream.ConsumerConfig{Durable: "sla-timers",
				FilterSubject: "sla.due.>", AckPolicy: jetstream.AckExplicitPolicy})
			return err
		}},
	{"subscribe to the ticket subjects", adminOnly, subscribe("tickets.>", "tickets.acme.sub")},
	{"subscribe to intake's inbox", []natsauth.Role{natsauth.RoleIntake, natsauth.RoleAdmin}, subscribe("_INBOX_intake.>", "_INBOX_intake.x")},
	{"watch the log's leader elections (the appenders)", []natsauth.Role{natsauth.RoleIntake, natsauth.RoleRouting, natsauth.RoleSLA,
		natsauth.RoleEscalation, natsauth.RoleAdmin}, subscribe(events.LeaderElectedSubject, events.LeaderElectedSubject)},
	{"list streams", []natsauth.Role{natsauth.RoleAuditor, natsauth.RoleAdmin}, func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		names := js.StreamNames(ctx)
		for range names.Name() {
		}
		return names.Err()
	}},
	{"delete a durable consumer", adminOnly, func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		return js.DeleteConsumer(ctx, natsauth.StreamTickets, "routing-tickets-03")
	}},
	{"create a stream", adminOnly, func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FORGED", Subjects: []string{"forged.>"}, Storage: jetstream.MemoryStorage})
		return err
	}},
	{"update the ticket stream's MaxAge", adminOnly, func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		_, err := js.UpdateStream(ctx, jetstream.StreamConfig{Name: natsauth.StreamTickets, Subjects: []string{natsauth.SubjectTickets},
			AllowDirect: true, AllowAtomicPublish: true, Storage: jetstream.MemoryStorage, MaxAge: time.Hour})
		return err
	}},
	{"delete a ticket event", adminOnly, func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		return streamOp(ctx, js, func(s jetstream.Stream) error { return s.DeleteMsg(ctx, 1) })
	}},
	{"purge the ticket stream", adminOnly, func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		return streamOp(ctx, js, func(s jetstream.Stream) error { return s.Purge(ctx) })
	}},
	{"delete the ticket stream", adminOnly, func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		return js.DeleteStream(ctx, natsauth.StreamTickets)
	}},
}

// unpin unpins priority group "g" of a durable on the ticket stream.
func unpin(consumer string) func(context.Context, env, *nats.Conn, jetstream.JetStream) error {
	return func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		return streamOp(ctx, js, func(s jetstream.Stream) error { return s.UnpinConsumer(ctx, consumer, "g") })
	}
}

// onReferences runs f on the REFERENCES bucket, opened by the role's own connection.
func onReferences(f func(context.Context, jetstream.KeyValue) error) func(context.Context, env, *nats.Conn, jetstream.JetStream) error {
	return func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		kv, err := js.KeyValue(ctx, natsauth.BucketReferences)
		if err != nil {
			return err
		}
		return f(ctx, kv)
	}
}

// onSnapshots runs f on routing's snapshot bucket, opened by the role's own connection.
func onSnapshots(f func(context.Context, jetstream.ObjectStore) error) func(context.Context, env, *nats.Conn, jetstream.JetStream) error {
	return func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		obs, err := js.ObjectStore(ctx, natsauth.BucketRoutingSnapshots)
		if err != nil {
			return err
		}
		return f(ctx, obs)
	}
}

// lease puts a key of the MEMBERS bucket and deletes it.
func lease(key string) func(context.Context, env, *nats.Conn, jetstream.JetStream) error {
	return func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		kv, err := js.KeyValue(ctx, natsauth.BucketMembers)
		if err != nil {
			return err
		}
		if _, err := kv.Put(ctx, key, []byte("lease")); err != nil {
			return err
		}
		return kv.Delete(ctx, key)
	}
}

func orderedOn(stream string) func(context.Context, env, *nats.Conn, jetstream.JetStream) error {
	return func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
		c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
		if err != nil {
			return err
		}
		return fetchOne(ctx, c, false)
	}
}

// streamOp runs f on the ticket stream looked up by the role's own connection (every role
// may read its info), so that f's request is the role's.
func streamOp(ctx context.Context, js jetstream.JetStream, f func(jetstream.Stream) error) error {
	s, err := js.Stream(ctx, natsauth.StreamTickets)
	if err != nil {
		return err
	}
	return f(s)
}

// try runs o as role on a fresh connection (eventstest.Try).
func try(t *testing.T, e env, role natsauth.Role, o op) (violation error) {
	t.Helper()
	return eventstest.Try(t, func(opts ...nats.Option) *nats.Conn { return eventstest.Connect(t, e.srv, role, opts...) },
		o.name+" as "+string(role), func(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) error { return o.do(ctx, e, nc, js) })
}

// TestRolePermissions asserts, for every role and operation, exactly what the table
// allows: allowed operations succeed, the others are refused by the server's permissions.
func TestRolePermissions(t *testing.T) {
	for _, role := range natsauth.Roles() {
		t.Run(string(role), func(t *testing.T) {
			e := newEnv(t)
			for _, o := range ops {
				v := try(t, e, role, o)
				want := slices.Contains(o.allowed, role)
				switch {
				case want && v != nil:
					t.Errorf("%s: want allowed, refused: %v", o.name, v)
				case !want && v == nil:
					t.Errorf("%s: want refused, it succeeded", o.name)
				case !want && !strings.Contains(v.Error(), "Permissions Violation"):
					t.Errorf("%s: want a permissions violation, got %v", o.name, v)
				}
			}
		})
	}
}

// TestIntegrationPermissions: an integration's user publishes to the inbox under its own
// name and tenants only, gets the JetStream ack on its own inbox prefix, reads its own
// outcomes and nothing of the log.
func TestIntegrationPermissions(t *testing.T) {
	e := newEnv(t)
	creds, err := eventstest.Keys(t, e.srv).IssueIntegration("zabbix", []string{"acme", "beta"})
	if err != nil {
		t.Fatal(err)
	}
	connect := func(opts ...nats.Option) *nats.Conn {
		file := filepath.Join(t.TempDir(), "zabbix.creds")
		if err := os.WriteFile(file, creds, 0o600); err != nil {
			t.Fatal(err)
		}
		nc, err := nats.Connect(e.srv.ClientURL(), append([]nats.Option{nats.UserCredentials(file),
			nats.CustomInboxPrefix(natsauth.IntegrationInboxPrefix("zabbix"))}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	for _, c := range []struct {
		name    string
		allowed bool
		do      func(context.Context, env, *nats.Conn, jetstream.JetStream) error
	}{
		{"publish to inbox.acme.zabbix", true, publish("inbox.acme.zabbix")},
		{"publish to inbox.beta.zabbix", true, publish("inbox.beta.zabbix")},
		{"publish to inbox.globex.zabbix", false, publish("inbox.globex.zabbix")},
		{"publish to inbox.acme.nagios", false, publish("inbox.acme.nagios")},
		{"publish to a ticket", false, publish("tickets.acme.t9")},
		{"publish an outcome", false, publish("outcomes.acme.zabbix.k9")},
		{"subscribe to its outcomes", true, subscribe("outcomes.acme.zabbix.>", "outcomes.acme.zabbix.k2")},
		{"subscribe to another's outcomes", false, subscribe("outcomes.acme.nagios.>", "outcomes.acme.nagios.k2")},
		{"subscribe to the default inbox", false, subscribe("_INBOX.>", "_INBOX.x")},
		{"direct get of a ticket's last event", false, func(ctx context.Context, _ env, _ *nats.Conn, js jetstream.JetStream) error {
			_, err := js.Stream(ctx, natsauth.StreamTickets)
			return err
		}},
		{"read a reference", false, onReferences(func(ctx context.Context, kv jetstream.KeyValue) error {
			_, err := kv.Get(ctx, "acme.r0")
			return err
		})},
	} {
		v := eventstest.Try(t, connect, c.name, func(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) error { return c.do(ctx, e, nc, js) })
		switch {
		case c.allowed && v != nil:
			t.Errorf("%s: want allowed, refused: %v", c.name, v)
		case !c.allowed && v == nil:
			t.Errorf("%s: want refused, it succeeded", c.name)
		}
	}
	for _, bad := range [][]string{nil, {"acme", "*"}, {"a.b"}} {
		if _, err := natsauth.IntegrationPermissions("zabbix", bad); err == nil {
			t.Errorf("integration tenants %q: want refused", bad)
		}
	}
	if _, err := natsauth.IntegrationPermissions("zab.bix", []string{"acme"}); err == nil {
		t.Error("an integration name with a dot: want refused")
	}
}

func TestAnonymousAndForeignUsersRefused(t *testing.T) {
	srv, _ := eventstest.RunJetStream(t)
	if nc, err := nats.Connect(srv.ClientURL()); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("anonymous connect: want %v, got %v", nats.ErrAuthorization, err)
	}
	foreign, err := natsauth.Generate(events.DefaultPartitions)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := foreign.Connect(natsauth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(srv.ClientURL(), opts...); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("connect with another operator's admin: want %v, got %v", nats.ErrAuthorization, err)
	}
}

// TestIssueUserWithoutRestart issues a user to a running server: decentralized auth
// trusts the account's signature, so the user connects at once with exactly its rights.
func TestIssueUserWithoutRestart(t *testing.T) {
	srv, admin := eventstest.RunJetStream(t)
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "INBOX", Subjects: []string{"inbox.>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	creds, err := eventstest.Keys(t, srv).IssueUser("integration-acme-rmm", natsauth.Permissions{
		PublishAllow: []string{"inbox.acme.rmm"}, SubscribeAllow: []string{"_INBOX.>"}})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := natsauth.ConnectOptions(natsauth.RoleAuditor, creds) // auditor: the default inbox
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect as a user issued after the server started: %v", err)
	}
	defer nc.Close()
	ijs, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if ack, err := ijs.Publish(ctx, "inbox.acme.rmm", []byte("{}")); err != nil || ack.Stream != "INBOX" {
		t.Fatalf("publish to its own subject: ack %+v, err %v", ack, err)
	}
	refused := make(chan error, 1)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { refused <- err })
	if err := nc.Publish("inbox.globex.rmm", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-refused:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("publish to another tenant's inbox: want a permissions violation, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publish to another tenant's inbox: not refused")
	}
}

func ExampleRolePermissions() {
	p, _ := natsauth.RolePermissions(natsauth.RoleSLA, events.DefaultPartitions)
	fmt.Println(p.InboxPrefix, p.SubscribeAllow)
	// Output: _INBOX_sla [_INBOX_sla.> $JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.TICKETS]
}

// TestRoleJWTsFitTheControlLine keeps every role's user JWT, on a log of up to
// events.MaxPartitions partitions, within MaxControlLine (with room for the rest of the
// CONNECT line that carries it), and connects every role with partition counts of 16 and
// 64 to an embedded server; a server with nats-server's default max_control_line (4 KiB)
// refuses the larger ones, which is why auth.conf raises it.
func TestRoleJWTsFitTheControlLine(t *testing.T) {
	for _, n := range []int{events.DefaultPartitions, 64, events.MaxPartitions} {
		k, err := natsauth.Generate(n)
		if err != nil {
			t.Fatal(err)
		}
		largest := 0
		for _, r := range natsauth.Roles() {
			c, err := k.Creds(r)
			if err != nil {
				t.Fatal(err)
			}
			token, err := jwt.ParseDecoratedJWT(c)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d partitions: %-10s JWT %6d bytes", n, r, len(token))
			largest = max(largest, len(token))
		}
		if largest+2048 > natsauth.MaxControlLine {
			t.Errorf("%d partitions: a JWT of %d bytes leaves too little of MaxControlLine (%d)", n, largest, natsauth.MaxControlLine)
		}
		if n > 64 {
			continue
		}
		srv, err := embedded.Start(embedded.Config{StoreDir: t.TempDir(), Auth: k})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
		for _, r := range natsauth.Roles() {
			opts, err := k.Connect(r)
			if err != nil {
				t.Fatal(err)
			}
			nc, err := nats.Connect(srv.ClientURL(), opts...)
			if err == nil {
				err = nc.Flush()
				nc.Close()
			}
			if err != nil {
				t.Errorf("%d partitions: connect as %s: %v", n, r, err)
			}
		}
	}

	k, err := natsauth.Generate(events.DefaultPartitions)
	if err != nil {
		t.Fatal(err)
	}
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	if err := k.ConfigureServer(opts); err != nil {
		t.Fatal(err)
	}
	opts.MaxControlLine = 4096
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	copts, err := k.Connect(natsauth.RoleRouting)
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(srv.ClientURL(), copts...); err == nil {
		nc.Close()
		t.Error("routing connected with a max_control_line of 4 KiB: MaxControlLine is needless")
	}
}
