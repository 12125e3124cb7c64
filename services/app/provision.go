package app

import (
	"context"
	"errors"
	"fmt"
	"slices"

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
// nothing: Provision with the log's own partition count and replication (a new log's
// defaults).
func ProvisionStreams(ctx context.Context, admin *nats.Conn) error {
	_, err := Provision(ctx, admin, ProvisionConfig{})
	return err
}

// ProvisionConfig says how a deployment's streams are made.
type ProvisionConfig struct {
	// Partitions is a new log's partition count (0: events.DefaultPartitions); an existing
	// log keeps its own, and another non-zero value is refused (events.ErrLayout).
	Partitions int
	// Replicas is how many servers keep each stream and bucket. 0: the log's own when it
	// exists, else ClusterReplicas when the server is in a cluster, else 1. An existing
	// stream is scaled up to it, never down (events.Weakenings).
	Replicas int
}

// ClusterReplicas is a new deployment's replication on a cluster: every stream on three
// servers, so that one may be lost (or restarted for an upgrade) without losing a write or
// a quorum. JetStream clusters of five or more keep it at three unless told otherwise.
const ClusterReplicas = 3

// Provisioned is what Provision made: the log's partition count, which the roles' creds
// are issued for, and the streams' replication.
type Provisioned struct {
	Partitions, Replicas int
}

// Provision creates every stream ledgerdesk uses, or upgrades it where that weakens
// nothing (events.Provision: the log streams TICKETS, CONFIG and ACCESS, then DEADLETTER
// and SLA_TIMERS, the integrations' INBOX and OUTCOMES, the tenants' EVIDENCE and the log's CHECKPOINTS), the
// replicas' lease bucket MEMBERS, routing's snapshot bucket ROUTING_SNAPSHOTS and the
// integrations' REFERENCES bucket, all with one replication (ProvisionConfig). It needs a
// connection with admin rights: no service role may create or update a stream
// (events/natsauth), so services only open what this made. NB: the one place streams are
// created or changed.
func Provision(ctx context.Context, admin *nats.Conn, cfg ProvisionConfig) (Provisioned, error) {
	js, err := jetstream.New(admin)
	if err != nil {
		return Provisioned{}, fmt.Errorf("provision streams: %w", err)
	}
	if cfg.Replicas == 0 {
		if cfg.Replicas, err = defaultReplicas(ctx, admin, js); err != nil {
			return Provisioned{}, err
		}
	}
	if err := events.Provision(ctx, js, events.StoreConfig{Partitions: cfg.Partitions, Replicas: cfg.Replicas},
		reactor.DeadLetterStreamConfig(), sla.TimersStreamConfig(),
		inbox.StreamConfig(), inbox.OutcomeStreamConfig(), inbox.EvidenceStreamConfig(), audit.StreamConfig()); err != nil {
		return Provisioned{}, replicasHint(err, cfg.Replicas)
	}
	// Leases are worth nothing after a restart: the bucket is made as it is configured,
	// nothing in it needs guarding.
	members := reactor.MembersBucketConfig()
	members.Replicas = cfg.Replicas
	if _, err := js.CreateOrUpdateKeyValue(ctx, members); err != nil {
		return Provisioned{}, fmt.Errorf("provision KV bucket %s: %w", reactor.MembersBucket, err)
	}
	// A snapshot only saves reading the log again: the bucket too is made as configured.
	snapshots := routing.SnapshotBucketConfig()
	snapshots.Replicas = cfg.Replicas
	if _, err := js.CreateOrUpdateObjectStore(ctx, snapshots); err != nil {
		return Provisioned{}, fmt.Errorf("provision object store %s: %w", routing.SnapshotBucket, err)
	}
	// The integrations' external references.
	references := inbox.ReferencesBucketConfig()
	references.Replicas = cfg.Replicas
	if _, err := js.CreateOrUpdateKeyValue(ctx, references); err != nil {
		return Provisioned{}, fmt.Errorf("provision KV bucket %s: %w", inbox.ReferencesBucket, err)
	}
	n, err := events.LogPartitions(ctx, js)
	return Provisioned{Partitions: n, Replicas: cfg.Replicas}, err
}

// defaultReplicas is ProvisionConfig.Replicas' default: the existing log's, else
// ClusterReplicas on a cluster (the server the connection reached names one), else 1.
func defaultReplicas(ctx context.Context, admin *nats.Conn, js jetstream.JetStream) (int, error) {
	s, err := js.Stream(ctx, events.StreamName)
	switch {
	case err == nil:
		return max(1, s.CachedInfo().Config.Replicas), nil
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return 0, fmt.Errorf("provision streams: %w", err)
	case admin.ConnectedClusterName() != "":
		return ClusterReplicas, nil
	}
	return 1, nil
}

// replicasHint adds to a refusal for want of servers what to do about it.
func replicasHint(err error, replicas int) error {
	var api *jetstream.APIError
	if errors.As(err, &api) && slices.Contains(placementRefusals, api.ErrorCode) {
		return fmt.Errorf("%w (%d replicas asked for: give --replicas with at most as many as the cluster has JetStream servers, 1 for a single server)", err, replicas)
	}
	return err
}

// placementRefusals are nats-server's error codes for a stream it has not the servers to
// place: no suitable peers, insufficient resources, replicas on a server without a cluster.
var placementRefusals = []jetstream.ErrorCode{10005, 10023, 10074}
