package app

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
	"github.com/ledgerdesk/ledgerdesk/services/sla"
)

// ProvisionStreams creates every stream ledgerdesk uses, or upgrades it where that weakens
// nothing (events.Provision: the log streams TICKETS, CONFIG and ACCESS, then DEADLETTER
// and SLA_TIMERS), and the replicas' lease bucket MEMBERS. It needs a connection with admin rights: no service role may create
// or update a stream (events/natsauth), so services only open what this made. NB: the
// one place streams are created or changed.
func ProvisionStreams(ctx context.Context, admin *nats.Conn) error {
	js, err := jetstream.New(admin)
	if err != nil {
		return fmt.Errorf("provision streams: %w", err)
	}
	if err := events.Provision(ctx, js, events.StoreConfig{}, reactor.DeadLetterStreamConfig(), sla.TimersStreamConfig()); err != nil {
		return err
	}
	// Leases are worth nothing after a restart: the bucket is made as it is configured,
	// nothing in it needs guarding.
	if _, err := js.CreateOrUpdateKeyValue(ctx, reactor.MembersBucketConfig()); err != nil {
		return fmt.Errorf("provision KV bucket %s: %w", reactor.MembersBucket, err)
	}
	return nil
}
