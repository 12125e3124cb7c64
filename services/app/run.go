package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/embedded"
	"github.com/ledgerdesk/ledgerdesk/services/configapi"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
	"github.com/ledgerdesk/ledgerdesk/services/intake"
)

// RunConfig configures `ledgerdesk run`.
type RunConfig struct {
	// DataDir holds JetStream's files and the generated admin token (default ./data).
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
	for name, addr := range map[string]string{"http": c.HTTPAddr, "nats-listen": c.NATSListen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("--%s %q: %w", name, addr, err))
		}
	}
	for _, name := range c.Services {
		if !slices.Contains(ServiceNames(), name) {
			errs = append(errs, fmt.Errorf("--services: unknown service %q (one of %s)", name, strings.Join(ServiceNames(), ", ")))
		}
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("--rate-limit %g: must be 0 (off) or positive", c.RateLimit))
	}
	if c.RateBurst < 0 {
		errs = append(errs, fmt.Errorf("--rate-burst %d: must not be negative", c.RateBurst))
	}
	if c.CommitWorkers < 0 {
		errs = append(errs, fmt.Errorf("--commit-workers %d: must be positive", c.CommitWorkers))
	}
	return errors.Join(errs...)
}

// System is a running `ledgerdesk run`: embedded JetStream, the event store and the HTTP API.
type System struct {
	NATS     *server.Server
	Store    *events.Store
	HTTPAddr net.Addr // the bound HTTP address
	Token    string   // the admin bearer token

	log       *zap.Logger
	nc        *nats.Conn
	committer *intake.Committer
	reactors  []*Reactor
	reporting *Reporting
	logWatch  *logWatch
	access    *Access
	http      *http.Server
	debug     *http.Server
	httpDone  chan error
	ready     atomic.Bool
	cfg       RunConfig
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
	sys := &System{Token: token, log: log, cfg: cfg, httpDone: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			sys.Stop(context.Background())
		}
	}()

	sys.NATS, err = embedded.Start(embedded.Config{StoreDir: cfg.DataDir, Listen: cfg.NATSListen})
	if err != nil {
		return nil, err
	}
	log.Info("nats-server ready", zap.String("url", sys.NATS.ClientURL()), zap.String("store", cfg.DataDir), zap.Bool("sync_always", true))
	sys.nc, err = nats.Connect("", nats.InProcessServer(sys.NATS), nats.Name("ledgerdesk"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats-server: %w", err)
	}
	sys.Store, err = events.NewStore(ctx, sys.nc, events.StoreConfig{})
	if err != nil {
		return nil, err
	}
	sys.logWatch = watchLog(ctx, sys.Store.JetStream(), log)
	if cfg.SeedConfigDir != "" {
		seeded, err := configapi.Seed(ctx, sys.Store, cfg.SeedConfigDir, "seed")
		if err != nil {
			return nil, err
		}
		log.Info("configuration seeded", zap.String("dir", cfg.SeedConfigDir), zap.Strings("tenants", seeded))
	}
	for _, name := range cfg.Services {
		if name == ReportingName {
			if sys.reporting, err = StartReporting(ctx, cfg.DataDir, sys.Store, log); err != nil {
				return nil, err
			}
			continue
		}
		r, err := StartReactor(ctx, name, sys.nc, sys.Store, log)
		if err != nil {
			return nil, err
		}
		sys.reactors = append(sys.reactors, r)
		log.Info("service started", zap.String("service", name))
	}
	configAPI, err := configapi.NewHandler(sys.Store, log)
	if err != nil {
		return nil, err
	}
	if sys.access, err = StartAccess(ctx, sys.Store, token, cfg.RateLimit, cfg.RateBurst, log); err != nil {
		return nil, err
	}
	sys.committer = intake.NewCommitter(sys.Store, cfg.CommitWorkers)
	api, err := intake.NewHandler(intake.Config{Store: sys.Store, Committer: sys.committer, Logger: log})
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", sys.readyz)
	v1 := http.NewServeMux()
	v1.Handle("/v1/tenants/", configAPI)
	if sys.reporting != nil {
		sys.reporting.Mount(v1)
	}
	v1.Handle("/v1/", api)
	mux.Handle("/v1/", sys.access.Protect(v1))
	mux.HandleFunc("/", httpx.NotFound)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen http: %w", err)
	}
	sys.HTTPAddr = ln.Addr()
	sys.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { sys.httpDone <- sys.http.Serve(ln) }()
	if cfg.DebugAddr != "" {
		if err := sys.serveDebug(cfg.DebugAddr); err != nil {
			return nil, err
		}
	}
	sys.ready.Store(true)
	log.Info("ledgerdesk ready", zap.String("http", "http://"+sys.HTTPAddr.String()))
	ok = true
	return sys, nil
}

// AuthFailures is how many HTTP requests failed authentication since the start.
func (s *System) AuthFailures() uint64 { return s.access.Guard.AuthFailures() }

func (s *System) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() || s.nc == nil || !s.nc.IsConnected() {
		httpx.WriteProblem(w, httpx.NewProblem(http.StatusServiceUnavailable, httpx.KindUnavailable, "Not ready", "the event store is not ready"))
		return
	}
	if problem := s.logWatch.Problem(); problem != "" {
		httpx.WriteProblem(w, httpx.NewProblem(http.StatusServiceUnavailable, httpx.KindUnavailable, "Not ready", problem))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Stop shuts down in dependency order: HTTP (draining requests), the committer (committing
// what is queued), the reacting services (finishing the message in flight), reporting, the NATS
// connection, then the server. Safe on a partly started system.
func (s *System) Stop(ctx context.Context) {
	s.ready.Store(false)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	if s.debug != nil {
		_ = s.debug.Close()
	}
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			s.log.Warn("http shutdown", zap.Error(err))
		}
	}
	if s.committer != nil {
		s.committer.Close()
	}
	for _, r := range s.reactors {
		if err := r.Stop(); err != nil {
			s.log.Warn("service stop", zap.Error(err))
		}
	}
	if s.reporting != nil {
		if err := s.reporting.Stop(); err != nil {
			s.log.Warn("reporting stop", zap.Error(err))
		}
	}
	if s.logWatch != nil {
		s.logWatch.close()
	}
	if s.access != nil {
		s.access.Close()
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.NATS != nil {
		s.NATS.Shutdown()
		s.NATS.WaitForShutdown()
	}
	s.log.Info("ledgerdesk stopped")
}

// serveDebug serves pprof on addr.
func (s *System) serveDebug(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen debug: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.debug = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.debug.Serve(ln) }()
	s.log.Info("debug listener", zap.String("addr", ln.Addr().String()))
	return nil
}
