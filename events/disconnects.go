package events

import (
	"context"
	"sync"

	"github.com/nats-io/nats.go"
)

// ErrConnectionLost is why an append fails when the store's connection to NATS drops
// while it waits for the server's answer: the server may or may not have stored it. A
// retry stores it once (event ids are Nats-Msg-Ids, deduplicated by the log).
var ErrConnectionLost error = NewError(KindUnavailable, "events: connection to NATS lost with the append in flight",
	"the event log's server went away while the request was applied; retry it")

// disconnects ends the appends in flight on a connection when it drops. nats.go keeps a
// request whose server went away waiting for its timeout, though the answer can no longer
// come: after the crash of the cluster node a store was connected to, every append behind
// the one in flight waited out the whole Timeout (10 s in make bench's cluster.failover_s).
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

// during returns a context that ends with ErrConnectionLost when the connection drops,
// and the func that releases it once the request is answered.
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

// drop ends every request waiting now.
func (d *disconnects) drop() {
	d.mu.Lock()
	waiting := d.waiting
	d.waiting = map[uint64]context.CancelCauseFunc{}
	d.mu.Unlock()
	for _, cancel := range waiting {
		cancel(ErrConnectionLost)
	}
}
