package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/app"
)

// serve runs one reacting service against a NATS server until SIGINT or SIGTERM.
func serve(args []string, stderr io.Writer) int {
	names := strings.Join(app.ReactorNames(), "|")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") || !slices.Contains(app.ReactorNames(), args[0]) {
		fmt.Fprintf(stderr, "ledgerdesk serve: usage: ledgerdesk serve %s --nats URL [--data DIR]\n", names)
		return 2
	}
	name := args[0]
	fs := flag.NewFlagSet("serve "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("nats", nats.DefaultURL, "NATS server URL (JetStream enabled, nats-server 2.12 or later)")
	creds := fs.String("nats-creds", "", "NATS credentials file (optional)")
	// The routing, SLA and escalation services keep all their state in JetStream
	// (durable consumers, the SLA_TIMERS stream); --data is accepted so that every
	// service takes the same flags, and is where future local state will live.
	fs.String("data", "./data", "local state directory (unused by routing, sla and escalation: their state is in JetStream)")
	if err := parse(fs, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "ledgerdesk serve %s: %v\n", name, err)
		return 2
	}
	log, err := newLogger()
	if err != nil {
		fmt.Fprintln(stderr, "ledgerdesk serve: logger:", err)
		return 1
	}
	defer func() { _ = log.Sync() }()
	log = log.With(zap.String("service", name))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	opts := []nats.Option{nats.Name("ledgerdesk-" + name), nats.MaxReconnects(-1)}
	if *creds != "" {
		opts = append(opts, nats.UserCredentials(*creds))
	}
	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		log.Error("connect to NATS", zap.String("url", *url), zap.Error(err))
		return 1
	}
	defer nc.Close()
	store, err := events.NewStore(ctx, nc, events.StoreConfig{})
	if err != nil {
		log.Error("open event store", zap.Error(err))
		return 1
	}
	r, err := app.StartReactor(ctx, name, nc, store, log)
	if err != nil {
		log.Error("start failed", zap.Error(err))
		return 1
	}
	log.Info("service ready", zap.String("nats", *url))
	<-ctx.Done()
	log.Info("shutting down")
	if err := r.Stop(); err != nil {
		log.Warn("stop", zap.Error(err))
	}
	return 0
}
