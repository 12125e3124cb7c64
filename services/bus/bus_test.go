package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/bus"
)

// testTopics maps every suite topic to its own file-backed stream "test-<topic>" with
// the single subject "test.<topic>", created by SubscribeInitialize.
func testTopics(topic string) (bus.Route, error) {
	stream, subject := "test-"+topic, "test."+topic
	return bus.Route{
		Stream:  stream,
		Subject: subject,
		Create: &jetstream.StreamConfig{
			Name:     stream,
			Subjects: []string{subject},
			Storage:  jetstream.FileStorage,
		},
	}, nil
}

// TestPubSub runs watermill's conformance suite against one embedded JetStream server;
// every constructor call gets its own connections to it.
func TestPubSub(t *testing.T) {
	srv, _ := eventstest.RunJetStream(t)
	newPubSub := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		t.Helper()
		// admin: the suite creates its own streams.
		conn := func() *nats.Conn { return eventstest.Connect(t, srv, natsauth.RoleAdmin) }
		pub, err := bus.NewPublisher(bus.PublisherConfig{Conn: conn(), Topics: testTopics})
		if err != nil {
			t.Fatalf("new publisher: %v", err)
		}
		sub, err := bus.NewSubscriber(bus.SubscriberConfig{
			Conn:          conn(),
			Topics:        testTopics,
			ConsumerGroup: group,
			AckWait:       5 * time.Second,
			NakDelay:      10 * time.Millisecond, // TestContinueAfterErrors nacks in a loop
		})
		if err != nil {
			t.Fatalf("new subscriber: %v", err)
		}
		return pub, sub
	}
	tests.TestPubSub(t,
		tests.Features{
			ConsumerGroups:                      true,
			ExactlyOnceDelivery:                 false,
			GuaranteedOrder:                     true,
			GuaranteedOrderWithSingleSubscriber: true,
			Persistent:                          true,
			NewSubscriberReceivesOldMessages:    true,
			RequireSingleInstance:               false,
			ContextPreserved:                    false,
		},
		func(t *testing.T) (message.Publisher, message.Subscriber) { return newPubSub(t, "") },
		newPubSub,
	)
}

// TestGroupReplicasShareDurable checks what the suite does not: replicas of one group
// split the stream between them, a group resumes where it stopped, and a message
// written by events (ce-id, ce-type, Nats-Msg-Id headers) arrives with its ce-id as
// UUID and its headers, minus the Nats-* ones, as metadata.
func TestGroupReplicasShareDurable(t *testing.T) {
	_, nc := eventstest.RunJetStream(t)
	const topic = "replicas"
	newSub := func() *bus.Subscriber {
		t.Helper()
		sub, err := bus.NewSubscriber(bus.SubscriberConfig{Conn: nc, Topics: testTopics, ConsumerGroup: "routing"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Close() })
		return sub
	}
	first := newSub()
	if err := first.SubscribeInitialize(topic); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	const total = 10
	for i := range total {
		m := nats.NewMsg("test." + topic)
		m.Header.Set(events.HeaderID, fmt.Sprintf("evt-%d", i))
		m.Header.Set(events.HeaderType, "ticket.opened")
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("evt-%d", i))
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	receive := func(ch <-chan *message.Message) bool {
		select {
		case m := <-ch:
			if seen[m.UUID] {
				t.Errorf("message %s delivered twice to the group", m.UUID)
			}
			seen[m.UUID] = true
			if got := m.Metadata.Get(events.HeaderType); got != "ticket.opened" {
				t.Errorf("metadata %s = %q, want ticket.opened", events.HeaderType, got)
			}
			if _, ok := m.Metadata[jetstream.MsgIDHeader]; ok {
				t.Errorf("metadata holds the control header %s", jetstream.MsgIDHeader)
			}
			m.Ack()
			return true
		case <-time.After(50 * time.Millisecond):
			return false
		}
	}
	ch, err := first.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if !receive(ch) {
			t.Fatal("first replica received nothing")
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := newSub().Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newSub().Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	eventstest.CheckFor(t, 10*time.Second, 0, func() error {
		receive(a)
		receive(b)
		if len(seen) < total {
			return fmt.Errorf("group received %d of %d messages", len(seen), total)
		}
		return nil
	})
	for i := range total {
		if !seen[fmt.Sprintf("evt-%d", i)] {
			t.Errorf("evt-%d not received under its ce-id", i)
		}
	}
	if receive(a) || receive(b) {
		t.Error("group received a message after all were acked")
	}
}
