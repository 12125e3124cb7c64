package routing

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
)

var updateSnapshot = flag.Bool("update-snapshot", false, "write testdata's golden snapshot of snapshotFormat anew")

// goldenSnapshot has a value in every field.
func goldenSnapshot() viewSnapshot {
	uuid := [16]byte{0x01, 0x9a, 15: 0x0d}
	s := viewSnapshot{
		Log: time.Date(2026, 11, 30, 8, 0, 0, 123, time.UTC), Seq: 42, Latest: 1_764_500_000,
		Names: []string{"acme", "desk", "ann", "t-1"},
		Tickets: snapshotTickets{Group: []uint32{2, 2}, Agent: []uint32{3, 0}, Open: []bool{true, false},
			ResolvedAt: []uint32{0, 1_764_400_000}, Hash: append(bytes.Repeat([]byte{0xab}, 32), bytes.Repeat([]byte{0x01}, 32)...)},
		Resolved:    snapshotResolved{At: []uint32{1_764_400_000}},
		Assignments: []snapshotCount{{Tenant: 1, Name: 2, N: 7}},
	}
	s.Tickets.Keys.add(ticketKey{tenant: 1, uuid: uuid})
	s.Tickets.Keys.add(ticketKey{tenant: 1, other: 4})
	s.Resolved.Keys.add(ticketKey{tenant: 1, other: 4})
	return s
}

// TestSnapshotFormat pins the encoding of snapshotFormat: a change to viewSnapshot fails
// here until snapshotFormat is bumped and the new golden file written with
// -update-snapshot (the old file stays: the format a release wrote is never reread as
// another).
func TestSnapshotFormat(t *testing.T) {
	path := filepath.Join("testdata", fmt.Sprintf("view-snapshot.v%d.gob", snapshotFormat))
	var buf bytes.Buffer
	if err := encodeSnapshot(&buf, goldenSnapshot()); err != nil {
		t.Fatal(err)
	}
	if *updateSnapshot {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no golden snapshot of format %d: write it with go test -run TestSnapshotFormat -update-snapshot: %v", snapshotFormat, err)
	}
	if !bytes.Equal(buf.Bytes(), golden) {
		t.Fatalf("the encoding of snapshot format %d changed: bump snapshotFormat and write the new golden file with -update-snapshot", snapshotFormat)
	}
	got, err := decodeSnapshot(bytes.NewReader(golden), uint64(len(golden)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, goldenSnapshot()) {
		t.Fatalf("decoded %+v\nwant %+v", got, goldenSnapshot())
	}

	var other bytes.Buffer
	if err := encodeSnapshot(&other, goldenSnapshot()); err != nil {
		t.Fatal(err)
	}
	other.Bytes()[3]++ // the format number: gob's first value, after its length, type and a zero
	if _, err := decodeSnapshot(&other, uint64(other.Len())); !errors.Is(err, errSnapshotFormat) {
		t.Fatalf("a snapshot of another format: %v, want errSnapshotFormat", err)
	}
}

// sealedLog builds a log of sealed events, one ticket chain each, sequences from 1.
type sealedLog struct {
	t     *testing.T
	raws  []events.Raw
	heads map[string]string
	now   time.Time
}

func (l *sealedLog) add(tenant, ticket string, p events.Payload) events.Raw {
	l.t.Helper()
	r, err := events.Seal(events.Event{Tenant: tenant, TicketID: ticket, Time: l.now, Data: p}, l.heads[tenant+"/"+ticket])
	if err != nil {
		l.t.Fatal(err)
	}
	r.Sequence = uint64(len(l.raws) + 1)
	l.heads[tenant+"/"+ticket] = r.Hash
	l.raws = append(l.raws, r)
	return r
}

// sorted is what s holds, in a fixed order, so that two snapshots of equal views compare
// equal: names as text, tickets by key.
type sortedSnapshot struct {
	Seq, Latest       int64
	Tickets, Resolved []string
	Assignments       []string
}

func sorted(s viewSnapshot) sortedSnapshot {
	name := func(i uint32) string { return append([]string{""}, s.Names...)[i] }
	key := func(c snapshotKeys, i int) string {
		return fmt.Sprintf("%s/%x/%s", name(c.Tenant[i]), c.UUID[16*i:16*i+16], name(c.Other[i]))
	}
	out := sortedSnapshot{Seq: int64(s.Seq), Latest: s.Latest}
	ts := s.Tickets
	for i := range ts.Group {
		out.Tickets = append(out.Tickets, fmt.Sprintf("%s group=%s agent=%s open=%v resolved=%d hash=%x", key(ts.Keys, i),
			name(ts.Group[i]), name(ts.Agent[i]), ts.Open[i], ts.ResolvedAt[i], ts.Hash[32*i:32*i+32]))
	}
	for i, at := range s.Resolved.At { // stream order: not sorted
		out.Resolved = append(out.Resolved, fmt.Sprintf("%s at=%d", key(s.Resolved.Keys, i), at))
	}
	for _, a := range s.Assignments {
		out.Assignments = append(out.Assignments, fmt.Sprintf("%s/%s=%d", name(a.Tenant), name(a.Name), a.N))
	}
	slices.Sort(out.Tickets)
	slices.Sort(out.Assignments)
	return out
}

// TestSnapshotRestoresTheView: a view restored from its encoded snapshot holds what the
// view held (loads, chain heads, resolutions to forget) and goes on as it would.
func TestSnapshotRestoresTheView(t *testing.T) {
	l := &sealedLog{t: t, heads: map[string]string{}, now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	const uuid = "019a3c1e-7b2f-7d40-9c1a-5e6f7a8b9c0d"
	for _, tk := range []string{uuid, "t-2", "t-3"} {
		l.add("acme", tk, events.Opened{})
		l.add("acme", tk, events.Routed{Group: "desk", Tier: 1})
		l.add("acme", tk, events.Assigned{Agent: "ann"})
	}
	l.add("globex", "g-1", events.Opened{})
	l.add("globex", "g-1", events.Assigned{Agent: "gus", Group: "ops"})
	l.add("acme", "t-2", events.Resolved{})
	l.add("acme", "t-3", events.Cancelled{})
	original := NewView()
	for _, r := range l.raws {
		original.Apply(r)
	}
	log := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	if err := encodeSnapshot(&buf, original.snapshot(log)); err != nil {
		t.Fatal(err)
	}
	decoded, err := decodeSnapshot(&buf, uint64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	restored, err := restoreView(decoded)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sorted(restored.snapshot(log)), sorted(original.snapshot(log))) {
		t.Fatalf("restored %+v\nwant %+v", sorted(restored.snapshot(log)), sorted(original.snapshot(log)))
	}
	// Both go on alike: the next event links to the restored heads, a forged one to none,
	// and t-2 is forgotten once past reopening.
	l.now = l.now.Add(reopenHorizon + time.Hour)
	next := []events.Raw{l.add("acme", uuid, events.Assigned{Agent: "bob"}), l.add("acme", "t-2", events.Reopened{})}
	forged := l.add("acme", "t-1", events.Assigned{Agent: "eve"})
	forged.PrevHash = l.heads["acme/"+uuid]
	forged.Hash = events.ComputeHash(forged.Event, forged.RawData)
	for _, v := range []*View{original, restored} {
		for _, r := range append(next, forged) {
			v.Apply(r)
		}
	}
	for _, v := range []*View{original, restored} {
		if ann, bob, eve := v.OpenTickets("acme", "ann"), v.OpenTickets("acme", "bob"), v.OpenTickets("acme", "eve"); ann != 0 || bob != 1 || eve != 0 {
			t.Errorf("after the next events: ann %d, bob %d, eve %d open tickets; want 0, 1, 0", ann, bob, eve)
		}
		if n := v.Assignments("acme", "desk"); n != 4 {
			t.Errorf("after the next events: %d assignments to desk, want 4", n)
		}
	}
	if !reflect.DeepEqual(sorted(restored.snapshot(log)), sorted(original.snapshot(log))) {
		t.Fatalf("after the next events, restored %+v\nwant %+v", sorted(restored.snapshot(log)), sorted(original.snapshot(log)))
	}

	bad := original.snapshot(log)
	bad.Tickets.Agent[0] = uint32(len(bad.Names) + 1)
	if _, err := restoreView(bad); !errors.Is(err, errSnapshotShape) {
		t.Errorf("a snapshot naming a name it does not have: %v, want errSnapshotShape", err)
	}
	short := original.snapshot(log)
	short.Tickets.Hash = short.Tickets.Hash[:len(short.Tickets.Hash)-1]
	if _, err := restoreView(short); !errors.Is(err, errSnapshotShape) {
		t.Errorf("a snapshot with a hash cut short: %v, want errSnapshotShape", err)
	}
}

// syntheticSnapshot is a snapshot of n open tickets of 3 tenants, 50 agents and groups each.
func syntheticSnapshot(n int) viewSnapshot {
	s := viewSnapshot{Log: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Seq: uint64(5 * n)}
	for i := range 3 {
		s.Names = append(s.Names, fmt.Sprintf("tenant-%d", i))
	}
	for i := range 50 {
		s.Names = append(s.Names, fmt.Sprintf("agent-%d", i), fmt.Sprintf("group-%d", i))
	}
	ts := makeTickets(n)
	for i := range n {
		uuid := [16]byte{0x01, 0x9a, 6: 0x70}
		binary.BigEndian.PutUint64(uuid[8:], uint64(i))
		ts.Keys.add(ticketKey{tenant: name(1 + i%3), uuid: uuid})
		var h [32]byte
		for j := range h {
			h[j] = byte(i*31 + j*7)
		}
		ts.Group, ts.Agent, ts.Open = append(ts.Group, uint32(5+2*(i%50))), append(ts.Agent, uint32(4+2*(i%50))), append(ts.Open, true)
		ts.ResolvedAt, ts.Hash = append(ts.ResolvedAt, 0), append(ts.Hash, h[:]...)
	}
	s.Tickets = ts
	return s
}

// TestSnapshotSegments: a snapshot of more tickets than a segment holds decodes to what
// was encoded.
func TestSnapshotSegments(t *testing.T) {
	s := syntheticSnapshot(2*snapshotSegment + 5)
	var buf bytes.Buffer
	if err := encodeSnapshot(&buf, s); err != nil {
		t.Fatal(err)
	}
	got, err := decodeSnapshot(&buf, uint64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("decoded %d tickets, not the %d encoded", len(got.Tickets.Group), len(s.Tickets.Group))
	}

	// A snapshot that claims more tickets than its bytes can hold is refused before
	// anything is made for them.
	var claim bytes.Buffer
	enc := gob.NewEncoder(&claim)
	if err := errors.Join(enc.Encode(snapshotFormat), enc.Encode(viewSnapshot{TicketCount: 1 << 30})); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeSnapshot(&claim, uint64(claim.Len())); !errors.Is(err, errSnapshotShape) {
		t.Fatalf("a snapshot claiming 2^30 tickets in %d bytes: %v, want errSnapshotShape", claim.Len(), err)
	}
}

// BenchmarkSnapshotRestore1M decodes and restores the snapshot of a view of 1,000,000 open
// tickets: what a replica that starts on such a log does before it follows the log's
// tail. It reports the snapshot's size.
func BenchmarkSnapshotRestore1M(b *testing.B) {
	var buf bytes.Buffer
	if err := encodeSnapshot(&buf, syntheticSnapshot(1_000_000)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		d, err := decodeSnapshot(bytes.NewReader(buf.Bytes()), uint64(buf.Len()))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := restoreView(d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len())/(1<<20), "MiB")
}

// TestSnapshotEveryEvents: the leading replica snapshots once everyEvents events arrived
// since the last snapshot, however recent that is, and a replica that does not lead
// never.
func TestSnapshotEveryEvents(t *testing.T) {
	ctx := context.Background()
	_, nc := eventstest.RunJetStream(t)
	store, err := events.NewStore(ctx, nc, events.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	obs, err := store.JetStream().CreateObjectStore(ctx, SnapshotBucketConfig())
	if err != nil {
		t.Fatal(err)
	}
	var leaderTook uint64
	for _, leads := range []bool{false, true} {
		view := NewView()
		sn := newSnapshotter(store, view, func() bool { return leads }, zaptest.NewLogger(t))
		sn.everyEvents = 10
		for seq := range uint64(25) {
			view.Skip(seq + 1)
			sn.maybe()
		}
		sn.mu.Lock()
		takenAt := sn.takenAt
		sn.mu.Unlock()
		// The leader took one at 10 and one at 20, unless the write of the first was still
		// pending then (one at a time: the second is dropped, and the next event, up to 25,
		// takes it).
		if ok := map[bool]bool{false: takenAt == 0, true: takenAt == 10 || takenAt >= 20 && takenAt <= 25}[leads]; !ok {
			t.Errorf("leads %v: last snapshot taken at seq %d", leads, takenAt)
		}
		if leads {
			leaderTook = takenAt
		}
		close(sn.pending) // the writer writes what it was given, and stops
		<-sn.done
	}
	res, err := obs.Get(ctx, viewObject)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Close() }()
	info, err := res.Info()
	if err != nil {
		t.Fatal(err)
	}
	s, err := decodeSnapshot(res, info.Size)
	if err != nil {
		t.Fatal(err)
	}
	if s.Seq != leaderTook {
		t.Errorf("stored snapshot at seq %d, want the leader's last (%d)", s.Seq, leaderTook)
	}
}
