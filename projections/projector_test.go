package projections_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/projections"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logWriter appends ticket events to a real store.
type logWriter struct {
	t     *testing.T
	store *events.Store
	ids   map[string]string // name → ticket id
}

func (w *logWriter) open(name, tenant string, p events.Priority) {
	w.t.Helper()
	o := eventstest.OpenedFixture(name)
	o.Priority = p
	id := eventstest.NewTicketID(w.t)
	if _, err := w.store.Append(context.Background(), events.Append{Tenant: tenant, TicketID: id, Events: []events.Event{{Data: o}}}); err != nil {
		w.t.Fatal(err)
	}
	w.ids[name] = id
}

func (w *logWriter) add(name string, ps ...events.Payload) {
	w.t.Helper()
	var evs []events.Event
	for _, p := range ps {
		evs = append(evs, events.Event{Data: p})
	}
	decide := func(events.Trail) ([]events.Event, error) { return evs, nil }
	if _, err := w.store.Update(context.Background(), w.ids[name], decide, events.UpdateOptions{Attempts: 1}); err != nil {
		w.t.Fatal(err)
	}
}

var now = time.Now().UTC().Truncate(time.Millisecond)

func attached(response, resolution time.Duration) events.SLAAttached {
	due := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	return events.SLAAttached{PolicyID: "p", PolicyVersion: 1, Calendar: "24x7", Reason: "opened", Targets: []events.SLATarget{
		{Clock: events.ClockResponse, TargetMS: response.Milliseconds(), Due: due(response)},
		{Clock: events.ClockResolution, TargetMS: resolution.Milliseconds(), Due: due(resolution)},
	}}
}

// fixture writes six tickets; see TestQueuesAndBoard for what the read models must say.
func fixture(t *testing.T) (*events.Store, *logWriter) {
	_, nc := eventstest.RunJetStream(t)
	store, err := events.NewStore(context.Background(), nc, events.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	w := &logWriter{t: t, store: store, ids: map[string]string{}}
	w.open("A", "acme", "P2")
	w.open("B", "acme", "P1")
	w.open("C", "acme", "P3")
	w.open("D", "acme", "P2")
	w.open("E", "acme", "P1")
	w.open("F", "globex", "P1")
	w.add("A", events.Routed{Group: "desk", Tier: 1}, events.Assigned{Agent: "ann"}, attached(30*time.Minute, 4*time.Hour))
	w.add("B", events.Routed{Group: "desk", Tier: 1}, events.Assigned{Agent: "bob"}, attached(10*time.Minute, time.Hour))
	w.add("C", events.Routed{Group: "net", Tier: 2})
	w.add("D", events.Routed{Group: "desk", Tier: 1}, events.Assigned{Agent: "ann"}, attached(30*time.Minute, 4*time.Hour))
	w.add("E", events.Routed{Group: "desk", Tier: 1}, events.Assigned{Agent: "ann"}, events.Responded{Message: "on it"})
	w.add("E", events.Resolved{Code: "fixed"})
	w.add("F", events.Routed{Group: "desk", Tier: 1}, events.Assigned{Agent: "ann"})
	w.add("B", events.SLAWarning{Clock: events.ClockResponse, Percent: 50})
	w.add("A", events.SLABreached{Clock: events.ClockResponse})
	// D waits for the customer: its clocks pause, so it sorts after the running ones.
	w.add("D", events.Responded{Message: "need logs"}, events.Held{Reason: events.AwaitingCustomer},
		events.SLAPaused{Reason: events.AwaitingCustomer, Clocks: []string{events.ClockResolution}},
		events.SLACompleted{Clock: events.ClockResponse, Outcome: events.OutcomeMet, UsedMS: 1000, TargetMS: 1800000})
	return store, w
}

func open(t *testing.T, fs vfs.FS, batch int) *projections.Projector {
	t.Helper()
	p, err := projections.Open("rm", projections.Options{FS: fs, BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// catchUp runs p until it has applied the whole log, then stops it.
func catchUp(t *testing.T, p *projections.Projector, store *events.Store) error {
	t.Helper()
	last, err := store.LastSequence(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, store) }()
	waitCtx, waitCancel := context.WithTimeout(ctx, 10*time.Second)
	defer waitCancel()
	waited := make(chan error, 1)
	go func() { waited <- p.WaitFor(waitCtx, last) }()
	select {
	case err := <-done: // Run failed before the end
		cancel()
		return err
	case err := <-waited:
		cancel()
		if err != nil {
			t.Fatalf("read models stuck at seq %d of %d", p.Seq(), last)
		}
		return <-done
	}
}

func names(w *logWriter, pg projections.Page) string {
	byID := map[string]string{}
	for n, id := range w.ids {
		byID[id] = n
	}
	out := ""
	for _, v := range pg.Tickets {
		out += byID[v.Ticket.ID]
	}
	return out
}

func TestQueuesAndBoard(t *testing.T) {
	store, w := fixture(t)
	p := open(t, vfs.NewMem(), 1000)
	defer p.Close()
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	tier := func(n int) *int { return &n }
	for _, tc := range []struct {
		scope projections.QueueScope
		want  string
	}{
		{projections.QueueScope{Tenant: "acme"}, "BADC"}, // due +10m, +30m, paused (P2 older), none (P3)
		{projections.QueueScope{Tenant: "acme", Group: "desk"}, "BAD"},
		{projections.QueueScope{Tenant: "acme", Tier: tier(2)}, "C"},
		{projections.QueueScope{Tenant: "acme", Group: "desk", Tier: tier(1)}, "BAD"},
		{projections.QueueScope{Tenant: "acme", Agent: "ann"}, "AD"},
		{projections.QueueScope{Tenant: "acme", Agent: "ann", Tier: tier(2)}, ""},
		{projections.QueueScope{Tenant: "globex"}, "F"},
	} {
		pg, err := p.Queue(tc.scope, 50, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := names(w, pg); got != tc.want || (tc.scope.Agent == "" && pg.Total != uint64(len(tc.want))) {
			t.Errorf("queue %+v: %s (total %d), want %s", tc.scope, got, pg.Total, tc.want)
		}
	}
	// Paging.
	var got string
	cursor := ""
	for i := 0; i < 5; i++ {
		pg, err := p.Queue(projections.QueueScope{Tenant: "acme"}, 3, cursor)
		if err != nil {
			t.Fatal(err)
		}
		got += names(w, pg) + "|"
		if cursor = pg.Next; cursor == "" {
			break
		}
	}
	if got != "BAD|C|" {
		t.Errorf("pages %s, want BAD|C|", got)
	}
	if _, err := p.Queue(projections.QueueScope{Tenant: "acme"}, 3, "not-a-cursor"); !errors.Is(err, projections.ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
	for status, want := range map[string]string{projections.BoardBreached: "A", projections.BoardAtRisk: "B"} {
		pg, err := p.Board("acme", status, 10, "")
		if err != nil || names(w, pg) != want || pg.Total != 1 {
			t.Errorf("board %s: %s (total %d, %v), want %s", status, names(w, pg), pg.Total, err, want)
		}
	}
	v, seq, err := p.Ticket(w.ids["D"])
	if err != nil || seq != p.Seq() {
		t.Fatal(err)
	}
	res, resp := v.SLA.Clocks[1], v.SLA.Clocks[0]
	if v.Ticket.State != events.StateOnHold || res.State != projections.ClockPaused || res.Due != nil ||
		resp.State != projections.ClockStopped || resp.Outcome != events.OutcomeMet || !v.NextDue().IsZero() {
		t.Errorf("view of D: %+v", v)
	}
	if _, _, err := p.Ticket("nope"); !errors.Is(err, projections.ErrNotFound) {
		t.Errorf("unknown ticket: %v", err)
	}
}

// dump is every key and value of a store.
func dump(t *testing.T, fs vfs.FS) string {
	t.Helper()
	db, err := pebble.Open("rm", &pebble.Options{FS: fs, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var b bytes.Buffer
	for valid := it.First(); valid; valid = it.Next() {
		fmt.Fprintf(&b, "%q=%q\n", it.Key(), it.Value())
	}
	return b.String()
}

// reference is the read models built from zero in one go.
func reference(t *testing.T, store *events.Store) string {
	fs := vfs.NewMem()
	p := open(t, fs, 10000)
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return dump(t, fs)
}

// TestRebuildEquality: read models maintained incrementally, in batches of two, with
// more events arriving in between, equal those rebuilt from zero; so does a Rebuild.
func TestRebuildEquality(t *testing.T) {
	store, w := fixture(t)
	fs := vfs.NewMem()
	p := open(t, fs, 2)
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	w.add("B", events.Responded{Message: "hi"}, events.SLACompleted{Clock: events.ClockResponse, Outcome: events.OutcomeMet})
	w.add("C", events.Cancelled{Reason: "dup"})
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	want := reference(t, store)
	if got := dump(t, fs); got != want {
		t.Errorf("incremental read models differ from a rebuild:\n%s\nwant\n%s", got, want)
	}
	p = open(t, fs, 1000)
	if err := p.Rebuild(); err != nil || p.Seq() != 0 {
		t.Fatalf("rebuild: %v, seq %d", err, p.Seq())
	}
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if got := dump(t, fs); got != want {
		t.Error("Rebuild did not give the same read models")
	}
}

// TestEvictedViewsReadBackEqual: with a view cache of one ticket, nearly every event's
// view is evicted and read back from Pebble between batches of two; the read models are
// those of a rebuild all the same.
func TestEvictedViewsReadBackEqual(t *testing.T) {
	store, w := fixture(t)
	fs := vfs.NewMem()
	p, err := projections.Open("rm", projections.Options{FS: fs, BatchSize: 2, CachedViews: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	w.add("B", events.Responded{Message: "hi"}, events.SLACompleted{Clock: events.ClockResponse, Outcome: events.OutcomeMet})
	w.add("A", events.Commented{Body: "again"})
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, fs), reference(t, store); got != want {
		t.Errorf("read models with evicted views differ from a rebuild:\n%s\nwant\n%s", got, want)
	}
}

var errCrash = errors.New("crash inside a batch")

// crashPast makes the first batch of p that ends past seq fail just before its commit,
// as a crash inside it would, runs p into that failure and returns the checkpoint it
// left, which must be a batch's end in (0, seq].
func crashPast(t *testing.T, p *projections.Projector, store *events.Store, seq uint64) uint64 {
	t.Helper()
	crashed := false
	projections.SetBeforeCommit(p, func(last uint64) error {
		if last > seq && !crashed {
			crashed = true
			return errCrash
		}
		return nil
	})
	if err := catchUp(t, p, store); !errors.Is(err, errCrash) {
		t.Fatalf("run: %v, want the crash", err)
	}
	at := p.Seq()
	if at == 0 || at > seq {
		t.Fatalf("checkpoint %d after the crash", at)
	}
	return at
}

// TestCrashInsideABatch: the projector dies after applying part of a batch to Pebble but
// before the commit; after a restart nothing is missing or counted twice.
func TestCrashInsideABatch(t *testing.T) {
	store, _ := fixture(t)
	fs := vfs.NewMem()
	p := open(t, fs, 3)
	before := crashPast(t, p, store, 9)
	p.Close()
	restart(t, "a crash inside a batch", fs, store, before)
}

// TestFailedBatchLeavesNoTrace: a batch that fails before its commit changes nothing the
// same projector reads afterwards (its cached views included): run on, it ends with the
// read models of a rebuild from zero.
func TestFailedBatchLeavesNoTrace(t *testing.T) {
	store, _ := fixture(t)
	fs := vfs.NewMem()
	p := open(t, fs, 3)
	crashPast(t, p, store, 9)
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if got, want := dump(t, fs), reference(t, store); got != want {
		t.Errorf("after a failed batch:\n%s\nwant\n%s", got, want)
	}
}

// restart opens the read models in fs after a crash, checks that they resume at seq,
// runs them to the end of the log and compares them with a rebuild from zero.
func restart(t *testing.T, crash string, fs vfs.FS, store *events.Store, seq uint64) {
	t.Helper()
	p := open(t, fs, 3)
	if p.Seq() != seq {
		t.Fatalf("after %s, reopened at seq %d, want the last committed %d", crash, p.Seq(), seq)
	}
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if got, want := dump(t, fs), reference(t, store); got != want {
		t.Errorf("after %s:\n%s\nwant\n%s", crash, got, want)
	}
}

// TestCrashBetweenBatches: the machine loses everything Pebble did not sync; the read
// models come back at one of the checkpoints committed before the crash, at least the
// first (synced) one, with the batches before it, and the projector resumes after it.
func TestCrashBetweenBatches(t *testing.T) {
	store, _ := fixture(t)
	fs := vfs.NewCrashableMem()
	p := open(t, fs, 4)
	var crashedFS *vfs.MemFS
	committed := map[uint64]bool{}
	var first, atCrash uint64
	projections.SetBeforeCommit(p, func(last uint64) error {
		if crashedFS == nil && last > 12 {
			atCrash = p.Seq()
			crashedFS = fs.CrashClone(vfs.CrashCloneCfg{}) // power off: only synced data remains
		}
		if crashedFS == nil {
			committed[last] = true
			if first == 0 {
				first = last
			}
		}
		return nil
	})
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if crashedFS == nil {
		t.Fatal("never crashed")
	}
	reopened := open(t, crashedFS, 3)
	seq := reopened.Seq()
	reopened.Close()
	if !committed[seq] || seq < first || seq > atCrash {
		t.Fatalf("after a crash between batches, reopened at seq %d: want a checkpoint committed before the crash, %d to %d", seq, first, atCrash)
	}
	restart(t, "a crash between batches", crashedFS, store, seq)
}

// readAll is the whole log, in order.
func readAll(t testing.TB, store *events.Store) []events.Raw {
	t.Helper()
	ctx := context.Background()
	last, err := store.LastSequence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var raws []events.Raw
	done := make(chan struct{})
	sub, err := store.Subscribe(ctx, 1, func(r events.Raw) error {
		if raws = append(raws, r); r.Sequence == last {
			close(done)
		}
		return nil
	}, func(*events.Undecodable) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("read %d events of %d", len(raws), last)
	}
	return raws
}

// TestCatchUpBatchesAreFull: a projector behind the log's head waits for the events on
// their way, so each of its batches is full (BatchSize events, or BatchTickets tickets)
// but the last; the read models are those of a rebuild. The log is longer than the
// decoders' chunks, so batches wait for chunks still being decoded.
func TestCatchUpBatchesAreFull(t *testing.T) {
	store, w := fixture(t)
	for i := range 4 {
		comments := make([]events.Payload, 200)
		for k := range comments {
			comments[k] = events.Commented{Body: fmt.Sprintf("comment %d", k)}
		}
		w.add(string(rune('A'+i)), comments...)
	}
	raws := readAll(t, store)
	want := reference(t, store)
	for _, c := range []struct{ events, tickets int }{{4, 0}, {150, 0}, {0, 2}, {5, 3}, {0, 0}} {
		var wantEnds []uint64
		n, tickets := 0, map[string]bool{}
		for i, r := range raws {
			n, tickets[r.TicketID] = n+1, true
			if n == c.events || len(tickets) == c.tickets || i == len(raws)-1 {
				wantEnds, n, tickets = append(wantEnds, r.Sequence), 0, map[string]bool{}
			}
		}
		fs := vfs.NewMem()
		p, err := projections.Open("rm", projections.Options{FS: fs, BatchSize: c.events, BatchTickets: c.tickets})
		if err != nil {
			t.Fatal(err)
		}
		var ends []uint64
		projections.SetBeforeCommit(p, func(last uint64) error { ends = append(ends, last); return nil })
		if err := catchUp(t, p, store); err != nil {
			t.Fatal(err)
		}
		p.Close()
		if fmt.Sprint(ends) != fmt.Sprint(wantEnds) {
			t.Errorf("batches of at most %d events and %d tickets end at %v, want %v", c.events, c.tickets, ends, wantEnds)
		}
		if got := dump(t, fs); got != want {
			t.Errorf("batches of at most %d events and %d tickets: read models differ from a rebuild:\n%s\nwant\n%s", c.events, c.tickets, got, want)
		}
	}
}

// TestEventsAtTheHeadApplyAtOnce: a projector that has caught up applies each new event
// as soon as it arrives, without waiting for a batch to fill.
func TestEventsAtTheHeadApplyAtOnce(t *testing.T) {
	store, w := fixture(t)
	p := open(t, vfs.NewMem(), 1000)
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, store) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for _, add := range []func(){
		func() {},
		func() { w.add("C", events.Commented{Body: "one"}) },
		func() { w.add("A", events.Commented{Body: "two"}, events.Commented{Body: "three"}) },
	} {
		add()
		last, err := store.LastSequence(ctx)
		if err != nil {
			t.Fatal(err)
		}
		waitCtx, waitCancel := context.WithTimeout(ctx, 5*time.Second)
		err = p.WaitFor(waitCtx, last)
		waitCancel()
		if err != nil {
			t.Fatalf("read models at seq %d, the log at %d: %v", p.Seq(), last, err)
		}
	}
}

// TestAnotherFormatVersionRebuilds: read models written in another format version are
// dropped at open, and the next run rebuilds them from sequence 1.
func TestAnotherFormatVersionRebuilds(t *testing.T) {
	store, _ := fixture(t)
	fs := vfs.NewMem()
	p := open(t, fs, 1000)
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	p.Close()
	db, err := pebble.Open("rm", &pebble.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("m\x00format"), []byte{0, 0, 0, 0, 0, 0, 0, 0}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	p = open(t, fs, 1000)
	if p.Seq() != 0 {
		t.Fatalf("format 0 kept at seq %d", p.Seq())
	}
	if pg, err := p.Queue(projections.QueueScope{Tenant: "acme"}, 10, ""); err != nil || pg.Total != 0 || len(pg.Tickets) != 0 {
		t.Fatalf("old read models still there: %+v %v", pg, err)
	}
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if got, want := dump(t, fs), reference(t, store); got != want {
		t.Error("rebuilt read models differ")
	}
}

// TestForgedEventsCountNowhere publishes, behind the store's back, an altered event on
// ticket A (it would resolve it), an event built on it, a whole forged ticket and a
// message that is no ledgerdesk event; the read models leave every one out, say so
// through Refused, and go on with the honest events after them.
func TestForgedEventsCountNowhere(t *testing.T) {
	store, w := fixture(t)
	ctx := context.Background()
	raws, _, err := store.Load(ctx, w.ids["A"])
	if err != nil {
		t.Fatal(err)
	}
	head := raws[len(raws)-1]
	publish := func(r events.Raw) {
		t.Helper()
		if _, err := store.JetStream().PublishMsg(ctx, &nats.Msg{Subject: events.Subject(r.Tenant, r.TicketID), Header: r.Header(), Data: r.RawData}); err != nil {
			t.Fatal(err)
		}
	}
	resolved, err := events.Seal(events.Event{ID: "forged-1", Source: "/evil", Tenant: "acme", TicketID: head.TicketID, Time: now, Data: events.Resolved{}}, head.Hash)
	if err != nil {
		t.Fatal(err)
	}
	resolved.Actor = "admin" // changed after sealing: the hash no longer matches
	publish(resolved)
	closed, _ := events.Seal(events.Event{ID: "forged-2", Source: "/evil", Tenant: "acme", TicketID: head.TicketID, Time: now, Data: events.Closed{}}, resolved.Hash)
	publish(closed)
	ghost, _ := events.Seal(events.Event{ID: "forged-3", Source: "/evil", Tenant: "acme", TicketID: "ghost", Time: now, Data: eventstest.OpenedFixture("ghost")}, "")
	ghost.Hash = "0000"
	publish(ghost)
	if _, err := store.JetStream().Publish(ctx, events.Subject("acme", "junk"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	w.add("A", events.Commented{Body: "honest, after the forgeries"})
	last, err := store.LastSequence(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var refused []string
	p, err := projections.Open("rm", projections.Options{FS: vfs.NewMem(), Refused: func(r events.Refused) {
		refused = append(refused, r.Message().Header.Get(events.HeaderID))
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := catchUp(t, p, store); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%q", refused) != `["forged-1" "forged-2" "forged-3" ""]` {
		t.Errorf("refused %q, want the three forged events and the junk message", refused)
	}
	v, _, err := p.Ticket(w.ids["A"])
	if err != nil {
		t.Fatal(err)
	}
	if v.Ticket.State == events.StateResolved || v.Ticket.State == events.StateClosed || v.Seq != last {
		t.Errorf("ticket A after forgeries: state %s at seq %d; want it unresolved, at the honest comment (seq %d)", v.Ticket.State, v.Seq, last)
	}
	if _, _, err := p.Ticket("ghost"); !errors.Is(err, projections.ErrNotFound) {
		t.Errorf("forged ticket in the read models: %v", err)
	}
	pg, err := p.Queue(projections.QueueScope{Tenant: "acme"}, 50, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(w, pg); got != "BADC" || pg.Total != 4 {
		t.Errorf("queue after forgeries: %s (total %d), want BADC", got, pg.Total)
	}
}
