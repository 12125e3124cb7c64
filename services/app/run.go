package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/embedded"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// RunConfig configures `ledgerdesk run`.
type RunConfig struct {
	// DataDir holds JetStream's files, the generated admin token and the NATS keys and
	// creds files in <DataDir>/credentials (default ./data).
	DataDir string
	// HTTPAddr is the HTTP listener (default 127.0.0.1:8080).
	HTTPAddr string
	// NATSListen is the embedded server's client listener, so that the nats CLI can look
	// at the streams (default 127.0.0.1:4222).
	NATSListen string
	// AdminToken is the bearer token of the /v1/ API; empty means read or generate
	// <DataDir>/admin.token.
	AdminToken string
	// CommitWorkers is the number of group-commit workers (default 1: one batch in flight at a time gathers the most requests per fsync).
	CommitWorkers int
	// SeedConfigDir, when set, holds tenant configuration documents applied at start
	// for every tenant that has none yet (make run seeds deploy/demo-config).
	SeedConfigDir string
	// Services are the services started in-process beside intake: the reacting ones and
	// reporting (default: all of them; []string{} for none, e.g. to measure intake alone).
	Services []string
	// DebugAddr, when set, serves Go's /debug/pprof profiles there (off by default; bind
	// it to loopback).
	DebugAddr string
	// RateLimit is each principal's sustained HTTP request rate per second; 0 turns the
	// limit off (the CLI's default is DefaultRateLimit).
	RateLimit float64
	// RateBurst is how many requests a principal may send at once above RateLimit
	// (default: twice RateLimit).
	RateBurst int
	// ShutdownTimeout bounds graceful shutdown (default 10s).
	ShutdownTimeout time.Duration
	// Partitions is the number of partitions of a new data directory's ticket log (see
	// events.DefaultPartitions for how to choose it; 0: the log's own, or
	// events.DefaultPartitions for a new one). A log's partition count never changes: a
	// value other than the log's is refused.
	Partitions int
	// CheckpointInterval is how often reporting signs a checkpoint of the log's tree while
	// it grows (0: auditapi.DefaultInterval, 5s).
	CheckpointInterval time.Duration
}

func (c *RunConfig) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:8080"
	}
	if c.NATSListen == "" {
		c.NATSListen = "127.0.0.1:4222"
	}
	if c.CommitWorkers == 0 {
		c.CommitWorkers = 1
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.Services == nil {
		c.Services = ServiceNames()
	}
}

// Validate reports every problem with the configuration at once.
func (c RunConfig) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
		errs = append(errs, fmt.Errorf("--nats-listen %q: %w", c.NATSListen, err))
	}
	if c.Partitions < 0 || c.Partitions > events.MaxPartitions {
		errs = append(errs, fmt.Errorf("--partitions %d: must be from 1 to %d (0: the log's)", c.Partitions, events.MaxPartitions))
	}
	return errors.Join(append(errs, c.node().Validate())...)
}

// node is the part of the configuration the node runs: the intake and the services, on
// the HTTP listener, metrics included.
func (c RunConfig) node() NodeConfig {
	return NodeConfig{Intake: true, Services: c.Services, DataDir: c.DataDir, AdminToken: c.AdminToken, HTTPAddr: c.HTTPAddr,
		RateLimit: c.RateLimit, RateBurst: c.RateBurst, CommitWorkers: c.CommitWorkers, SeedConfigDir: c.SeedConfigDir,
		CheckpointInterval: c.CheckpointInterval, ShutdownTimeout: c.ShutdownTimeout}
}

// CredentialsDir is the NATS keys' and creds files' directory under a data directory.
const CredentialsDir = "credentials"

// System is a running `ledgerdesk run`: embedded JetStream and a Node running the intake
// and the services on it, each as its own role.
type System struct {
	NATS     *server.Server
	Store    *events.Store // intake's, on its connection as natsauth.RoleIntake
	HTTPAddr net.Addr      // the bound HTTP address
	Token    string        // the admin bearer token
	Keys     *natsauth.Keys
	Node     *Node

	log   *zap.Logger
	conns []*nats.Conn // every connection, closed after the node stops
	debug *http.Server
	cfg   RunConfig
}

// Start brings the whole system up and returns once it serves HTTP and the stream is
// ready. Stop shuts it down.
func Start(ctx context.Context, cfg RunConfig, log *zap.Logger) (*System, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		return nil, errors.New("app: nil logger")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	token, tokenPath, err := AdminToken(cfg.AdminToken, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if tokenPath != "" {
		log.Info("admin token", zap.String("path", tokenPath))
	}
	sys := &System{Token: token, log: log, cfg: cfg}
	ok := false
	defer func() {
		if !ok {
			sys.Stop(context.Background())
		}
	}()

	// The trust first; the roles' creds once the log's partition count is known: the
	// streams are provisioned as admin, then every role is issued for the log's count.
	credsDir := filepath.Join(cfg.DataDir, CredentialsDir)
	if sys.Keys, err = natsauth.LoadOrCreateTrust(credsDir); err != nil {
		return nil, err
	}
	sys.NATS, err = embedded.Start(embedded.Config{StoreDir: cfg.DataDir, Listen: cfg.NATSListen, Auth: sys.Keys})
	if err != nil {
		return nil, err
	}
	log.Info("nats-server ready", zap.String("url", sys.NATS.ClientURL()), zap.String("store", cfg.DataDir), zap.Bool("sync_always", true))
	partitions, err := sys.provision(ctx)
	if err != nil {
		return nil, err
	}
	if err := sys.Keys.IssueRoles(credsDir, partitions); err != nil {
		return nil, err
	}
	log.Info("NATS credentials", zap.String("dir", credsDir), zap.Int("partitions", partitions),
		zap.String("auditor", filepath.Join(credsDir, natsauth.CredsFile(natsauth.RoleAuditor))))
	nodeCfg := cfg.node()
	nodeCfg.AdminToken, nodeCfg.Connect, nodeCfg.Logger = token, sys.connect, log
	if sys.Node, err = StartNode(ctx, nodeCfg); err != nil {
		return nil, err
	}
	sys.Store, sys.HTTPAddr = sys.Node.Store, sys.Node.HTTPAddr
	if cfg.DebugAddr != "" {
		if sys.debug, err = ServeDebug(cfg.DebugAddr, log); err != nil {
			return nil, err
		}
	}
	log.Info("ledgerdesk ready", zap.String("http", "http://"+sys.HTTPAddr.String()))
	ok = true
	return sys, nil
}

// Routes lists every route the HTTP API serves, the OpenAPI document's source.
func (s *System) Routes() []httpx.Route { return s.Node.Routes() }

// DataDir is the system's data directory.
func (s *System) DataDir() string { return s.cfg.DataDir }

// AuthFailures is how many HTTP requests failed authentication since the start.
func (s *System) AuthFailures() uint64 { return s.Node.AuthFailures() }

// Stop stops the node (HTTP, the inbox, the services, the committer, reporting: see
// Node.Stop), then closes the NATS connections and shuts the server down. Safe on a partly
// started system.
func (s *System) Stop(ctx context.Context) {
	if s.debug != nil {
		_ = s.debug.Close()
	}
	if s.Node != nil {
		s.Node.Stop(ctx)
	}
	for _, nc := range s.conns {
		nc.Close()
	}
	if s.NATS != nil {
		s.NATS.Shutdown()
		s.NATS.WaitForShutdown()
	}
	s.log.Info("ledgerdesk stopped")
}

// provision creates the streams on a short-lived admin connection, the only one this
// process makes as admin, and returns the log's partition count.
func (s *System) provision(ctx context.Context) (int, error) {
	admin, err := EmbeddedAdmin(s.NATS, s.Keys)
	if err != nil {
		return 0, err
	}
	defer admin.Close()
	p, err := Provision(ctx, admin, ProvisionConfig{Partitions: s.cfg.Partitions})
	return p.Partitions, err
}

// EmbeddedAdmin connects to an embedded server as admin, in process: for provisioning
// and reading the log's layout before the other roles' creds are issued. Close it soon.
func EmbeddedAdmin(srv *server.Server, keys *natsauth.Keys) (*nats.Conn, error) {
	opts, err := keys.Connect(natsauth.RoleAdmin)
	if err != nil {
		return nil, err
	}
	admin, err := nats.Connect("", append(opts, nats.InProcessServer(srv), nats.Name("ledgerdesk-provision"))...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats-server as admin: %w", err)
	}
	return admin, nil
}

// connect opens a connection to the embedded server as role and the event store on it.
func (s *System) connect(ctx context.Context, role natsauth.Role) (*nats.Conn, *events.Store, error) {
	opts, err := s.Keys.Connect(role)
	if err != nil {
		return nil, nil, err
	}
	dial := func(name string) (*nats.Conn, error) {
		nc, err := nats.Connect("", append(opts, nats.InProcessServer(s.NATS), nats.Name(name), nats.MaxReconnects(-1),
			nats.ErrorHandler(LogNATSErrors(s.log, role)))...)
		if err != nil {
			return nil, fmt.Errorf("connect to embedded nats-server as %s: %w", role, err)
		}
		s.conns = append(s.conns, nc)
		return nc, nil
	}
	nc, err := dial("ledgerdesk-" + string(role))
	if err != nil {
		return nil, nil, err
	}
	reads, err := dial("ledgerdesk-" + string(role) + "-reads")
	if err != nil {
		return nil, nil, err
	}
	store, err := events.OpenStore(ctx, nc, events.StoreConfig{Reads: reads})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", role, err)
	}
	return nc, store, nil
}

// LogNATSErrors is the async error handler of a role's connection: the server reports a
// refused publish or subscribe (a permissions violation) only there, never to the call.
func LogNATSErrors(log *zap.Logger, role natsauth.Role) nats.ErrHandler {
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		fields := []zap.Field{zap.String("role", string(role)), zap.Error(err)}
		if sub != nil {
			fields = append(fields, zap.String("subject", sub.Subject))
		}
		log.Error("nats error", fields...)
	}
}

// ServeDebug serves Go's /debug/pprof profiles on addr until the returned server is
// closed.
func ServeDebug(addr string, log *zap.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen debug: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("debug listener", zap.String("addr", ln.Addr().String()))
	return srv, nil
}
