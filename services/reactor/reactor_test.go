package reactor_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
	"github.com/ledgerdesk/ledgerdesk/services/reactor/reactortest"
)

func setup(t *testing.T) (*nats.Conn, *events.Store) {
	t.Helper()
	env := reactortest.New(t)
	return env.Conn, env.Store
}

func open(t *testing.T, store *events.Store) events.Event {
	t.Helper()
	res, err := store.Append(context.Background(), events.Append{Tenant: "acme", TicketID: eventstest.NewTicketID(t),
		Events: []events.Event{{Data: eventstest.OpenedFixture("printer on fire")}}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Events[0]
}

func newService(t *testing.T, nc *nats.Conn, store *events.Store) *reactor.Service {
	t.Helper()
	svc, err := reactor.New(context.Background(), reactor.Config{Name: "testsvc", Conn: nc, Store: store,
		Logger: zap.NewNop(), MaxRetries: 2, RetryInterval: 10 * time.Millisecond, AckWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// effect is a test decision: one comment per cause, with a derived id.
func effect(cause events.Event) reactor.Decide {
	return func(events.Trail) ([]events.Event, error) {
		return []events.Event{{ID: reactor.DerivedID(cause.ID, "test-effect"), Data: events.Commented{Body: "effect of " + cause.ID}}}, nil
	}
}

// effects counts the recorded effects of a ticket and checks their envelope.
func effects(t *testing.T, store *events.Store, ticket string) []events.Raw {
	t.Helper()
	raws, _, err := store.Load(context.Background(), ticket)
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Raw
	for _, r := range raws {
		if r.Type == events.TypeCommented {
			out = append(out, r)
		}
	}
	return out
}

func TestApplyRecordsAnEffectOnce(t *testing.T) {
	nc, store := setup(t)
	svc := newService(t, nc, store)
	cause := open(t, store)
	ctx := context.Background()
	var wg sync.WaitGroup
	var appended atomic.Int32
	for range 5 { // concurrent replicas handling the same cause
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs, err := svc.Apply(ctx, cause, effect(cause))
			if err != nil {
				t.Error(err)
			}
			appended.Add(int32(len(evs)))
		}()
	}
	wg.Wait()
	if _, err := svc.Apply(ctx, cause, effect(cause)); err != nil { // a replay later on
		t.Fatal(err)
	}
	got := effects(t, store, cause.TicketID)
	if len(got) != 1 || appended.Load() != 1 {
		t.Fatalf("recorded %d effects, Apply reported %d appended; want 1", len(got), appended.Load())
	}
	e := got[0]
	if e.CausationID != cause.ID || e.CorrelationID != cause.ID || e.Source != "/ledgerdesk/testsvc" || e.Actor != "service:testsvc" {
		t.Fatalf("effect envelope: causation %q correlation %q source %q actor %q", e.CausationID, e.CorrelationID, e.Source, e.Actor)
	}
	raws, _, _ := store.Load(ctx, cause.TicketID)
	if err := events.VerifyChain(raws); err != nil {
		t.Fatal(err)
	}
}

// TestPoisonedMessageGoesToDeadLetters: a message that keeps failing lands in DEADLETTER
// with the error and its original headers, and the next messages are still handled
// (while it waits for its next retry).
func TestPoisonedMessageGoesToDeadLetters(t *testing.T) {
	nc, store := setup(t)
	svc := newService(t, nc, store)
	bad := open(t, store)
	var mu sync.Mutex
	var handled []string
	var attempts atomic.Int32
	err := svc.React("poison", reactor.PerCause(func(ctx context.Context, _ events.Trail, r events.Raw) ([]events.Event, error) {
		if r.ID == bad.ID {
			attempts.Add(1)
			return nil, errors.New("cannot handle this one")
		}
		mu.Lock()
		handled = append(handled, r.ID)
		mu.Unlock()
		return nil, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	reactortest.RunService(t, svc)
	good := open(t, store)
	eventstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(handled, good.ID) {
			return errors.New("the message after the poisoned one is not handled")
		}
		return nil
	})
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(context.Background(), reactor.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	var m *jetstream.RawStreamMsg
	eventstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() (err error) { // retried with a backoff meanwhile
		m, err = stream.GetLastMsgForSubject(context.Background(), "deadletter.testsvc")
		return err
	})
	if n := attempts.Load(); n != 3 { // the first try and MaxRetries 2
		t.Errorf("poisoned message tried %d times, want 3", n)
	}
	if got := m.Header.Get(reactor.MetadataReason); got != "cannot handle this one" {
		t.Errorf("dead letter reason %q", got)
	}
	if m.Header.Get(events.HeaderID) != bad.ID || m.Header.Get(events.HeaderType) != events.TypeOpened ||
		m.Header.Get(events.HeaderSubject) != bad.TicketID || m.Header.Get(events.HeaderHash) != bad.Hash {
		t.Errorf("dead letter lost the original headers: %v", m.Header)
	}
}

// TestTheLogUnavailableIsRetriedNotPoisoned: a message whose handling fails because the
// log cannot be reached (a cluster without a leader: no responders) is retried well past
// MaxRetries and handled once the log is back; nothing goes to DEADLETTER.
func TestTheLogUnavailableIsRetriedNotPoisoned(t *testing.T) {
	nc, store := setup(t)
	svc := newService(t, nc, store) // MaxRetries 2
	cause := open(t, store)
	var attempts atomic.Int32
	handled := make(chan struct{})
	err := svc.React("outage", reactor.PerCause(func(ctx context.Context, _ events.Trail, r events.Raw) ([]events.Event, error) {
		if r.ID != cause.ID {
			return nil, nil
		}
		if attempts.Add(1) <= 5 {
			return nil, fmt.Errorf("append to TICKETS: %w", nats.ErrNoResponders)
		}
		close(handled)
		return nil, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	reactortest.RunService(t, svc)
	select {
	case <-handled:
	case <-time.After(20 * time.Second):
		t.Fatalf("not handled after %d attempts", attempts.Load())
	}
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(context.Background(), reactor.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := stream.Info(context.Background()); err != nil || info.State.Msgs != 0 {
		t.Fatalf("DEADLETTER holds %d messages (%v), want none: the log's outage is no poison", info.State.Msgs, err)
	}
}

// TestRedeliveryAfterCrashDoesNotRepeatEffects: the handler records its effect and then
// dies before the ack, twice (a panic, then a restart of the service mid-handling);
// the redelivered cause finds its effect recorded and appends nothing.
func TestRedeliveryAfterCrashDoesNotRepeatEffects(t *testing.T) {
	nc, store := setup(t)
	cause := open(t, store)
	var calls atomic.Int32
	blocked := make(chan struct{})
	decide := func(_ context.Context, _ events.Trail, causes []events.Raw) (reactor.Decision, error) {
		var d reactor.Decision
		for _, r := range causes {
			if r.Type != events.TypeOpened {
				continue
			}
			d.Events = append(d.Events, events.Event{ID: reactor.DerivedID(r.ID, "test-effect"), CausationID: r.ID,
				Data: events.Commented{Body: "effect of " + r.ID}})
			d.Then = func(ctx context.Context) error { // runs after the effect is recorded, before the ack
				switch calls.Add(1) {
				case 1:
					panic("crash after recording the effect")
				case 2:
					close(blocked) // the service is stopped while this message is in flight
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}
		}
		return d, nil
	}
	first := newService(t, nc, store)
	if err := first.React("effects", decide); err != nil {
		t.Fatal(err)
	}
	stopFirst := reactortest.RunService(t, first)
	<-blocked
	stopFirst()
	second := newService(t, nc, store)
	if err := second.React("effects", decide); err != nil {
		t.Fatal(err)
	}
	reactortest.RunService(t, second)
	eventstest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if n := calls.Load(); n < 3 {
			return fmt.Errorf("handled %d times, want 3 (panic, restart, success)", n)
		}
		return nil
	})
	if got := effects(t, store, cause.TicketID); len(got) != 1 {
		t.Fatalf("%d effects recorded after redeliveries, want 1", len(got))
	}
}

// TestReplicasHandleInOrderAndOnce: three replicas of a service share its partitions;
// each ticket's events are handled in stream order, each exactly once.
func TestReplicasHandleInOrderAndOnce(t *testing.T) {
	nc, store := setup(t)
	var mu sync.Mutex
	byTicket := map[string][]uint64{}
	byReplica := map[int]int{}
	handled := 0
	for i := range 3 {
		svc := newService(t, nc, store)
		if err := svc.React("ordered", reactor.PerCause(func(_ context.Context, _ events.Trail, r events.Raw) ([]events.Event, error) {
			mu.Lock()
			byTicket[r.TicketID] = append(byTicket[r.TicketID], r.Sequence)
			byReplica[i]++
			handled++
			mu.Unlock()
			if r.Type == events.TypeOpened {
				return effect(r.Event)(events.Trail{})
			}
			return nil, nil
		})); err != nil {
			t.Fatal(err)
		}
		reactortest.RunService(t, svc)
	}
	const tickets = 40
	for range tickets {
		open(t, store)
	}
	want := 2 * tickets // every opened and its effect
	eventstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if handled < want {
			return fmt.Errorf("handled %d of %d events", handled, want)
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond) // nothing more may arrive
	mu.Lock()
	defer mu.Unlock()
	if handled != want || len(byTicket) != tickets {
		t.Fatalf("handled %d events of %d tickets, want %d of %d", handled, len(byTicket), want, tickets)
	}
	for id, seqs := range byTicket {
		if len(seqs) != 2 || seqs[0] >= seqs[1] {
			t.Fatalf("ticket %s: handled seqs %v, want its opened then its effect, once each", id, seqs)
		}
	}
	if len(byReplica) != 3 {
		t.Errorf("events handled per replica: %v; want all three replicas sharing the partitions", byReplica)
	}
}

// TestRefusedEventsGoToDeadLettersUntouched: an altered event, an event built on it and a
// message that is no ledgerdesk event reach no handler; each is in DEADLETTER once per
// handler with the reason, at once (no retries), and the honest events around them are
// handled.
func TestRefusedEventsGoToDeadLettersUntouched(t *testing.T) {
	nc, store := setup(t)
	ctx := context.Background()
	env := reactortest.Env{Conn: nc, Store: store}
	svc := newService(t, nc, store)
	seen := map[string]chan string{"first": make(chan string, 20), "second": make(chan string, 20)}
	for name, ch := range seen {
		if err := svc.React(name, reactor.PerCause(func(_ context.Context, _ events.Trail, r events.Raw) ([]events.Event, error) {
			ch <- r.ID
			return nil, nil
		})); err != nil {
			t.Fatal(err)
		}
	}
	opened := open(t, store)
	forged, err := events.Seal(events.Event{ID: "forged-resolve", Source: "/evil", Tenant: "acme", TicketID: opened.TicketID,
		Time: time.Now(), Data: events.Resolved{}}, opened.Hash)
	if err != nil {
		t.Fatal(err)
	}
	forged.Actor = "someone else" // after sealing: the hash no longer matches
	onForged, _ := events.Seal(events.Event{ID: "forged-close", Source: "/evil", Tenant: "acme", TicketID: opened.TicketID,
		Time: time.Now(), Data: events.Closed{}}, forged.Hash)
	js := store.JetStream()
	for _, r := range []events.Raw{forged, onForged} {
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: events.Subject("acme", opened.TicketID), Header: r.Header(), Data: r.RawData}); err != nil {
			t.Fatal(err)
		}
	}
	junk, err := js.Publish(ctx, events.Subject("acme", opened.TicketID), []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	honest := env.Do(t, opened.TicketID, events.Assigned{Agent: "bob"})[0]
	if honest.PrevHash != opened.Hash {
		t.Fatalf("the honest append links to %.12s…, want the last accepted event %.12s…", honest.PrevHash, opened.Hash)
	}
	reactortest.RunService(t, svc)
	for name, ch := range seen {
		var got []string
		for len(got) < 2 {
			select {
			case id := <-ch:
				got = append(got, id)
			case <-time.After(10 * time.Second):
				t.Fatalf("handler %s saw %v, want the opened and the honest assignment", name, got)
			}
		}
		if got[0] != opened.ID || got[1] != honest.ID {
			t.Errorf("handler %s saw %v, want [%s %s]", name, got, opened.ID, honest.ID)
		}
		select {
		case id := <-ch:
			t.Errorf("handler %s also saw %s", name, id)
		default:
		}
	}
	stream, err := js.Stream(ctx, reactor.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	eventstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		info, err := stream.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs != 6 {
			return fmt.Errorf("%d dead letters, want 3 refused messages × 2 handlers", info.State.Msgs)
		}
		return nil
	})
	reasons := map[string]int{}
	for seq := uint64(1); seq <= 6; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != "deadletter.testsvc" {
			t.Errorf("dead letter on %s", m.Subject)
		}
		reason := m.Header.Get(reactor.MetadataReason)
		switch {
		case strings.Contains(reason, "altered or forged") && m.Header.Get(events.HeaderID) == forged.ID,
			strings.Contains(reason, "built on a rejected event") && m.Header.Get(events.HeaderID) == onForged.ID,
			strings.Contains(reason, "not a ledgerdesk event") && strings.Contains(reason, fmt.Sprint(junk.Sequence)):
			reasons[m.Header.Get(reactor.MetadataHandler)]++
		default:
			t.Errorf("dead letter %d: reason %q, id %q", seq, reason, m.Header.Get(events.HeaderID))
		}
	}
	if reasons["testsvc-first"] != 3 || reasons["testsvc-second"] != 3 {
		t.Errorf("dead letters per handler %v, want 3 each", reasons)
	}
}

// TestSoleCommitterNeedsNoHeads: two services append to every new ticket at once, as
// routing and SLA do, through one committer that every writer of the log shares (the
// tickets are opened through it too, as the intake does in `ledgerdesk run`). With
// SoleCommitter they catch their trails up from the committer and never read the log's
// heads; without it they read them. Either way each ticket ends with each service's one
// effect, in one intact chain.
func TestSoleCommitterNeedsNoHeads(t *testing.T) {
	for _, sole := range []bool{true, false} {
		t.Run(fmt.Sprintf("SoleCommitter=%v", sole), func(t *testing.T) {
			nc, store := setup(t)
			ctx := context.Background()
			var stored atomic.Int32
			committer := events.NewCommitter(store, 1, func(st events.CommitStats) { stored.Add(int32(st.Stored)) })
			t.Cleanup(committer.Close)
			var heads atomic.Int32
			sub, err := nc.Subscribe("$JS.API.DIRECT.GET."+events.StreamName, func(*nats.Msg) { heads.Add(1) })
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sub.Unsubscribe() })
			for _, name := range []string{"alpha", "beta"} {
				svc, err := reactor.New(ctx, reactor.Config{Name: name, Conn: nc, Store: store, Logger: zap.NewNop(),
					Committer: committer, SoleCommitter: sole})
				if err != nil {
					t.Fatal(err)
				}
				if err := svc.React("tickets", reactor.PerCause(func(_ context.Context, _ events.Trail, r events.Raw) ([]events.Event, error) {
					if r.Type != events.TypeOpened {
						return nil, nil
					}
					return []events.Event{{ID: reactor.DerivedID(r.ID, name), Data: events.Commented{Body: name}}}, nil
				})); err != nil {
					t.Fatal(err)
				}
				reactortest.RunService(t, svc)
			}
			const tickets = 60
			var ids []string
			for range tickets {
				ap, err := committer.Append(ctx, events.Append{Tenant: "acme", TicketID: eventstest.NewTicketID(t),
					Events: []events.Event{{Data: eventstest.OpenedFixture("both at once")}}})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, ap.Events[0].TicketID)
			}
			eventstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
				if n := stored.Load(); n < 3*tickets {
					return fmt.Errorf("%d appends stored, want the %d openings and both services' effects", n, tickets)
				}
				return nil
			})
			read := heads.Load() // before the checks below read the log themselves
			for _, id := range ids {
				if n := len(effects(t, store, id)); n != 2 {
					t.Fatalf("ticket %s: %d effects, want alpha's and beta's", id, n)
				}
				raws, _, err := store.Load(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if err := events.VerifyChain(raws); err != nil {
					t.Fatal(err)
				}
			}
			if sole && read != 0 {
				t.Errorf("SoleCommitter: %d direct gets of the log, want none", read)
			}
			if !sole && read == 0 {
				t.Error("without SoleCommitter: no direct get of the log; the heads were not read")
			}
		})
	}
}
