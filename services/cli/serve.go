package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/app"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
)

// serve runs one service (a reacting one, or reporting) against a NATS server until
// SIGINT or SIGTERM.
func serve(args []string, stderr io.Writer) int {
	names := strings.Join(app.ServiceNames(), "|")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") || !slices.Contains(app.ServiceNames(), args[0]) {
		fmt.Fprintf(stderr, "ledgerdesk serve: usage: ledgerdesk serve %s --nats URL --creds FILE [--data DIR] (reporting also [--http ADDR] [--admin-token T])\n", names)
		return 2
	}
	name := args[0]
	fs := flag.NewFlagSet("serve "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("nats", nats.DefaultURL, "NATS server URL (JetStream enabled, nats-server 2.12 or later)")
	creds := fs.String("creds", "", "NATS creds file of the service's role, <service>.creds (from ledgerdesk nats init, or <data>/credentials/ of ledgerdesk run); empty for a server without authentication")
	// The routing, SLA and escalation services keep all their state in JetStream
	// (durable consumers, the SLA_TIMERS stream); reporting keeps its read models in
	// <data>/projections.
	dataDir := fs.String("data", "./data", "local state directory: reporting's read models and admin token (routing, sla and escalation keep theirs in JetStream)")
	httpAddr := fs.String("http", "127.0.0.1:8081", "reporting only: HTTP listen address")
	token := fs.String("admin-token", "", "reporting only: bearer token (default: read or generate <data>/admin.token)")
	debugAddr := fs.String("debug-listen", "", "serve /debug/pprof on this address (off when empty)")
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
	if *debugAddr != "" {
		debug, err := app.ServeDebug(*debugAddr, log)
		if err != nil {
			log.Error("debug listener", zap.Error(err))
			return 1
		}
		defer debug.Close()
	}
	// The service name is its role's name (services/app checks that each has one).
	role := natsauth.Role(name)
	dial := func(connName string) (*nats.Conn, error) {
		return connectNATS(*url, *creds, role, nats.Name(connName), nats.MaxReconnects(-1),
			nats.ErrorHandler(app.LogNATSErrors(log, role)))
	}
	nc, err := dial("ledgerdesk-" + name)
	if err != nil {
		log.Error("connect to NATS", zap.String("url", *url), zap.Error(err))
		return 1
	}
	defer nc.Close()
	reads, err := dial("ledgerdesk-" + name + "-reads")
	if err != nil {
		log.Error("connect to NATS", zap.String("url", *url), zap.Error(err))
		return 1
	}
	defer reads.Close()
	store, err := events.OpenStore(ctx, nc, events.StoreConfig{Reads: reads})
	if err != nil {
		log.Error("open event store (are the streams provisioned? ledgerdesk nats provision --creds admin.creds)", zap.Error(err))
		return 1
	}
	if err := checkCreds(*creds, role, store.Partitions()); err != nil {
		log.Error("creds not for this log", zap.Error(err))
		return 1
	}
	var stopService func() error
	if name == app.ReportingName {
		stopService, err = serveReporting(ctx, *dataDir, *httpAddr, *token, store, log)
	} else {
		var r *app.Reactor
		if r, err = app.StartReactor(ctx, name, reactor.Config{Conn: nc, Store: store, Logger: log}); err == nil {
			stopService = r.Stop
		}
	}
	if err != nil {
		log.Error("start failed", zap.Error(err))
		return 1
	}
	log.Info("service ready", zap.String("nats", *url))
	<-ctx.Done()
	log.Info("shutting down")
	if err := stopService(); err != nil {
		log.Warn("stop", zap.Error(err))
	}
	return 0
}

// checkCreds refuses a role's creds file (none when "") whose rights are not the role's
// for the log's partition count, saying how to issue the right ones.
func checkCreds(path string, role natsauth.Role, partitions int) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--creds: %w", err)
	}
	if err := natsauth.CheckRoleCreds(role, b, partitions); err != nil {
		return fmt.Errorf("--creds %s: %w: issue them for the log's %d partitions (ledgerdesk nats init --out DIR --partitions %d)",
			path, err, partitions, partitions)
	}
	return nil
}

// serveReporting starts the projector and the reporting API on its own HTTP listener.
func serveReporting(ctx context.Context, dataDir, addr, token string, store *events.Store, log *zap.Logger) (stop func() error, err error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, err
	}
	token, tokenPath, err := app.AdminToken(token, dataDir)
	if err != nil {
		return nil, err
	}
	acc, err := app.StartAccess(ctx, store, token, app.DefaultRateLimit, app.DefaultRateBurst, log)
	if err != nil {
		return nil, err
	}
	rep, err := app.StartReporting(ctx, dataDir, store, log, 0)
	if err != nil {
		acc.Close()
		return nil, err
	}
	v1 := http.NewServeMux()
	rep.Routes().MountOn(v1)
	v1.HandleFunc("/", httpx.NotFound)
	mux := http.NewServeMux()
	mux.Handle("/v1/", acc.Protect(v1))
	mux.HandleFunc("/", httpx.NotFound)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = rep.Stop()
		acc.Close()
		return nil, fmt.Errorf("listen http: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("reporting API", zap.String("http", "http://"+ln.Addr().String()), zap.String("token", tokenPath))
	return func() error {
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		defer acc.Close()
		return errors.Join(srv.Shutdown(shutdown), rep.Stop())
	}, nil
}
