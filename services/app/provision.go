package app

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
	"github.com/ledgerdesk/ledgerdesk/services/inbox"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
	"github.com/ledgerdesk/ledgerdesk/services/routing"
	"github.com/ledgerdesk/ledgerdesk/services/sla"
)

// ProvisionStreams creates every stream ledgerdesk uses, or upgrades it where that weakens
// nothing: Provision with the log's own partition count (events.DefaultPartitions for a
// new log).
func ProvisionStreams(ctx context.Context, admin *nats.Conn) error {
	_, err := Provision(ctx, admin, 0)
	return err
}

// Provision creates every stream ledgerdesk uses, or upgrades it where that weakens
// nothing (events.Provision: the log streams TICKETS, CONFIG and ACCESS, then DEADLETTER
// and SLA_TIMERS, the integrations' INBOX and OUTCOMES, the tenants' EVIDENCE and the log's CHECKPOINTS), the
// replicas' lease bucket MEMBERS, routing's snapshot bucket ROUTING_SNAPSHOTS and the
// integrations' REFERENCES bucket, and returns the ticket log's partition count, which the roles' creds
// are issued for. partitions is a new log's (0: events.DefaultPartitions); an existing
// log keeps its own, and another non-zero value is refused (events.ErrLayout). It needs a
// connection with admin rights: no service role may create or update a stream
// (events/natsauth), so services only open what this made. NB: the one place streams are
// created or changed.
func Provision(ctx context.Context, admin *nats.Conn, partitions int) (int, error) {
	js, err := jetstream.New(admin)
	if err != nil {
		return 0, fmt.Errorf("provision streams: %w", err)
	}
	if err := events.Provision(ctx, js, events.StoreConfig{Partitions: partitions}, reactor.DeadLetterStreamConfig(), sla.TimersStreamConfig(),
		inbox.StreamConfig(), inbox.OutcomeStreamConfig(), inbox.EvidenceStreamConfig(), audit.StreamConfig()); err != nil {
		return 0, err
	}
	// Leases are worth nothing after a restart: the bucket is made as it is configured,
	// nothing in it needs guarding.
	if _, err := js.CreateOrUpdateKeyValue(ctx, reactor.MembersBucketConfig()); err != nil {
		return 0, fmt.Errorf("provision KV bucket %s: %w", reactor.MembersBucket, err)
	}
	// A snapshot only saves reading the log again: the bucket too is made as configured.
	if _, err := js.CreateOrUpdateObjectStore(ctx, routing.SnapshotBucketConfig()); err != nil {
		return 0, fmt.Errorf("provision object store %s: %w", routing.SnapshotBucket, err)
	}
	// The integrations' external references.
	if _, err := js.CreateOrUpdateKeyValue(ctx, inbox.ReferencesBucketConfig()); err != nil {
		return 0, fmt.Errorf("provision KV bucket %s: %w", inbox.ReferencesBucket, err)
	}
	return events.LogPartitions(ctx, js)
}
