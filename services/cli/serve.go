package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
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

// serveCmd is `ledgerdesk serve SERVICE`: one service (a reacting one, or reporting)
// against a NATS server until SIGINT or SIGTERM.
type serveCmd struct {
	Service  string `arg:"" enum:"${services}" help:"the service: ${service_names}"`
	natsConn `embed:"" set:"nats_default=${nats_url}" set:"nats_help=NATS server URL (JetStream enabled, nats-server 2.12 or later)" set:"creds_help=NATS creds file of the service's role, <service>.creds (from ledgerdesk nats init, or <data>/credentials/ of ledgerdesk run); empty for a server without authentication"`
	// The routing, SLA and escalation services keep all their state in JetStream
	// (durable consumers, the SLA_TIMERS stream); reporting keeps its read models in
	// <data>/projections.
	Data        string `default:"./data" predictor:"dir" help:"local state directory: reporting's read models, admin token and checkpoint key (credentials/checkpoint.key); routing, sla and escalation keep theirs in JetStream"`
	HTTP        string `name:"http" default:"127.0.0.1:8081" help:"reporting only: HTTP listen address"`
	AdminToken  string `placeholder:"TOKEN" help:"reporting only: bearer token (default: read or generate <data>/admin.token)"`
	DebugListen string `placeholder:"ADDR" help:"serve /debug/pprof on this address (off when empty)"`
	// CheckpointInterval is how often reporting signs the log's tree while it grows.
	CheckpointInterval time.Duration `default:"5s" help:"reporting only: how often it signs a checkpoint of the log's tree while it grows"`
}

func (c *serveCmd) Run() error {
	name := c.Service
	log, err := newLogger()
	if err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	defer func() { _ = log.Sync() }()
	log = log.With(zap.String("service", name))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if c.DebugListen != "" {
		debug, err := app.ServeDebug(c.DebugListen, log)
		if err != nil {
			log.Error("debug listener", zap.Error(err))
			return errLogged
		}
		defer debug.Close()
	}
	// The service name is its role's name (services/app checks that each has one).
	role := natsauth.Role(name)
	dial := func(connName string) (*nats.Conn, error) {
		return connectNATS(c.URL, c.Creds, role, nats.Name(connName), nats.MaxReconnects(-1),
			nats.ErrorHandler(app.LogNATSErrors(log, role)))
	}
	nc, err := dial("ledgerdesk-" + name)
	if err != nil {
		log.Error("connect to NATS", zap.String("url", c.URL), zap.Error(err))
		return errLogged
	}
	defer nc.Close()
	reads, err := dial("ledgerdesk-" + name + "-reads")
	if err != nil {
		log.Error("connect to NATS", zap.String("url", c.URL), zap.Error(err))
		return errLogged
	}
	defer reads.Close()
	store, err := events.OpenStore(ctx, nc, events.StoreConfig{Reads: reads})
	if err != nil {
		log.Error("open event store (are the streams provisioned? ledgerdesk nats provision --creds admin.creds)", zap.Error(err))
		return errLogged
	}
	if err := checkCreds(c.Creds, role, store.Partitions()); err != nil {
		log.Error("creds not for this log", zap.Error(err))
		return errLogged
	}
	var stopService func() error
	if name == app.ReportingName {
		stopService, err = serveReporting(ctx, c, store, log)
	} else {
		var r *app.Reactor
		if r, err = app.StartReactor(ctx, name, reactor.Config{Conn: nc, Store: store, Logger: log}); err == nil {
			stopService = r.Stop
		}
	}
	if err != nil {
		log.Error("start failed", zap.Error(err))
		return errLogged
	}
	log.Info("service ready", zap.String("nats", c.URL))
	<-ctx.Done()
	log.Info("shutting down")
	if err := stopService(); err != nil {
		log.Warn("stop", zap.Error(err))
	}
	return nil
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

// serveReporting starts the projector, the checkpointer and the reporting and audit APIs
// on their own HTTP listener.
func serveReporting(ctx context.Context, c *serveCmd, store *events.Store, log *zap.Logger) (stop func() error, err error) {
	dataDir, addr, token := c.Data, c.HTTP, c.AdminToken
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
	rep, err := app.StartReporting(ctx, dataDir, store, log, c.CheckpointInterval)
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
