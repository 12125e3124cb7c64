package ldproc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
)

// Log reads the whole ticket log of a run as it grows, with the auditor's read-only
// credentials, the way an auditor with the nats CLI would; it remembers when it saw
// each event.
type Log struct {
	js   jetstream.JetStream
	mu   sync.Mutex
	by   map[string][]Seen
	last uint64 // the highest sequence read
}

// Seen is an event of the log and when the follower received it.
type Seen struct {
	events.Raw
	At time.Time
}

// FollowLog follows srv's log from sequence 1 until the test ends.
func FollowLog(t testing.TB, srv Server) *Log {
	t.Helper()
	return FollowLogFrom(t, srv, 1)
}

// FollowLogFrom follows srv's log from stream sequence from until the test ends: what
// came before is not kept (a log of a million tickets is a gigabyte of events).
func FollowLogFrom(t testing.TB, srv Server, from uint64) *Log {
	t.Helper()
	nc := Connect(t, srv, natsauth.RoleAuditor)
	store, err := events.OpenStore(context.Background(), nc, events.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	l := &Log{js: js, by: map[string][]Seen{}}
	sub, err := store.Subscribe(context.Background(), from, func(r events.Raw) error {
		l.mu.Lock()
		l.by[r.TicketID] = append(l.by[r.TicketID], Seen{Raw: r, At: time.Now()})
		l.last = r.Sequence
		l.mu.Unlock()
		return nil
	}, func(u *events.Undecodable) error { return u })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Stop)
	return l
}

// Connect connects to srv as role, with its creds, until the test ends.
func Connect(t testing.TB, srv Server, role natsauth.Role) *nats.Conn {
	t.Helper()
	url, credsDir := srv.NATS()
	creds, err := os.ReadFile(filepath.Join(credsDir, string(role)+".creds"))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := natsauth.ConnectOptions(role, creds)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Count is how many events of each type the ticket has so far.
func (l *Log) Count(id string) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := map[string]int{}
	for _, r := range l.by[id] {
		n[r.Type]++
	}
	return n
}

// CaughtUp reports an error until the follower has read the log to its last message.
func (l *Log) CaughtUp(ctx context.Context) error {
	s, err := l.js.Stream(ctx, events.StreamName)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last < info.State.LastSeq {
		return fmt.Errorf("the follower has read the log to seq %d of %d", l.last, info.State.LastSeq)
	}
	return nil
}

// Tickets are the ids of every ticket with an event so far.
func (l *Log) Tickets() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.by))
	for id := range l.by {
		ids = append(ids, id)
	}
	return ids
}

// Ticket is the ticket's events so far, in order.
func (l *Log) Ticket(id string) []events.Raw {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]events.Raw, len(l.by[id]))
	for i, s := range l.by[id] {
		out[i] = s.Raw
	}
	return out
}

// First is the first event of a type each ticket got, for every ticket that has one.
func (l *Log) First(typ string) map[string]Seen {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]Seen{}
	for id, evs := range l.by {
		for _, s := range evs {
			if s.Type == typ {
				out[id] = s
				break
			}
		}
	}
	return out
}

// Drained reports an error while any durable consumer of the log has messages pending or
// unacknowledged.
func (l *Log) Drained(ctx context.Context) error {
	s, err := l.js.Stream(ctx, events.StreamName)
	if err != nil {
		return err
	}
	consumers := s.ListConsumers(ctx)
	var busy error
	for info := range consumers.Info() { // read to the end: the lister blocks otherwise
		if busy == nil && info.Config.Durable != "" && (info.NumPending > 0 || info.NumAckPending > 0) {
			busy = fmt.Errorf("consumer %s: %d pending, %d unacknowledged", info.Name, info.NumPending, info.NumAckPending)
		}
	}
	if busy != nil {
		return busy
	}
	return consumers.Err()
}

// DeadLetters is how many messages DEADLETTER holds.
func (l *Log) DeadLetters(ctx context.Context) (uint64, error) {
	s, err := l.js.Stream(ctx, "DEADLETTER")
	if err != nil {
		return 0, err
	}
	return s.CachedInfo().State.Msgs, nil
}
