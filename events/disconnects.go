package events

import (
	"context"
	"errors"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrAnswerLost is why an append fails when the server that had it went away while the
// store waited for its answer: the store's connection dropped, or the log elected a new
// leader (a cluster node crashed). The server may or may not have stored it; a retry
// stores it once (event ids are Nats-Msg-Ids, deduplicated by the log).
var ErrAnswerLost error = NewError(KindUnavailable, "events: the append's answer was lost",
	"the event log's server went away while the request was applied; retry it")

// Unavailable reports whether err says the log could not be reached for a while (no
// server answered, the answer was lost, the connection is down), rather than anything
// about what was asked: trying again later is the answer. A consumer retries such a
// failure for as long as it lasts and never dead-letters it (a cluster without a leader for
// some seconds is no poison message).
func Unavailable(err error) bool {
	for _, e := range []error{ErrAnswerLost, nats.ErrNoResponders, nats.ErrTimeout, nats.ErrConnectionClosed,
		nats.ErrConnectionReconnecting, nats.ErrDisconnected, jetstream.ErrNoStreamResponse, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// LeaderElectedSubject is where JetStream announces that the ticket log has a new leader
// (an advisory); a store that appends listens to it (see disconnects).
const LeaderElectedSubject = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED." + StreamName

// disconnects ends the appends in flight when their answer cannot come any more. nats.go
// keeps a request whose server went away waiting for its timeout: after the crash of a
// cluster node, every append behind the one in flight waited out the whole Timeout (10 s
// in make bench's cluster.failover_s). They end when the store's connection drops, and
// when the log elects a new leader (the old one is gone, with what it was answering; an
// append the new one had already taken fails too, harmlessly: it is retried).
type disconnects struct {
	mu      sync.Mutex
	next    uint64
	waiting map[uint64]context.CancelCauseFunc
}

// chainMu orders the handler chaining of stores opened on one connection at once.
var chainMu sync.Mutex

// watchDisconnects starts watching nc; the handler nc had keeps being called after it.
func watchDisconnects(nc *nats.Conn) *disconnects {
	d := &disconnects{waiting: map[uint64]context.CancelCauseFunc{}}
	chainMu.Lock()
	defer chainMu.Unlock()
	prev := nc.DisconnectErrHandler()
	nc.SetDisconnectErrHandler(func(c *nats.Conn, err error) {
		d.drop()
		if prev != nil {
			prev(c, err)
		}
	})
	return d
}

// during returns a context that ends with ErrAnswerLost when the answer cannot come any
// more, and the func that releases it once the request is answered.
func (d *disconnects) during(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	d.mu.Lock()
	id := d.next
	d.next++
	d.waiting[id] = cancel
	d.mu.Unlock()
	return ctx, func() {
		d.mu.Lock()
		delete(d.waiting, id)
		d.mu.Unlock()
		cancel(nil)
	}
}

// watchLeader ends the requests in flight whenever the ticket log elects a new leader,
// from now on while nc lives. A role without the right to listen (one that does not
// append) gets a permissions error from the server, reported to nc's error handler.
func (d *disconnects) watchLeader(nc *nats.Conn) error {
	_, err := nc.Subscribe(LeaderElectedSubject, func(*nats.Msg) { d.drop() })
	return err
}

// drop ends every request waiting now.
func (d *disconnects) drop() {
	d.mu.Lock()
	waiting := d.waiting
	d.waiting = map[uint64]context.CancelCauseFunc{}
	d.mu.Unlock()
	for _, cancel := range waiting {
		cancel(ErrAnswerLost)
	}
}
