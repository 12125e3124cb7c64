package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
)

// Source is the ce-source of the events the inbox appends.
const Source = "/ledgerdesk/intake"

// derivedNamespace derives a message's ticket and event ids from its key. NB: never
// change it: redeliveries and re-sends find their effects by these ids.
var derivedNamespace = uuid.MustParse("0d6b1b1e-5a52-4f0e-9b7e-6c1f5d2a9e33")

// Problem kinds of inbound messages (urn:ledgerdesk:problem:<kind>). NB: API contract.
const (
	KindMalformedEvent = "malformed-cloudevent"
	KindUnknownType    = "unknown-type"
	KindSchema         = "schema-violation"
	KindUnknownTenant  = "unknown-tenant"
	KindIDReused       = "ce-id-reused"
)

// Config wires a Processor.
type Config struct {
	Store     *events.Store     // required: the ticket log
	Committer *events.Committer // required: appends
	Configs   *reactor.Configs  // required: a tenant without a configuration is unknown
	Logger    *zap.Logger       // required
	Now       func() time.Time  // default time.Now
	// Parallel bounds how many messages of a batch are applied at once (default 64).
	Parallel int
}

// Processor turns inbound messages into ticket commands and answers each with its
// outcome. It is safe for concurrent use; messages with the same key are applied one at
// a time.
type Processor struct {
	cfg      Config
	outcomes outcomes
	refs     references
	schemas  *schemas
	locks    keyLocks
}

// NewProcessor opens the OUTCOMES stream and the REFERENCES bucket (app.Provision makes
// them).
func NewProcessor(ctx context.Context, cfg Config) (*Processor, error) {
	if cfg.Store == nil || cfg.Committer == nil || cfg.Configs == nil || cfg.Logger == nil {
		return nil, errors.New("inbox: Store, Committer, Configs and Logger are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 64
	}
	js := cfg.Store.JetStream()
	stream, err := js.Stream(ctx, OutcomeStream)
	if err != nil {
		return nil, fmt.Errorf("inbox: open stream %s (provisioned with admin credentials): %w", OutcomeStream, err)
	}
	kv, err := js.KeyValue(ctx, ReferencesBucket)
	if err != nil {
		return nil, fmt.Errorf("inbox: open KV bucket %s (provisioned with admin credentials): %w", ReferencesBucket, err)
	}
	sc, err := compileSchemas()
	if err != nil {
		return nil, err
	}
	return &Processor{cfg: cfg, outcomes: outcomes{js: js, stream: stream}, refs: references{kv: kv}, schemas: sc}, nil
}

// Result is a message's outcome, or the error that kept it from one (the store
// unavailable, say): such a message is to be tried again, and nothing is recorded.
type Result struct {
	Outcome Outcome
	Err     error
}

// Handle applies msgs and records their outcomes in OUTCOMES (msgIDs, when given, are the
// outcomes' Nats-Msg-Ids, one a message). Messages about the same ticket or reference are
// applied in their order, the others concurrently.
func (p *Processor) Handle(ctx context.Context, msgs []Message, msgIDs []string) []Result {
	results := make([]Result, len(msgs))
	var groups [][]int
	byKey := map[string]int{}
	for i, m := range msgs {
		k := orderKey(m)
		g, ok := byKey[k]
		if !ok || k == "" {
			g = len(groups)
			byKey[k] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	sem := make(chan struct{}, p.cfg.Parallel)
	var wg sync.WaitGroup
	for _, g := range groups {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for _, i := range g {
				results[i] = p.one(ctx, msgs[i])
			}
		})
	}
	wg.Wait()
	acks := make([]jetstream.PubAckFuture, len(msgs))
	for i := range results {
		if results[i].Err != nil || !recordable(results[i].Outcome) {
			continue
		}
		id := ""
		if msgIDs != nil {
			id = msgIDs[i]
		}
		if acks[i], results[i].Err = p.outcomes.record(ctx, results[i].Outcome, id); results[i].Err != nil {
			results[i].Err = fmt.Errorf("inbox: record outcome: %w", results[i].Err)
		}
	}
	for i, a := range acks {
		if a == nil {
			continue
		}
		select {
		case <-a.Ok():
		case err := <-a.Err():
			results[i].Err = fmt.Errorf("inbox: record outcome: %w", err)
		case <-ctx.Done():
			results[i].Err = ctx.Err()
		}
	}
	return results
}

// recordable: an outcome is kept when its subject can be made (a tenant and an
// integration that are subject tokens).
func recordable(o Outcome) bool {
	return o.key != "" && subjectToken(o.Tenant) && subjectToken(o.Integration)
}

func subjectToken(s string) bool { return s != "" && !strings.ContainsAny(s, ".*> \t\r\n") }

// orderKey is what a message must be applied in order with: its reference, else its
// ticket; "" for a message that orders with nothing.
func orderKey(m Message) string {
	if m.Event == nil {
		return ""
	}
	var ref events.TicketRef
	_ = json.Unmarshal(m.Event.Data(), &ref)
	switch {
	case ref.ExternalID != "":
		return referenceKey(m.Tenant, m.Event.Source(), ref.ExternalID)
	case ref.Ticket != "":
		return "ticket:" + ref.Ticket
	}
	return ""
}

// one decides a message's outcome.
func (p *Processor) one(ctx context.Context, m Message) Result {
	now := p.cfg.Now().UTC()
	o := Outcome{Tenant: m.Tenant, Integration: m.Integration, At: now}
	reject := func(pr *httpx.Problem) Result {
		o.Status, o.Problem = StatusRejected, pr
		return Result{Outcome: o}
	}
	e := m.Event
	if e != nil {
		o.ID, o.Source, o.Type = e.ID(), e.Source(), e.Type()
		if e.ID() != "" && e.Source() != "" {
			o.key = messageKey(m.Tenant, m.Integration, e.Source(), e.ID())
		}
	}
	if o.key == "" {
		o.key = "unkeyed-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	}
	if pr := p.envelope(ctx, m); pr != nil {
		return reject(pr)
	}
	o.Digest = digestOf(e)
	unlock := p.locks.lock(o.key)
	defer unlock()
	prev, err := p.outcomes.accepted(ctx, m.Tenant, m.Integration, o.key)
	if err != nil {
		return Result{Err: err}
	}
	if prev != nil {
		if prev.Digest != o.Digest {
			return reject(httpx.NewProblem(http.StatusConflict, KindIDReused, "ce-id reused",
				fmt.Sprintf("ce-id %q from %q was accepted on %s with another type or data; a new message needs a new id",
					e.ID(), e.Source(), prev.At.Format(time.RFC3339))))
		}
		prev.Replayed, prev.At = true, now
		return Result{Outcome: *prev}
	}
	in, pr := p.schemas.decode(e.Type(), e.Data())
	if pr != nil {
		return reject(pr)
	}
	ticket, seq, existing, err := p.apply(ctx, m, o.key, in, now)
	if err != nil {
		pr := httpx.ProblemFor(err)
		if pr.Status >= 500 || errors.Is(err, events.ErrConflict) || errors.Is(err, events.ErrDuplicate) {
			return Result{Err: err}
		}
		return reject(pr)
	}
	o.Status, o.Ticket, o.Sequence, o.Existing = StatusAccepted, ticket, seq, existing
	return Result{Outcome: o}
}

// envelope checks what the message must be before its data is looked at: a CloudEvent
// of a known type with JSON data, for a configured tenant.
func (p *Processor) envelope(ctx context.Context, m Message) *httpx.Problem {
	if m.Err != nil || m.Event == nil {
		detail := "not a CloudEvent"
		if m.Err != nil {
			detail = m.Err.Error()
		}
		return httpx.NewProblem(http.StatusBadRequest, KindMalformedEvent, "Malformed CloudEvent", detail)
	}
	e := m.Event
	if err := e.Validate(); err != nil {
		return httpx.NewProblem(http.StatusBadRequest, KindMalformedEvent, "Malformed CloudEvent", err.Error())
	}
	if !p.schemas.known(e.Type()) {
		pr := httpx.NewProblem(http.StatusBadRequest, KindUnknownType, "Unknown message type",
			e.Type()+" is not an inbound message type; GET /v1/contracts lists them")
		pr.Allowed = events.InboundTypeNames()
		return pr
	}
	if !jsonData(e) {
		return httpx.NewProblem(http.StatusUnsupportedMediaType, KindMalformedEvent, "Unsupported data content type",
			"datacontenttype "+e.DataContentType()+": the data must be application/json")
	}
	if !events.ValidToken(m.Tenant) {
		return httpx.NewProblem(http.StatusBadRequest, httpx.KindValidation, "Invalid tenant",
			"tenant "+fmt.Sprintf("%q", m.Tenant)+": 1-64 letters, digits, '-' or '_'")
	}
	if _, _, err := p.cfg.Configs.Current(ctx, m.Tenant); err != nil {
		return httpx.NewProblem(http.StatusNotFound, KindUnknownTenant, "Unknown tenant",
			"tenant "+m.Tenant+" has no configuration: an admin applies one first (PUT /v1/tenants/"+m.Tenant+"/config)")
	}
	return nil
}

// derivedID is the id of the i-th event a message causes, or (i = -1) of its ticket.
func derivedID(key string, i int) string {
	return uuid.NewSHA1(derivedNamespace, fmt.Appendf(nil, "%s/%d", key, i)).String()
}

// apply appends the message's command and returns the ticket it applied to and the
// ticket's version after.
func (p *Processor) apply(ctx context.Context, m Message, key string, in events.Inbound, now time.Time) (string, uint64, bool, error) {
	ref, cmd := in.Command(m.Integration)
	cause := m.Event.ID()
	correlation := cause
	if c, ok := m.Event.Extensions()["correlationid"].(string); ok && c != "" && len(c) <= 128 {
		correlation = c
	}
	newEvent := func(i int, data events.Payload) events.Event {
		return events.Event{ID: derivedID(key, i), Data: data, Source: Source, Actor: m.Actor,
			CorrelationID: correlation, CausationID: cause}
	}
	if open, ok := in.(events.InboxOpen); ok {
		return p.open(ctx, m, key, open, cmd, newEvent, now)
	}
	ticket := ref.Ticket
	if ref.ExternalID != "" {
		var err error
		if ticket, _, err = p.refs.get(ctx, referenceKey(m.Tenant, m.Event.Source(), ref.ExternalID)); err != nil {
			return "", 0, false, err
		}
		if ticket == "" {
			return "", 0, false, events.NewError(events.KindNotFound, "inbox: unknown reference",
				fmt.Sprintf("no ticket was opened for external_id %q from %q", ref.ExternalID, m.Event.Source()))
		}
	}
	up, err := p.cfg.Store.Update(ctx, ticket, func(tr events.Trail) ([]events.Event, error) {
		if tr.Head.Tenant != m.Tenant {
			return nil, events.ErrNotFound // another tenant's ticket does not exist for this one
		}
		if first := derivedID(key, 0); tr.Has(first) {
			return []events.Event{{ID: first}}, nil // applied before: Update drops it
		}
		decided, err := events.Decide(tr.Ticket(), cmd, now)
		if err != nil {
			return nil, err
		}
		evs := make([]events.Event, len(decided))
		for i, d := range decided {
			evs[i] = newEvent(i, d)
		}
		return evs, nil
	}, events.UpdateOptions{Via: p.cfg.Committer, Attempts: 4})
	if err != nil {
		return "", 0, false, err
	}
	return ticket, up.Version, false, nil
}

// open opens the message's ticket, whose id is derived from the message's key; with an
// external reference it first makes the reference name that ticket, unless it names one
// still open, which the message then addresses instead.
func (p *Processor) open(ctx context.Context, m Message, key string, in events.InboxOpen, cmd events.Payload,
	newEvent func(int, events.Payload) events.Event, now time.Time) (string, uint64, bool, error) {
	decided, err := events.Decide(events.Ticket{}, cmd, now)
	if err != nil {
		return "", 0, false, err
	}
	ticket := derivedID(key, -1)
	if in.ExternalID != "" {
		existing, version, err := p.claim(ctx, m, in.ExternalID, ticket)
		if err != nil || existing != "" {
			return existing, version, existing != "", err
		}
	}
	ev := newEvent(0, decided[0])
	ap, err := p.cfg.Committer.Append(ctx, events.Append{Tenant: m.Tenant, TicketID: ticket, Events: []events.Event{ev}})
	switch {
	case err == nil:
		return ticket, ap.Version, false, nil
	case errors.Is(err, events.ErrConflict):
		// Opened before, beyond the duplicate window: the ticket's history holds the event.
		tr, lerr := p.cfg.Store.LoadTrail(ctx, ticket)
		if lerr == nil && tr.Has(ev.ID) {
			return ticket, tr.Version, false, nil
		}
	}
	return "", 0, false, err
}

// claim makes the external reference name ticket and returns "", or returns the ticket
// it names that is still open (not closed or cancelled) and that ticket's version.
func (p *Processor) claim(ctx context.Context, m Message, externalID, ticket string) (string, uint64, error) {
	key := referenceKey(m.Tenant, m.Event.Source(), externalID)
	ref := reference{Ticket: ticket, Source: m.Event.Source(), ExternalID: externalID}
	for range 5 {
		named, rev, err := p.refs.get(ctx, key)
		if err != nil {
			return "", 0, err
		}
		if named == ticket {
			return "", 0, nil // claimed before, by this very message
		}
		if named != "" {
			tr, err := p.cfg.Store.LoadTrail(ctx, named)
			switch {
			case err == nil && tr.Head.Tenant == m.Tenant && !ended(tr.Ticket().State):
				return named, tr.Version, nil
			case err != nil && !errors.Is(err, events.ErrNotFound):
				return "", 0, err
			}
			// Ended, or claimed by an open that never got appended: the reference moves.
		}
		ok, err := p.refs.set(ctx, key, ref, rev)
		if err != nil || ok {
			return "", 0, err
		}
	}
	return "", 0, fmt.Errorf("inbox: reference %s: %w", key, events.ErrConflict)
}

// ended reports whether a ticket in state s is over for good: a new open of its
// reference opens a new ticket.
func ended(s events.State) bool { return s == events.StateClosed || s == events.StateCancelled }

// keyLocks serialises the messages of one key within the process, so that a repeat is
// answered from its first's outcome and not applied beside it.
type keyLocks struct {
	mu   sync.Mutex
	held map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	waiters int
}

func (l *keyLocks) lock(key string) (unlock func()) {
	l.mu.Lock()
	if l.held == nil {
		l.held = map[string]*keyLock{}
	}
	k := l.held[key]
	if k == nil {
		k = &keyLock{}
		l.held[key] = k
	}
	k.waiters++
	l.mu.Unlock()
	k.Lock()
	return func() {
		k.Unlock()
		l.mu.Lock()
		if k.waiters--; k.waiters == 0 {
			delete(l.held, key)
		}
		l.mu.Unlock()
	}
}
