package app

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
	"github.com/ledgerdesk/ledgerdesk/services/inbox"
	"github.com/ledgerdesk/ledgerdesk/services/metrics"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
)

// Inbox is the intake's door for integrations: the INBOX consumer and the HTTP routes of
// services/inbox, on the intake's store and committer.
type Inbox struct {
	processor *inbox.Processor
	configs   *reactor.Configs
	log       *zap.Logger
	quit      chan struct{}
	done      chan error
	stopped   atomic.Pointer[string] // why the consumer stopped, once it has
	watching  sync.WaitGroup
}

// StartInbox starts answering the inbox, and watching the tenants' backups, and returns
// once it consumes; m records its consumer (nil: nowhere). Stop it with Stop.
func StartInbox(ctx context.Context, store *events.Store, committer *events.Committer, log *zap.Logger, m *metrics.Metrics) (*Inbox, error) {
	configs, err := reactor.FollowConfigs(ctx, store, log)
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	p, err := inbox.NewProcessor(ctx, inbox.Config{Store: store, Committer: committer, Configs: configs, Logger: log, Metrics: m})
	if err != nil {
		configs.Close()
		return nil, err
	}
	b := &Inbox{processor: p, configs: configs, log: log, quit: make(chan struct{}), done: make(chan error, 1)}
	started := make(chan struct{})
	go func() {
		err := p.Consume(context.WithoutCancel(ctx), b.quit, func() { close(started) })
		why := "stopped"
		if err != nil {
			why = err.Error()
		}
		b.stopped.Store(&why)
		b.done <- err
	}()
	select {
	case <-started:
		b.watching.Go(func() { p.WatchBackups(context.WithoutCancel(ctx), b.quit, inbox.BackupWatchInterval) })
		return b, nil
	case err := <-b.done:
		p.Close()
		configs.Close()
		return nil, err
	}
}

// Problem is why the inbox's consumer does not consume ("" while it does).
func (b *Inbox) Problem() string {
	if why := b.stopped.Load(); why != nil {
		return "the inbox consumer " + inbox.Consumer + " stopped: " + *why
	}
	return ""
}

// Routes are POST /v1/events, GET /v1/events/outcome and the alert webhooks.
func (b *Inbox) Routes() *httpx.Routes { return inbox.NewHandler(b.processor, b.log).Routes() }

// Stop stops consuming, after the batch in hand is answered, and watching backups.
func (b *Inbox) Stop() error {
	close(b.quit)
	err := <-b.done
	b.watching.Wait()
	b.processor.Close()
	b.configs.Close()
	return err
}
