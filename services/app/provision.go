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

// ProvisionStreams creates or updates every stream ledgerdesk uses: TICKETS and CONFIG
// (events.NewStore), DEADLETTER and SLA_TIMERS. It needs a connection with admin
// rights: no service role may create or update a stream (events/natsauth), so services
// only open what this made. NB: the one place streams are created.
func ProvisionStreams(ctx context.Context, admin *nats.Conn) error {
	if _, err := events.NewStore(ctx, admin, events.StoreConfig{}); err != nil {
		return err
	}
	js, err := jetstream.New(admin)
	if err != nil {
		return fmt.Errorf("provision streams: %w", err)
	}
	for _, cfg := range []jetstream.StreamConfig{reactor.DeadLetterStreamConfig(), sla.TimersStreamConfig()} {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}
