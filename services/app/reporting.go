package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
	"github.com/ledgerdesk/ledgerdesk/projections"
	"github.com/ledgerdesk/ledgerdesk/services/auditapi"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
	"github.com/ledgerdesk/ledgerdesk/services/metrics"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
	"github.com/ledgerdesk/ledgerdesk/services/reporting"
)

// ReportingName is the reporting service's name in --services and `serve`.
const ReportingName = "reporting"

// projectorHandler names the projector in its dead letters (deadletter.reporting).
const projectorHandler = "reporting-projector"

// ProjectionsDir is the read models' directory under a data directory.
const ProjectionsDir = "projections"

// Reporting is the read side running in the background: the projector following the log
// into <data>/projections, the checkpointer signing the log's tree, and the reporting and
// audit APIs over them.
type Reporting struct {
	Projector *projections.Projector
	routes    *httpx.Routes
	cancel    context.CancelFunc
	done      chan struct{}

	mu         sync.Mutex
	failedAt   time.Time // when the projector last stopped on an error
	failure    error
	unregister func() // the lag gauge
}

// ReportingConfig configures the read side.
type ReportingConfig struct {
	DataDir string        // required: the read models in <DataDir>/projections, the checkpoint key in <DataDir>/credentials
	Store   *events.Store // required: the reporting role's
	Logger  *zap.Logger   // required
	// CheckpointInterval is how often the log's tree is signed while it grows (0:
	// auditapi.DefaultInterval).
	CheckpointInterval time.Duration
	// Metrics gets the projector's checkpoint lag and dead letters (nil: nowhere).
	Metrics *metrics.Metrics
}

// projectorFailureShown is how long readiness names a projector that stopped on an
// error: it restarts after a second, and is taken as attached again when it has not
// failed for this long.
const projectorFailureShown = 5 * time.Second

// StartReporting opens the read models under cfg.DataDir and follows the log into them. A
// projector that fails (an event it cannot apply) is logged and restarted after a pause.
// It signs the log's tree every cfg.CheckpointInterval with the checkpoint key in
// <DataDir>/credentials, made there on the first start.
func StartReporting(ctx context.Context, cfg ReportingConfig) (*Reporting, error) {
	store, log := cfg.Store, cfg.Logger
	key, err := audit.LoadOrCreateKey(filepath.Join(cfg.DataDir, CredentialsDir))
	if err != nil {
		return nil, err
	}
	dlq := reactor.NewDeadLetters(store.JetStream(), ReportingName, cfg.Metrics)
	cfg.Metrics.DeadLetterHandler(ReportingName, projectorHandler)
	p, err := projections.Open(filepath.Join(cfg.DataDir, ProjectionsDir), projections.Options{Refused: func(r events.Refused) {
		log.Error("projector refused an event of the log: dead-lettered, counted in no read model", zap.Uint64("seq", r.Seq()), zap.Error(r))
		if err := dlq.Refuse(context.WithoutCancel(ctx), projectorHandler, r); err != nil {
			log.Error("dead-letter a refused event", zap.Uint64("seq", r.Seq()), zap.Error(err))
		}
	}})
	if err != nil {
		return nil, err
	}
	h, err := reporting.NewHandler(reporting.Config{Projector: p, Store: store, Logger: log})
	wiring := auditapi.Wiring{Tree: p, JS: store.JetStream(), Key: key, Log: log}
	auditAPI, auditErr := auditapi.NewHandler(auditapi.HandlerConfig{Wiring: wiring, Store: store})
	checkpointer, cpErr := auditapi.NewCheckpointer(auditapi.CheckpointerConfig{Wiring: wiring, Interval: cfg.CheckpointInterval})
	unregister, gaugeErr := cfg.Metrics.Gauge("projector_checkpoint_lag_events",
		"Events of the ticket log the read models' checkpoint is behind its last one.",
		func(ctx context.Context) (float64, error) {
			s, err := store.JetStream().Stream(ctx, events.StreamName)
			if err != nil {
				return 0, err
			}
			last, at := s.CachedInfo().State.LastSeq, p.Seq()
			return float64(last - min(at, last)), nil
		})
	if err := errors.Join(err, auditErr, cpErr, gaugeErr); err != nil {
		_ = p.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Reporting{Projector: p, routes: httpx.NewRoutes(), cancel: cancel, done: make(chan struct{}), unregister: unregister}
	r.routes.Include(h.Routes())
	r.routes.Include(auditAPI.Routes())
	var running sync.WaitGroup
	running.Go(func() { checkpointer.Run(ctx) })
	go func() {
		defer close(r.done)
		defer running.Wait() // the last checkpoint is signed before the read models close
		for ctx.Err() == nil {
			if err := p.Run(ctx, store); err != nil {
				log.Error("projector stopped; restarting", zap.Uint64("seq", p.Seq()), zap.Error(err))
				r.mu.Lock()
				r.failedAt, r.failure = time.Now(), err
				r.mu.Unlock()
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
				}
			}
		}
	}()
	log.Info("read models open", zap.String("dir", filepath.Join(cfg.DataDir, ProjectionsDir)), zap.Uint64("seq", p.Seq()),
		zap.String("checkpoint_origin", key.Origin()), zap.String("checkpoint_vkey", filepath.Join(cfg.DataDir, CredentialsDir, audit.VerifierKeyFile)))
	return r, nil
}

// Problem is why the projector is not following the log ("" while it is): it stopped on
// an error within the last projectorFailureShown.
func (r *Reporting) Problem() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failure == nil || time.Since(r.failedAt) > projectorFailureShown {
		return ""
	}
	return fmt.Sprintf("the projector stopped at seq %d: %v (restarting)", r.Projector.Seq(), r.failure)
}

// Routes are the reporting and audit routes, to mount behind an access.Guard (see
// Access.Protect); each declares its operation.
func (r *Reporting) Routes() *httpx.Routes { return r.routes }

// Stop stops the projector and closes the read models.
func (r *Reporting) Stop() error {
	r.cancel()
	<-r.done
	r.unregister()
	return r.Projector.Close()
}
