package app

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
)

// logWatchInterval is how often the log streams are checked for readiness.
const logWatchInterval = 2 * time.Second

// logWatch checks the log streams (events.CheckLogStreams) every logWatchInterval and
// remembers the last verdict for /readyz; it logs at error level whenever the log becomes
// missing or weakened, or the reason changes, and at info level when it is whole again.
type logWatch struct {
	js         jetstream.JetStream
	partitions int      // the log's, as the store opened it
	streams    []string // the log streams checked: those the role may read
	log        *zap.Logger

	mu      sync.Mutex
	problem string // "" while the log is whole
	stop    context.CancelFunc
	done    chan struct{}
}

// watchLog checks once, then goes on in the background until close; the ticket log must
// keep the partition count it has. role is the connection's: it checks the log streams
// whose info the role may read.
func watchLog(ctx context.Context, js jetstream.JetStream, partitions int, role natsauth.Role, log *zap.Logger) *logWatch {
	w := &logWatch{js: js, partitions: partitions, log: log, done: make(chan struct{})}
	for _, c := range events.LogStreamConfigs(events.StoreConfig{}) {
		if role.Reads(c.Name) {
			w.streams = append(w.streams, c.Name)
		}
	}
	w.check(ctx)
	ctx, w.stop = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(w.done)
		t := time.NewTicker(logWatchInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				w.check(ctx)
			}
		}
	}()
	return w
}

func (w *logWatch) check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, logWatchInterval)
	defer cancel()
	problem := ""
	if err := events.CheckLogStreams(ctx, w.js, events.StoreConfig{Partitions: w.partitions}, w.streams...); err != nil {
		if ctx.Err() != nil && context.Cause(ctx) == context.Canceled {
			return // shutting down
		}
		problem = err.Error()
	}
	w.mu.Lock()
	changed := problem != w.problem
	w.problem = problem
	w.mu.Unlock()
	switch {
	case changed && problem != "":
		w.log.Error("the ticket log is missing or weakened: not ready", zap.String("problem", problem))
	case changed:
		w.log.Info("the ticket log is whole again")
	}
}

// Problem is why the log is not whole, "" when it is.
func (w *logWatch) Problem() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.problem
}

func (w *logWatch) close() {
	w.stop()
	<-w.done
}
