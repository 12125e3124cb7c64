// Package bus connects ledgerdesk's services to JetStream inside a watermill Router:
// a Subscriber that consumes a topic through a JetStream pull consumer, and a Publisher
// for non-log topics (dead letters, notifications) and for tests.
//
// # Why our own adapter
//
// watermill-nats/v2's jetstream package (v2.1.3) was considered and not used: it is
// marked beta, its grouped consumers require a WorkQueue stream (the TICKETS log is a
// limits stream with DenyDelete), its consumers are named but not durable (the server
// removes them after InactiveThreshold, so a group would lose its position while all
// replicas are down), the JetStream AckWait is not tied to its own ack timeout, and a
// message it gives up on is neither acked nor nacked (redelivered only after AckWait).
// It also reads the id from its own header, not ce-id. This package is a few hundred lines
// over github.com/nats-io/nats.go/jetstream and passes watermill's conformance suite
// (pubsub/tests.TestPubSub) against an embedded server in `go test ./bus`.
//
// # Topics, streams and consumers
//
// A watermill topic is never turned into a subject implicitly: every Publisher and
// Subscriber is given Topics, which maps a topic to a Route (stream and subject). A
// Route may carry a stream configuration; only then does SubscribeInitialize create
// (or update) the stream. Streams of the log (TICKETS) are created by package events
// and their Routes carry none, so the bus never alters them.
//
// A Subscriber with a ConsumerGroup consumes through the durable consumer named
// exactly ConsumerGroup on the topic's stream, filtered on the topic's subject; every
// replica that subscribes with the same group shares it, and the group keeps its
// position across restarts. The name is persisted on the server: renaming a group
// makes it a new consumer that starts from the beginning of the stream. A group
// consumes one topic per stream. Without a ConsumerGroup every Subscribe call gets
// its own ephemeral consumer from the start of the stream, deleted when it ends.
//
// # Delivery contract
//
// Consumers use explicit acks and MaxAckPending 1: one message of a consumer is
// in flight at a time, across all replicas, and the next is delivered only after it
// is acked. Ack is confirmed by the server (double ack) before the next message is
// delivered. Nack asks JetStream to redeliver after NakDelay; a message neither acked
// nor nacked within AckWait is redelivered by JetStream. When a subscription ends
// (its context is done or the Subscriber is closed) the message in flight is nacked
// without delay, so another replica takes it over at once. Delivery is at least once:
// handlers must be idempotent (events carry their ce-id for that).
//
// Message.UUID is the ce-id header (falling back to Nats-Msg-Id, then
// "<stream>-<sequence>"); Metadata holds every NATS header with its first value except
// the JetStream control headers (Nats-*), plus the message's subject, stream sequence and
// delivery count under MetadataSubject, MetadataSequence and MetadataDelivered. The Publisher writes Metadata as headers and
// sets ce-id and Nats-Msg-Id to the UUID, so a retried publish is deduplicated within
// the stream's duplicate window.
//
// # Conformance (pubsub/tests.Features)
//
// Honestly supported, and enabled in the test: ConsumerGroups, GuaranteedOrder and
// GuaranteedOrderWithSingleSubscriber (stream order per consumer, also across nacks,
// because of MaxAckPending 1), Persistent, NewSubscriberReceivesOldMessages (ephemeral
// consumers deliver the whole stream). Not supported: ExactlyOnceDelivery (a lost ack
// or an AckWait expiry redelivers), ContextPreserved (a context cannot cross the
// wire), RequireSingleInstance is false (instances share only the server).
// TestReconnect is skipped: the suite needs a command that restarts the broker.
package bus
