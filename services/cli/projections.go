package cli

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/embedded"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/projections"
	"github.com/ledgerdesk/ledgerdesk/services/app"
)

// projectionsGroup is `ledgerdesk projections`.
type projectionsGroup struct {
	Rebuild projectionsRebuildCmd `cmd:"" help:"rebuild every read model from sequence 1"`
}

// projectionsRebuildCmd is `projections rebuild`: drop every read model under
// <data>/projections and rebuild it from sequence 1 to the end of the log.
type projectionsRebuildCmd struct {
	Data     string `default:"./data" predictor:"dir" help:"data directory: the read models, and the embedded JetStream when --nats is not given"`
	natsConn `embed:"" set:"nats_default=" set:"nats_help=NATS server URL of the log (default: the embedded server on --data)" set:"creds_help=with --nats: the reporting role's creds file, reporting.creds"`
}

func (projectionsRebuildCmd) Help() string {
	return "Without --nats it opens the embedded server on the data directory, so ledgerdesk run must not be running on it."
}

func (c *projectionsRebuildCmd) Run(s *streams) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	n, took, err := rebuild(ctx, c.Data, c.URL, c.Creds)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "rebuilt the read models from %d events in %s (%.0f events/s)\n", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	return nil
}

// issueRoles issues the role creds in credsDir for the partition count of the log on the
// embedded server srv, read as admin.
func issueRoles(ctx context.Context, srv *server.Server, keys *natsauth.Keys, credsDir string) error {
	admin, err := app.EmbeddedAdmin(srv, keys)
	if err != nil {
		return err
	}
	defer admin.Close()
	js, err := jetstream.New(admin)
	if err != nil {
		return err
	}
	n, err := events.LogPartitions(ctx, js)
	if err != nil {
		return err
	}
	return keys.IssueRoles(credsDir, n)
}

// rebuild reads the log as the reporting role: from the embedded server on dataDir (with
// the keys in <data>/credentials) or from url with the creds file.
func rebuild(ctx context.Context, dataDir, url, creds string) (n uint64, took time.Duration, err error) {
	var nc *nats.Conn
	if url == "" {
		credsDir := filepath.Join(dataDir, app.CredentialsDir)
		keys, err := natsauth.LoadOrCreateTrust(credsDir)
		if err != nil {
			return 0, 0, err
		}
		srv, err := embedded.Start(embedded.Config{StoreDir: dataDir, Auth: keys})
		if err != nil {
			return 0, 0, fmt.Errorf("open the log in %s (is ledgerdesk running on it? stop it or give --nats): %w", dataDir, err)
		}
		defer srv.Shutdown()
		if err := issueRoles(ctx, srv, keys, credsDir); err != nil {
			return 0, 0, err
		}
		opts, err := keys.Connect(natsauth.RoleReporting)
		if err != nil {
			return 0, 0, err
		}
		if nc, err = nats.Connect("", append(opts, nats.InProcessServer(srv))...); err != nil {
			return 0, 0, err
		}
	} else if nc, err = connectNATS(url, creds, natsauth.RoleReporting); err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	store, err := events.OpenStore(ctx, nc, events.StoreConfig{})
	if err != nil {
		return 0, 0, err
	}
	p, err := projections.Open(filepath.Join(dataDir, app.ProjectionsDir), projections.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer p.Close()
	if err := p.Rebuild(); err != nil {
		return 0, 0, err
	}
	last, err := store.LastSequence(ctx)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx, store) }()
	caughtUp := make(chan error, 1)
	go func() { caughtUp <- p.WaitFor(runCtx, last) }()
	select {
	case err = <-caughtUp:
		took = time.Since(start)
		cancel()
		err = errors.Join(err, <-done)
	case err = <-done: // the projector stopped before the end
		cancel()
		err = errors.Join(err, <-caughtUp, fmt.Errorf("stopped at seq %d of %d", p.Seq(), last))
	}
	if err != nil {
		return 0, 0, err
	}
	return last, took, nil
}
