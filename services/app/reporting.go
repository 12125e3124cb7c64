package app

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
	"github.com/ledgerdesk/ledgerdesk/projections"
	"github.com/ledgerdesk/ledgerdesk/services/auditapi"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
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
}

// StartReporting opens the read models under dataDir and follows the log into them. A
// projector that fails (an event it cannot apply) is logged and restarted after a pause.
// It signs the log's tree every checkpointEvery (0: auditapi.DefaultInterval) with the
// checkpoint key in <dataDir>/credentials, made there on the first start.
func StartReporting(ctx context.Context, dataDir string, store *events.Store, log *zap.Logger, checkpointEvery time.Duration) (*Reporting, error) {
	key, err := audit.LoadOrCreateKey(filepath.Join(dataDir, CredentialsDir))
	if err != nil {
		return nil, err
	}
	dlq := reactor.NewDeadLetters(store.JetStream(), ReportingName)
	p, err := projections.Open(filepath.Join(dataDir, ProjectionsDir), projections.Options{Refused: func(r events.Refused) {
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
	checkpointer, cpErr := auditapi.NewCheckpointer(auditapi.CheckpointerConfig{Wiring: wiring, Interval: checkpointEvery})
	if err := errors.Join(err, auditErr, cpErr); err != nil {
		_ = p.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Reporting{Projector: p, routes: httpx.NewRoutes(), cancel: cancel, done: make(chan struct{})}
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
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
				}
			}
		}
	}()
	log.Info("read models open", zap.String("dir", filepath.Join(dataDir, ProjectionsDir)), zap.Uint64("seq", p.Seq()),
		zap.String("checkpoint_origin", key.Origin()), zap.String("checkpoint_vkey", filepath.Join(dataDir, CredentialsDir, audit.VerifierKeyFile)))
	return r, nil
}

// Routes are the reporting and audit routes, to mount behind an access.Guard (see
// Access.Protect); each declares its operation.
func (r *Reporting) Routes() *httpx.Routes { return r.routes }

// Stop stops the projector and closes the read models.
func (r *Reporting) Stop() error {
	r.cancel()
	<-r.done
	return r.Projector.Close()
}
