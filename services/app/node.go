package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/configapi"
	"github.com/ledgerdesk/ledgerdesk/services/contractsapi"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
	"github.com/ledgerdesk/ledgerdesk/services/intake"
	"github.com/ledgerdesk/ledgerdesk/services/metrics"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
)

// IntakeName is the intake's name in `serve`: its role's.
const IntakeName = "intake"

// NodeConfig configures what one process runs on a NATS server: the intake, reacting
// services and reporting, each on its own role's connection, and the HTTP listeners of
// their APIs, probes and metrics. `ledgerdesk run` (Start) and `ledgerdesk serve` both
// run one (StartNode).
type NodeConfig struct {
	// Connect opens a role's connection and its event store (required). The node closes
	// neither: the caller does, after Stop.
	Connect func(ctx context.Context, role natsauth.Role) (*nats.Conn, *events.Store, error)
	// Intake runs the intake: the ticket, configuration, token and contract APIs, the
	// group committer, the integrations' inbox consumer, /v1/events and the alert webhooks.
	Intake bool
	// Services are the reacting services and reporting to run (ServiceNames).
	Services []string
	// DataDir holds reporting's read models and checkpoint key (required with reporting).
	DataDir string
	// AdminToken is the bootstrap admin's bearer token (required with the intake or
	// reporting).
	AdminToken string
	// HTTPAddr is the listener of the intake's and reporting's APIs, with /livez and
	// /readyz, and /metrics unless MetricsAddr is set (required with either; unused
	// without).
	HTTPAddr string
	// MetricsAddr, when set, is a listener of its own for /metrics, /livez and /readyz.
	MetricsAddr string
	// RateLimit is each principal's sustained HTTP request rate per second (0: no limit);
	// RateBurst how many it may send at once above it (0: twice RateLimit).
	RateLimit float64
	RateBurst int
	// CommitWorkers is the number of group-commit workers (0: 1 with the intake, where
	// one batch in flight at a time gathers the most requests per fsync; else 2).
	CommitWorkers int
	// SeedConfigDir, with the intake, holds tenant configuration documents applied at
	// start for every tenant that has none yet.
	SeedConfigDir string
	// CheckpointInterval is how often reporting signs the log's tree while it grows (0:
	// auditapi.DefaultInterval).
	CheckpointInterval time.Duration
	// ShutdownTimeout bounds Stop (default 10s): HTTP requests in flight and the services'
	// batches in hand finish within it; past it Stop gives up on what is left, which was
	// not acknowledged and so is delivered again (to another replica, or after a restart).
	ShutdownTimeout time.Duration
	// ReadyMaxLag is how many messages a consumer this node holds may be behind its stream
	// while /readyz answers ready (0: lag is not looked at). A replica that starts on a
	// backlog, or cannot keep up, is then not ready: a rolling update waits for it. A node
	// with the intake leaves lag out: its API stores tickets whatever the services' lag,
	// and a load balancer must not turn away what it can take.
	ReadyMaxLag uint64
	// Logger (required).
	Logger *zap.Logger
}

func (c *NodeConfig) setDefaults() {
	if c.CommitWorkers == 0 {
		c.CommitWorkers = 2
		if c.Intake {
			c.CommitWorkers = 1
		}
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
}

// serves reports whether the node has an API: the intake's or reporting's.
func (c NodeConfig) serves() bool { return c.Intake || slices.Contains(c.Services, ReportingName) }

// Validate reports every problem with the settings an operator gives (addresses,
// services, limits) at once, named by their flags.
func (c NodeConfig) Validate() error {
	var errs []error
	addrs := map[string]string{}
	if c.serves() {
		addrs["http"] = c.HTTPAddr
	}
	if c.MetricsAddr != "" {
		addrs["metrics-listen"] = c.MetricsAddr
	}
	for name, addr := range addrs {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("--%s %q: %w", name, addr, err))
		}
	}
	for _, name := range c.Services {
		if !slices.Contains(ServiceNames(), name) {
			errs = append(errs, fmt.Errorf("--services: unknown service %q (one of %s)", name, strings.Join(ServiceNames(), ", ")))
		}
	}
	if !c.Intake && len(c.Services) == 0 {
		errs = append(errs, errors.New("nothing to run: neither the intake nor a service"))
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

// Node is a running NodeConfig.
type Node struct {
	// Store is the first part's event store: the intake's when it runs, else the
	// service's.
	Store *events.Store
	// HTTPAddr and MetricsAddr are the bound listeners (nil when not served).
	HTTPAddr, MetricsAddr net.Addr
	// Metrics is the node's families, served at /metrics.
	Metrics *metrics.Metrics

	cfg       NodeConfig
	log       *zap.Logger
	conns     map[natsauth.Role]*nats.Conn
	logWatch  *logWatch
	committer *events.Committer
	reactors  []*Reactor
	reporting *Reporting
	inbox     *Inbox
	access    *Access
	probes    *httpx.Routes   // /livez, /readyz and /metrics
	apis      []*httpx.Routes // every /v1/ API, behind the guard
	servers   []*http.Server
	ready     atomic.Bool
}

// StartNode starts what cfg names and returns once every part consumes and its listeners
// serve. Stop it with Stop; on an error, what was started is stopped.
func StartNode(ctx context.Context, cfg NodeConfig) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.Connect == nil || cfg.Logger == nil:
		return nil, errors.New("app: StartNode: Connect and Logger are required")
	case cfg.serves() && cfg.AdminToken == "":
		return nil, errors.New("app: StartNode: the API needs an AdminToken")
	case slices.Contains(cfg.Services, ReportingName) && cfg.DataDir == "":
		return nil, errors.New("app: StartNode: reporting needs a DataDir")
	}
	log := cfg.Logger
	n := &Node{cfg: cfg, log: log, conns: map[natsauth.Role]*nats.Conn{}, Metrics: metrics.New()}
	ok := false
	defer func() {
		if !ok {
			n.Stop(context.Background())
		}
	}()

	// The first part's role watches the log streams it may read; the intake's, when it
	// runs, also appends for every part (below).
	first := natsauth.Role(IntakeName)
	if !cfg.Intake {
		first = natsauth.Role(cfg.Services[0])
	}
	stores := map[natsauth.Role]*events.Store{}
	connect := func(role natsauth.Role) (*events.Store, error) {
		if s := stores[role]; s != nil {
			return s, nil
		}
		nc, s, err := cfg.Connect(ctx, role)
		if err != nil {
			return nil, err
		}
		n.conns[role], stores[role] = nc, s
		return s, nil
	}
	var err error
	if n.Store, err = connect(first); err != nil {
		return nil, err
	}
	n.logWatch = watchLog(ctx, n.Store.JetStream(), n.Store.Partitions(), first, log)
	if cfg.Intake && cfg.SeedConfigDir != "" {
		// The operator's seed configuration, applied with the bootstrap admin's authority.
		seeded, err := configapi.Seed(ctx, n.Store, cfg.SeedConfigDir, access.Bootstrap.Actor())
		if err != nil {
			return nil, err
		}
		log.Info("configuration seeded", zap.String("dir", cfg.SeedConfigDir), zap.Strings("tenants", seeded))
	}
	if cfg.Intake || slices.ContainsFunc(cfg.Services, func(s string) bool { return s != ReportingName }) {
		// One committer per process: the services append through it too (in `run`, on
		// the intake's connection), so every append shares its atomic batches and their
		// fsync (each service still reads, consumes and decides as its own role).
		n.committer = events.NewCommitter(n.Store, cfg.CommitWorkers, n.Metrics.ObserveCommit)
	}
	// With the intake and every reacting service in the process, every writer of the log
	// appends through its committer: the services take the heads it knows from it.
	sole := cfg.Intake && !slices.ContainsFunc(ReactorNames(), func(s string) bool { return !slices.Contains(cfg.Services, s) })
	for _, name := range cfg.Services {
		// Each service connects as its own role: the role name is the service name.
		store, err := connect(natsauth.Role(name))
		if err != nil {
			return nil, err
		}
		if name == ReportingName {
			if n.reporting, err = StartReporting(ctx, ReportingConfig{DataDir: cfg.DataDir, Store: store, Logger: log,
				CheckpointInterval: cfg.CheckpointInterval, Metrics: n.Metrics}); err != nil {
				return nil, err
			}
			continue
		}
		r, err := StartReactor(ctx, name, reactor.Config{Conn: n.conns[natsauth.Role(name)], Store: store, Logger: log,
			Committer: n.committer, SoleCommitter: sole, Metrics: n.Metrics})
		if err != nil {
			return nil, err
		}
		n.reactors = append(n.reactors, r)
		log.Info("service started", zap.String("service", name))
	}
	if cfg.serves() {
		if err := n.startAPI(ctx, stores); err != nil {
			return nil, err
		}
	}
	if err := n.listen(); err != nil {
		return nil, err
	}
	n.ready.Store(true)
	ok = true
	return n, nil
}

// startAPI starts the trust boundary on the intake's store (else reporting's) and the
// APIs: the intake's (the token API only there: granting and revoking publish to ACCESS)
// and reporting's.
func (n *Node) startAPI(ctx context.Context, stores map[natsauth.Role]*events.Store) (err error) {
	cfg, log := n.cfg, n.log
	if n.access, err = StartAccess(ctx, n.Store, cfg.AdminToken, cfg.RateLimit, cfg.RateBurst, log); err != nil {
		return err
	}
	if cfg.Intake {
		configAPI, err := configapi.NewHandler(n.Store, log)
		if err != nil {
			return err
		}
		api, err := intake.NewHandler(intake.Config{Store: n.Store, Committer: n.committer, Logger: log})
		if err != nil {
			return err
		}
		if n.inbox, err = StartInbox(ctx, n.Store, n.committer, log, n.Metrics); err != nil {
			return err
		}
		n.apis = append(n.apis, api.Routes(), configAPI.Routes(), n.access.Tokens.Routes(),
			contractsapi.NewHandler().Routes(), n.inbox.Routes())
	}
	if n.reporting != nil {
		n.apis = append(n.apis, n.reporting.Routes())
	}
	return nil
}

// listen serves the probes, the metrics and the APIs: the APIs with the probes on
// HTTPAddr, the metrics there too or, with MetricsAddr, beside the probes on that one.
func (n *Node) listen() error {
	probes := httpx.NewRoutes()
	probes.Handle(httpx.Route{Method: "GET", Path: "/livez", ID: "livez", Summary: "Alive", ResponseType: "text/plain"},
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }))
	probes.Handle(httpx.Route{Method: "GET", Path: "/readyz", ID: "readyz",
		Summary: "Ready: connected, the log's streams intact, every consumer attached", ResponseType: "text/plain"},
		http.HandlerFunc(n.readyz))
	metricsRoute := httpx.Route{Method: "GET", Path: "/metrics", ID: "metrics",
		Summary: "Prometheus metrics (text exposition format, or OpenMetrics when asked)", ResponseType: "text/plain"}
	if n.cfg.serves() {
		n.probes = httpx.NewRoutes()
		n.probes.Include(probes)
		if n.cfg.MetricsAddr == "" {
			n.probes.Handle(metricsRoute, n.Metrics.Handler())
		}
		v1 := http.NewServeMux()
		for _, rs := range n.apis {
			rs.MountOn(v1)
		}
		v1.HandleFunc("/", httpx.NotFound)
		mux := http.NewServeMux()
		n.probes.MountOn(mux)
		mux.Handle("/v1/", n.access.Protect(v1))
		mux.HandleFunc("/", httpx.NotFound)
		addr, err := n.serve(n.cfg.HTTPAddr, mux, n.Routes())
		if err != nil {
			return fmt.Errorf("listen http: %w", err)
		}
		n.HTTPAddr = addr
	}
	if n.cfg.MetricsAddr != "" {
		own := httpx.NewRoutes()
		own.Include(probes)
		own.Handle(metricsRoute, n.Metrics.Handler())
		addr, err := n.serve(n.cfg.MetricsAddr, own, own.List())
		if err != nil {
			return fmt.Errorf("listen metrics: %w", err)
		}
		n.MetricsAddr = addr
	}
	return nil
}

// serve serves h on addr, every request counted by the pattern of the route (of routes)
// that serves it, until Stop.
func (n *Node) serve(addr string, h http.Handler, routes []httpx.Route) (net.Addr, error) {
	table := httpx.NewRoutes() // the patterns only, to name each request's route
	for _, r := range routes {
		table.Handle(r, http.NotFoundHandler())
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: httpx.Correlate(n.Metrics.InstrumentHTTP(h, table.Pattern)), ReadHeaderTimeout: 10 * time.Second}
	n.servers = append(n.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http listener stopped", zap.String("addr", ln.Addr().String()), zap.Error(err))
		}
	}()
	return ln.Addr(), nil
}

// Routes lists every route the API listener serves, the OpenAPI document's source.
func (n *Node) Routes() []httpx.Route {
	if n.probes == nil {
		return nil
	}
	out := n.probes.List()
	for _, rs := range n.apis {
		out = append(out, rs.List()...)
	}
	return out
}

// Problems says why the node is not ready, none when it is: starting or stopping, a NATS
// connection down, a log stream missing or weakened, a consumer not attached.
func (n *Node) Problems() []string {
	if !n.ready.Load() {
		return []string{"not started, or stopping"}
	}
	var out []string
	for _, role := range slices.Sorted(maps.Keys(n.conns)) {
		if nc := n.conns[role]; !nc.IsConnected() {
			out = append(out, fmt.Sprintf("the %s role's NATS connection is %s", role, strings.ToLower(nc.Status().String())))
		}
	}
	parts := []string{n.logWatch.Problem()}
	if n.inbox != nil {
		parts = append(parts, n.inbox.Problem())
	}
	for _, r := range n.reactors {
		parts = append(parts, r.Problem())
	}
	if n.reporting != nil {
		parts = append(parts, n.reporting.Problem())
	}
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	if n.cfg.ReadyMaxLag > 0 && !n.cfg.Intake {
		ctx, cancel := context.WithTimeout(context.Background(), metrics.ScrapeTimeout)
		defer cancel()
		out = append(out, n.Metrics.Lagging(ctx, n.cfg.ReadyMaxLag)...)
	}
	return out
}

func (n *Node) readyz(w http.ResponseWriter, _ *http.Request) {
	if problems := n.Problems(); len(problems) > 0 {
		httpx.WriteProblem(w, httpx.NewProblem(http.StatusServiceUnavailable, httpx.KindUnavailable, "Not ready", strings.Join(problems, "; ")))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// AuthFailures is how many HTTP requests failed authentication since the start.
func (n *Node) AuthFailures() uint64 {
	if n.access == nil {
		return 0
	}
	return n.access.Guard.AuthFailures()
}

// Stop shuts down in dependency order within ShutdownTimeout: HTTP (draining requests),
// the inbox, the reacting services (together, each finishing its batches in hand), the
// committer they and HTTP append through (committing what is queued), reporting. What has
// not stopped by then is left to end with the process: none of it was acknowledged. Safe
// on a partly started node; the connections stay open for the caller to close.
func (n *Node) Stop(ctx context.Context) {
	n.ready.Store(false)
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ShutdownTimeout)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		n.stop(ctx)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		n.log.Warn("stop: gave up waiting; what was not acknowledged will be delivered again",
			zap.Duration("shutdown_timeout", n.cfg.ShutdownTimeout))
	}
}

// stop is Stop's work, in order; HTTP's drain ends with ctx.
func (n *Node) stop(ctx context.Context) {
	var draining sync.WaitGroup
	for _, srv := range n.servers {
		draining.Go(func() {
			if err := srv.Shutdown(ctx); err != nil {
				n.log.Warn("http shutdown", zap.Error(err))
			}
		})
	}
	draining.Wait()
	if n.inbox != nil {
		if err := n.inbox.Stop(); err != nil {
			n.log.Warn("inbox stop", zap.Error(err))
		}
	}
	var stopping sync.WaitGroup // the services stop together: each lets its batches finish
	for _, r := range n.reactors {
		stopping.Go(func() {
			if err := r.Stop(); err != nil {
				n.log.Warn("service stop", zap.Error(err))
			}
		})
	}
	stopping.Wait()
	if n.committer != nil {
		n.committer.Close()
	}
	if n.reporting != nil {
		if err := n.reporting.Stop(); err != nil {
			n.log.Warn("reporting stop", zap.Error(err))
		}
	}
	if n.logWatch != nil {
		n.logWatch.close()
	}
	if n.access != nil {
		n.access.Close()
	}
}
