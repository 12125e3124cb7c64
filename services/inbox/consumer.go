package inbox

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/services/reactor"
)

// Consumer tuning.
const (
	// BatchSize is how many inbox messages are taken at once: their commands share
	// atomic batches.
	BatchSize = 256
	// pinnedTTL: the inbox is pinned to one intake at a time (a priority group), so that
	// one reference's messages are applied in order; a stopped intake's pin passes to
	// another after this long.
	pinnedTTL     = 5 * time.Second
	priorityGroup = "inbox"
	// retryDelay is how long a message whose outcome could not be made waits before it
	// is delivered again.
	retryDelay = time.Second
)

// Consume answers the inbox through the durable consumer intake-inbox until quit is
// closed or ctx ends; started is called once it consumes. Each batch is handled (Handle),
// then every answered message is acked; one that got no outcome (the store unavailable)
// is delivered again after a second.
func (p *Processor) Consume(ctx context.Context, quit <-chan struct{}, started func()) error {
	js := p.cfg.Store.JetStream()
	cons, err := js.CreateOrUpdateConsumer(ctx, StreamName, jetstream.ConsumerConfig{
		Durable:        Consumer,
		Description:    "ledgerdesk intake: the integrations' inbox",
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        30 * time.Second,
		MaxAckPending:  4 * BatchSize,
		MaxDeliver:     -1,
		PriorityGroups: []string{priorityGroup},
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PinnedTTL:      pinnedTTL,
	})
	if err != nil {
		return fmt.Errorf("inbox: consumer %s: %w", Consumer, err)
	}
	defer p.cfg.Metrics.WatchConsumer(Consumer, cons.Info)()
	answer := p.cfg.Metrics.Batches(Consumer, func(batch []jetstream.Msg) { p.answer(ctx, batch) })
	return reactor.ConsumeBatches(ctx, cons, BatchSize, quit, started, answer,
		jetstream.PullPriorityGroup(priorityGroup), jetstream.PullExpiry(pinnedTTL/2))
}

// answer handles one batch of the inbox.
func (p *Processor) answer(ctx context.Context, batch []jetstream.Msg) {
	msgs, ids := make([]Message, len(batch)), make([]string, len(batch))
	for i, m := range batch {
		msgs[i] = FromNATS(m.Subject(), m.Headers(), m.Data())
		if meta, err := m.Metadata(); err == nil {
			ids[i] = "inbox-" + strconv.FormatUint(meta.Sequence.Stream, 10) // a redelivery's outcome is the same message
		}
	}
	for i, r := range p.Handle(ctx, msgs, ids) {
		if r.Err != nil {
			p.cfg.Logger.Warn("inbox: message not answered; delivered again", zap.String("subject", batch[i].Subject()),
				zap.String("ce_id", r.Outcome.ID), zap.Error(r.Err))
			_ = batch[i].NakWithDelay(retryDelay)
			continue
		}
		if r.Outcome.Status == StatusRejected {
			p.cfg.Logger.Info("inbox: message rejected", zap.String("subject", batch[i].Subject()),
				zap.String("ce_id", r.Outcome.ID), zap.String("reason", r.Outcome.Problem.Detail))
		}
		_ = batch[i].Ack()
	}
}
