package projections

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// logEntry is one message of the log: an event, checked ahead (events.Check) and linked
// by the batch that applies it, or a message that is not one.
type logEntry struct {
	event       events.Checked
	undecodable *events.Undecodable
	// pending is how many messages the log held after this one when it was read: more
	// are on their way while it is not 0.
	pending uint64
}

func (e logEntry) seq() uint64 {
	if e.undecodable != nil {
		return e.undecodable.Sequence
	}
	return e.event.Raw().Sequence
}

// chunkSize is the most messages one decoding job holds: large enough that handing a
// job on costs nothing beside decoding it, small enough that every core gets work.
const chunkSize = 128

// logFeed reads the ticket log from a stream sequence on, through an ordered consumer,
// and hands every message on in log order, decoded and hashed (events.FromMsg,
// events.Check) by one worker per core: the one goroutine that applies them (Run,
// Replay) links and applies only. It reads as events.Store.Subscribe does, the message
// decoding and the undecodable ones alike; it stays ahead of the applier by at most ahead
// messages (in chunks of chunkSize). A feed that stops tells why (done, err).
type logFeed struct {
	cancel context.CancelFunc
	// ready holds the chunks in log order as the consumer filled them; each is decoded
	// once its decoded channel is closed. work holds the same chunks for the workers.
	ready, work chan *chunk
	done        chan struct{}
	err         error // why the feed stopped, set before done is closed
	rest        []logEntry
}

// chunk is a run of consecutive messages of the log, decoded by one worker.
type chunk struct {
	msgs    []readMsg
	entries []logEntry
	decoded chan struct{}
}

type readMsg struct {
	msg          jetstream.Msg
	seq, pending uint64
}

// readLog starts a feed of the log from sequence from (1 for all) on.
func readLog(ctx context.Context, store *events.Store, from uint64, ahead int) (*logFeed, error) {
	if from == 0 {
		from = 1
	}
	cons, err := store.JetStream().OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
	})
	if err != nil {
		return nil, fmt.Errorf("read the log from seq %d: %w", from, err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	queued := max(1, ahead/chunkSize)
	f := &logFeed{cancel: func() { cancel(nil) }, ready: make(chan *chunk, queued), work: make(chan *chunk, queued), done: make(chan struct{})}
	hand := func(c *chunk) bool {
		for _, to := range []chan *chunk{f.work, f.ready} {
			select {
			case to <- c:
			case <-ctx.Done():
				return false
			}
		}
		return true
	}
	next := newChunk()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if ctx.Err() != nil {
			return // stopped: hand on nothing more
		}
		md, err := m.Metadata()
		if err != nil {
			cancel(fmt.Errorf("message on %s: %w", m.Subject(), err))
			return
		}
		next.msgs = append(next.msgs, readMsg{msg: m, seq: md.Sequence.Stream, pending: md.NumPending})
		// A chunk waits for more only while more are on their way.
		if len(next.msgs) == chunkSize || md.NumPending == 0 {
			if hand(next) {
				next = newChunk()
			}
		}
	})
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("read the log from seq %d: %w", from, err)
	}
	var workers sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		workers.Go(func() {
			for c := range f.work {
				c.decode()
			}
		})
	}
	go func() {
		<-ctx.Done()
		cc.Stop()
		<-cc.Closed() // no callback runs any more: nothing more is handed to work
		close(f.work)
		workers.Wait()
		if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
			f.err = cause
		}
		close(f.done)
	}()
	return f, nil
}

// decode decodes and hashes the chunk's messages, as events.Store.Subscribe decodes them.
func (c *chunk) decode() {
	c.entries = make([]logEntry, len(c.msgs))
	for i, m := range c.msgs {
		e := &c.entries[i]
		e.pending = m.pending
		r, err := events.FromMsg(m.msg.Subject(), m.msg.Headers(), m.msg.Data(), m.seq)
		if err != nil {
			e.undecodable = &events.Undecodable{Sequence: m.seq, Subject: m.msg.Subject(), Header: m.msg.Headers(), Data: m.msg.Data(), Err: err}
			continue
		}
		e.event = events.Check(r)
	}
	c.msgs = nil
	close(c.decoded)
}

// stop ends the feed and waits until its consumer and workers are done.
func (f *logFeed) stop() {
	f.cancel()
	<-f.done
}

// errStopped is what next answers once the feed has stopped without an error (its
// context ended).
var errStopped = errors.New("projections: the log feed stopped")

// next returns the next entry of the log. When none is decoded yet, it waits for one if
// wait is true, else it answers more false. It returns ctx's error when ctx ends, and a
// *feedError when the feed stops for a reason of its own.
func (f *logFeed) next(ctx context.Context, wait bool) (e logEntry, more bool, err error) {
	if len(f.rest) == 0 {
		var c *chunk
		if wait {
			select {
			case c = <-f.ready:
			case <-ctx.Done():
				return e, false, ctx.Err()
			case <-f.done:
				if err := ctx.Err(); err != nil {
					return e, false, err
				}
				if f.err != nil {
					return e, false, &feedError{f.err}
				}
				return e, false, errStopped
			}
		} else {
			select {
			case c = <-f.ready:
			default:
				return e, false, nil
			}
		}
		select {
		case <-c.decoded:
		case <-ctx.Done():
			return e, false, ctx.Err()
		}
		f.rest = c.entries
	}
	e, f.rest = f.rest[0], f.rest[1:]
	return e, true, nil
}

// feedError is why a feed stopped: the log could not be read on.
type feedError struct{ err error }

func (e *feedError) Error() string { return e.err.Error() }

func (e *feedError) Unwrap() error { return e.err }

func newChunk() *chunk {
	return &chunk{msgs: make([]readMsg, 0, chunkSize), decoded: make(chan struct{})}
}
