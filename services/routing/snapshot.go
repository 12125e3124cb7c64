package routing

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// Snapshots: the view is a fold of the whole log, and a replica that starts does not read
// the whole log again. The replica that leads (reactor.Service.Leads) puts the view, as
// of a stream sequence, into the object store bucket SnapshotBucket every
// SnapshotInterval while events arrive, and once more when it stops; a replica that
// starts reads the newest snapshot of its log and follows the log from the sequence
// after it. A snapshot that is missing, of another format, of another log (another
// creation time) or ahead of the log (an older copy of the store) is ignored with a
// warning, and the view is read from the start: a snapshot saves time, never decides.

// SnapshotBucket is the object store bucket of routing's view snapshots. NB: wire name;
// never rename.
const SnapshotBucket = "ROUTING_SNAPSHOTS"

// SnapshotInterval is how often the leading replica snapshots the view while events arrive:
// a replica that starts reads at most about this much of the log after the snapshot.
const SnapshotInterval = 30 * time.Second

// viewObject is the view's object in SnapshotBucket.
const viewObject = "view"

// SnapshotBucketConfig is the SnapshotBucket bucket: file storage, one object.
func SnapshotBucketConfig() jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      SnapshotBucket,
		Description: "ledgerdesk routing: snapshots of the load view, so that a replica starts without reading the whole log",
		Storage:     jetstream.FileStorage,
	}
}

// snapshotFormat is the version of a snapshot's encoding: gob, the format number, then a
// viewSnapshot. NB: bump it whenever viewSnapshot or a type in it changes
// (TestSnapshotFormat's golden file fails first); a snapshot of another format is ignored.
const snapshotFormat = 1

// viewSnapshot is a View as of a stream sequence, without its reservations (assignments
// in flight count for reservationTTL only). Tickets are kept in columns: gob decodes a
// byte slice at once, and an array or a struct field by field, which for a million
// tickets is seconds rather than a fraction of one.
type viewSnapshot struct {
	Log    time.Time // the ticket log's creation (events.Store.Created)
	Seq    uint64    // the last sequence applied
	Latest int64     // the latest event time seen, unix seconds
	// Names are the tenant, group, agent and odd ticket names, referred to by position + 1
	// (0 is no name).
	Names       []string
	Tickets     snapshotTickets
	Resolved    snapshotResolved // in stream order
	Assignments []snapshotCount  // per tenant and group
}

// snapshotKeys are ticket keys, the i-th of each column making the i-th key.
type snapshotKeys struct {
	Tenant []uint32
	UUID   []byte // 16 bytes a key: ticketKey.uuid
	Other  []uint32
}

func (c *snapshotKeys) add(tenant uint32, uuid [16]byte, other uint32) {
	c.Tenant, c.UUID, c.Other = append(c.Tenant, tenant), append(c.UUID, uuid[:]...), append(c.Other, other)
}

// valid reports whether every column holds n keys.
func (c snapshotKeys) valid(n int) bool {
	return len(c.Tenant) == n && len(c.UUID) == 16*n && len(c.Other) == n
}

type snapshotTickets struct {
	Keys         snapshotKeys
	Group, Agent []uint32
	Open         []bool
	ResolvedAt   []int64
	Hash         []byte // 32 bytes a ticket: ticketLoad.hash
	Seq          []uint64
}

type snapshotResolved struct {
	Keys snapshotKeys
	At   []int64
}

type snapshotCount struct {
	Tenant, Name uint32
	N            int
}

// snapshot captures the view; log is the ticket log's creation.
func (v *View) snapshot(log time.Time) viewSnapshot {
	v.mu.RLock()
	defer v.mu.RUnlock()
	s := viewSnapshot{Log: log, Seq: v.progress.Seq(), Latest: v.latest}
	refs := map[name]uint32{}
	ref := func(n name) uint32 {
		if n == (name{}) {
			return 0
		}
		i, ok := refs[n]
		if !ok {
			s.Names = append(s.Names, n.Value())
			i = uint32(len(s.Names))
			refs[n] = i
		}
		return i
	}
	n := len(v.tickets)
	ts := snapshotTickets{Keys: snapshotKeys{Tenant: make([]uint32, 0, n), UUID: make([]byte, 0, 16*n), Other: make([]uint32, 0, n)},
		Group: make([]uint32, 0, n), Agent: make([]uint32, 0, n), Open: make([]bool, 0, n), ResolvedAt: make([]int64, 0, n),
		Hash: make([]byte, 0, 32*n), Seq: make([]uint64, 0, n)}
	for k, t := range v.tickets {
		ts.Keys.add(ref(k.tenant), k.uuid, ref(k.other))
		ts.Group, ts.Agent, ts.Open = append(ts.Group, ref(t.group)), append(ts.Agent, ref(t.agent)), append(ts.Open, t.open)
		ts.ResolvedAt, ts.Hash, ts.Seq = append(ts.ResolvedAt, t.resolvedAt), append(ts.Hash, t.hash[:]...), append(ts.Seq, t.seq)
	}
	s.Tickets = ts
	for _, r := range v.resolved {
		s.Resolved.Keys.add(ref(r.ticket.tenant), r.ticket.uuid, ref(r.ticket.other))
		s.Resolved.At = append(s.Resolved.At, r.at)
	}
	for k, n := range v.assignments {
		s.Assignments = append(s.Assignments, snapshotCount{Tenant: ref(k.tenant), Name: ref(k.name), N: n})
	}
	return s
}

// errSnapshotShape is a snapshot whose columns or references do not fit together.
var errSnapshotShape = errors.New("routing: snapshot: columns of unequal length or a name it does not have")

// restoreView is the view a snapshot captured.
func restoreView(s viewSnapshot) (*View, error) {
	ts, rs := s.Tickets, s.Resolved
	n := len(ts.Group)
	if !ts.Keys.valid(n) || len(ts.Agent) != n || len(ts.Open) != n || len(ts.ResolvedAt) != n || len(ts.Hash) != 32*n ||
		len(ts.Seq) != n || !rs.Keys.valid(len(rs.At)) {
		return nil, errSnapshotShape
	}
	bad := false
	names := make([]name, len(s.Names)+1)
	for i, n := range s.Names {
		names[i+1] = intern(n)
	}
	nameAt := func(i uint32) name {
		if int(i) >= len(names) {
			bad = true
			return name{}
		}
		return names[i]
	}
	key := func(c snapshotKeys, i int) ticketKey {
		return ticketKey{tenant: nameAt(c.Tenant[i]), uuid: [16]byte(c.UUID[16*i:]), other: nameAt(c.Other[i])}
	}
	v := NewView()
	v.latest = s.Latest
	v.progress.Set(s.Seq)
	v.tickets = make(map[ticketKey]ticketLoad, n)
	for i := range n {
		k := key(ts.Keys, i)
		load := ticketLoad{group: nameAt(ts.Group[i]), agent: nameAt(ts.Agent[i]), open: ts.Open[i], resolvedAt: ts.ResolvedAt[i],
			hash: [32]byte(ts.Hash[32*i:]), seq: ts.Seq[i]}
		v.tickets[k] = load
		v.count(k.tenant, load, +1)
	}
	v.resolved = make([]resolvedAt, len(rs.At))
	for i, at := range rs.At {
		v.resolved[i] = resolvedAt{ticket: key(rs.Keys, i), at: at}
	}
	for _, a := range s.Assignments {
		v.assignments[nameKey{nameAt(a.Tenant), nameAt(a.Name)}] = a.N
	}
	if bad {
		return nil, errSnapshotShape
	}
	return v, nil
}

// encodeSnapshot writes the format number and the snapshot.
func encodeSnapshot(w io.Writer, s viewSnapshot) error {
	enc := gob.NewEncoder(w)
	if err := enc.Encode(snapshotFormat); err != nil {
		return err
	}
	return enc.Encode(s)
}

// errSnapshotFormat is a snapshot written in another format.
var errSnapshotFormat = errors.New("routing: snapshot of another format")

// decodeSnapshot reads what encodeSnapshot wrote, then r to its end (an object's digest is
// checked there).
func decodeSnapshot(r io.Reader) (viewSnapshot, error) {
	dec := gob.NewDecoder(r)
	var format int
	if err := dec.Decode(&format); err != nil {
		return viewSnapshot{}, err
	}
	if format != snapshotFormat {
		return viewSnapshot{}, fmt.Errorf("%w: %d, this build reads %d", errSnapshotFormat, format, snapshotFormat)
	}
	var s viewSnapshot
	if err := dec.Decode(&s); err != nil {
		return viewSnapshot{}, err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return viewSnapshot{}, err
	}
	return s, nil
}

// loadView is the view of the store's log's snapshot when it has a usable one, else an
// empty one.
func loadView(ctx context.Context, store *events.Store, log *zap.Logger) *View {
	started := time.Now()
	v, err := readSnapshot(ctx, store)
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		log.Info("routing view: no snapshot yet; reading the whole log")
		return NewView()
	case err != nil:
		log.Warn("routing view: snapshot not used; reading the whole log", zap.Error(err))
		return NewView()
	}
	log.Info("routing view: read from its snapshot", zap.Uint64("seq", v.Seq()), zap.Int("tickets", len(v.tickets)),
		zap.Duration("took", time.Since(started)))
	return v
}

// readSnapshot reads the view's snapshot, checks that it belongs to the store's log and
// restores the view from it.
func readSnapshot(ctx context.Context, store *events.Store) (*View, error) {
	ctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	obs, err := store.ReadJetStream().ObjectStore(ctx, SnapshotBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s (provisioned with admin credentials): %w", SnapshotBucket, err)
	}
	res, err := obs.Get(ctx, viewObject)
	if err != nil {
		return nil, err
	}
	defer func() { _ = res.Close() }()
	s, err := decodeSnapshot(res)
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	if created := store.Created(); !s.Log.Equal(created) {
		return nil, fmt.Errorf("the snapshot is of a log created %s, this one was created %s", s.Log, created)
	}
	last, err := store.LastSequence(ctx)
	if err != nil {
		return nil, err
	}
	if s.Seq > last {
		return nil, fmt.Errorf("the snapshot is at sequence %d, the log ends at %d (an older copy of the store?)", s.Seq, last)
	}
	return restoreView(s)
}

// snapshotter writes the view's snapshots of a leading replica, one at a time, off the
// view's goroutine.
type snapshotter struct {
	store   *events.Store
	view    *View
	leads   func() bool
	log     *zap.Logger
	pending chan viewSnapshot
	done    chan struct{}

	mu      sync.Mutex
	taken   time.Time // when the last snapshot was taken
	takenAt uint64    // and its sequence
}

func newSnapshotter(store *events.Store, view *View, leads func() bool, log *zap.Logger) *snapshotter {
	sn := &snapshotter{store: store, view: view, leads: leads, log: log, pending: make(chan viewSnapshot, 1),
		done: make(chan struct{}), taken: time.Now(), takenAt: view.Seq()}
	go func() {
		defer close(sn.done)
		for s := range sn.pending {
			sn.write(s)
		}
	}()
	return sn
}

// maybe takes a snapshot when this replica leads, the last one is SnapshotInterval old
// and the view moved since; the view's goroutine calls it after each event.
func (sn *snapshotter) maybe() {
	sn.mu.Lock()
	due := time.Since(sn.taken) >= SnapshotInterval && sn.view.Seq() > sn.takenAt
	sn.mu.Unlock()
	if due && sn.leads() {
		sn.take()
	}
}

// take captures the view and hands it to the writer, unless a write is still pending.
func (sn *snapshotter) take() {
	s := sn.view.snapshot(sn.store.Created())
	select {
	case sn.pending <- s:
		sn.mu.Lock()
		sn.taken, sn.takenAt = time.Now(), s.Seq
		sn.mu.Unlock()
	default:
	}
}

// close waits for the pending write, then writes a last snapshot when this replica leads
// and the view moved since the last one. The view must not move any more.
func (sn *snapshotter) close() {
	close(sn.pending)
	<-sn.done
	sn.mu.Lock()
	moved := sn.view.Seq() > sn.takenAt
	sn.mu.Unlock()
	if moved && sn.leads() {
		sn.write(sn.view.snapshot(sn.store.Created()))
	}
}

// snapshotTimeout bounds one snapshot's write or read.
const snapshotTimeout = time.Minute

// write puts a snapshot as the view's object and sweeps away the chunks of any other
// (a put that was killed halfway, or raced another replica's); it logs what fails.
func (sn *snapshotter) write(s viewSnapshot) {
	ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
	defer cancel()
	started := time.Now()
	obs, err := sn.store.ReadJetStream().ObjectStore(ctx, SnapshotBucket)
	if err != nil {
		sn.log.Warn("routing view: snapshot not written", zap.Error(err))
		return
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(encodeSnapshot(pw, s)) }()
	info, err := obs.Put(ctx, jetstream.ObjectMeta{Name: viewObject,
		Description: fmt.Sprintf("routing load view at sequence %d, format %d", s.Seq, snapshotFormat)}, pr)
	_ = pr.CloseWithError(err) // unblocks the encoder when Put gave up
	if err != nil {
		sn.log.Warn("routing view: snapshot not written", zap.Uint64("seq", s.Seq), zap.Error(err))
		return
	}
	if err := sweepChunks(ctx, sn.store.ReadJetStream(), info.NUID); err != nil {
		sn.log.Warn("routing view: could not sweep the chunks of abandoned snapshots", zap.Error(err))
	}
	sn.log.Info("routing view: snapshot written", zap.Uint64("seq", s.Seq), zap.Int("tickets", len(s.Tickets.Seq)),
		zap.Uint64("bytes", info.Size), zap.Duration("took", time.Since(started)))
}

// sweepChunks purges every chunk subject of the bucket but the object's (keep), so that
// puts that never finished leave nothing behind. (The object store keeps no list of
// them.) A put of another replica in flight at that moment loses its chunks: its object
// then fails its digest, and is ignored, until the next snapshot; two replicas lead at
// once only while their leases disagree.
func sweepChunks(ctx context.Context, js jetstream.JetStream, keep string) error {
	stream, err := js.Stream(ctx, "OBJ_"+SnapshotBucket)
	if err != nil {
		return err
	}
	prefix := "$O." + SnapshotBucket + ".C."
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return err
	}
	for subject := range info.State.Subjects {
		if nuid, ok := strings.CutPrefix(subject, prefix); ok && nuid != keep {
			if err := stream.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
				return err
			}
		}
	}
	return nil
}
