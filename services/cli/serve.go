package cli

import (
	"context"
	"fmt"
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
)

// serveCmd is `ledgerdesk serve SERVICE`: one service (the intake, a reacting one, or
// reporting) against a NATS server until SIGINT or SIGTERM.
type serveCmd struct {
	Service  string `arg:"" enum:"${serve_services}" help:"the service: ${serve_service_names}"`
	natsConn `embed:"" set:"nats_default=${nats_url}" set:"nats_help=NATS server URL (JetStream enabled, nats-server 2.12 or later)" set:"creds_help=NATS creds file of the service's role, <service>.creds (from ledgerdesk nats init, or <data>/credentials/ of ledgerdesk run); empty for a server without authentication"`
	// The routing, SLA and escalation services keep all their state in JetStream
	// (durable consumers, the SLA_TIMERS stream); reporting keeps its read models in
	// <data>/projections.
	Data          string  `default:"./data" predictor:"dir" help:"local state directory: the admin token (intake, reporting), reporting's read models and checkpoint key (credentials/checkpoint.key); routing, sla and escalation keep theirs in JetStream"`
	HTTP          string  `name:"http" default:"127.0.0.1:8081" help:"intake and reporting: the API's listen address (with /livez and /readyz)"`
	MetricsListen string  `placeholder:"ADDR" help:"serve /metrics, /livez and /readyz on this address (default ${metrics_defaults})"`
	AdminToken    string  `placeholder:"TOKEN" help:"intake and reporting: bearer token of the bootstrap admin (default: read or generate <data>/admin.token; give every intake replica the same)"`
	RateLimit     float64 `default:"${rate_limit}" help:"intake and reporting: HTTP requests per second per principal (0: no limit)"`
	RateBurst     int     `default:"${rate_burst}" help:"intake and reporting: HTTP requests a principal may send at once above --rate-limit"`
	CommitWorkers int     `default:"0" help:"group-commit workers (0: 1 for intake, 2 for routing, sla and escalation)"`
	DebugListen   string  `placeholder:"ADDR" help:"serve /debug/pprof on this address (off when empty)"`
	// CheckpointInterval is how often reporting signs the log's tree while it grows.
	CheckpointInterval time.Duration `default:"5s" help:"reporting only: how often it signs a checkpoint of the log's tree while it grows"`
	ReadyMaxLag        uint64        `default:"10000" help:"routing, sla, escalation, reporting: /readyz answers 503 while a consumer of this process is more than this many messages behind its stream (0: lag is not looked at)"`
	processFlags       `embed:""`
}

// metricsPorts are the default ports of serve's --metrics-listen (on 127.0.0.1), one per
// service, so that one of each runs on a machine with the defaults.
var metricsPorts = map[string]int{app.IntakeName: 9180, "routing": 9181, "sla": 9182, "escalation": 9183, app.ReportingName: 9184}

// serveServices are the services `serve` runs: the intake and those `run` runs beside it.
func serveServices() []string { return append([]string{app.IntakeName}, app.ServiceNames()...) }

// metricsDefaults describes the default of --metrics-listen for the help.
func metricsDefaults() string {
	var out []string
	for _, name := range serveServices() {
		out = append(out, fmt.Sprintf("%s 127.0.0.1:%d", name, metricsPorts[name]))
	}
	return strings.Join(out, ", ")
}

func (c *serveCmd) Run() error {
	log, err := c.logger()
	if err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return c.serve(ctx, log.With(zap.String("service", c.Service)), nil)
}

// serve runs the service until ctx ends; ready, when not nil, is told of the node once it
// serves.
func (c *serveCmd) serve(ctx context.Context, log *zap.Logger, ready func(*app.Node)) error {
	name := c.Service
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
	cfg := c.nodeConfig()
	cfg.Logger = log
	cfg.Connect = func(_ context.Context, r natsauth.Role) (*nats.Conn, *events.Store, error) {
		if r != role {
			return nil, nil, fmt.Errorf("serve %s connects as its own role only, not as %s", name, r)
		}
		return nc, store, nil
	}
	if cfg.Intake || name == app.ReportingName {
		if err := os.MkdirAll(c.Data, 0o750); err != nil {
			log.Error("create data dir", zap.Error(err))
			return errLogged
		}
		token, tokenPath, err := app.AdminToken(c.AdminToken, c.Data)
		if err != nil {
			log.Error("admin token", zap.Error(err))
			return errLogged
		}
		if tokenPath != "" {
			log.Info("admin token", zap.String("path", tokenPath))
		}
		cfg.AdminToken = token
	}
	node, err := app.StartNode(ctx, cfg)
	if err != nil {
		log.Error("start failed", zap.Error(err))
		return errLogged
	}
	fields := []zap.Field{zap.String("nats", c.URL), zap.String("metrics", "http://"+node.MetricsAddr.String())}
	if node.HTTPAddr != nil {
		fields = append(fields, zap.String("http", "http://"+node.HTTPAddr.String()))
	}
	log.Info("service ready", fields...)
	if ready != nil {
		ready(node)
	}
	<-ctx.Done()
	log.Info("shutting down")
	node.Stop(context.Background())
	return nil
}

// nodeConfig is what the flags ask of the node: the one service, its API (the intake's
// and reporting's) on --http, its probes and metrics on --metrics-listen.
func (c *serveCmd) nodeConfig() app.NodeConfig {
	cfg := app.NodeConfig{DataDir: c.Data, HTTPAddr: c.HTTP, MetricsAddr: c.MetricsListen, RateLimit: c.RateLimit,
		RateBurst: c.RateBurst, CommitWorkers: c.CommitWorkers, CheckpointInterval: c.CheckpointInterval,
		ShutdownTimeout: c.ShutdownTimeout, ReadyMaxLag: c.ReadyMaxLag}
	if c.Service == app.IntakeName {
		cfg.Intake = true
	} else {
		cfg.Services = []string{c.Service}
	}
	if cfg.MetricsAddr == "" {
		cfg.MetricsAddr = fmt.Sprintf("127.0.0.1:%d", metricsPorts[c.Service])
	}
	return cfg
}

// Validate refuses a configuration the node would refuse, before connecting (an unknown
// service is the enum's to name).
func (c *serveCmd) Validate() error {
	if !slices.Contains(serveServices(), c.Service) {
		return nil
	}
	return c.nodeConfig().Validate()
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
