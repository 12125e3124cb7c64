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
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
	"github.com/ledgerdesk/ledgerdesk/services/metrics"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
)

// Source is the ce-source of the events the inbox appends.
const Source = "/ledgerdesk/intake"

// derivedNamespace derives a message's ticket and event ids from its key. NB: never
// change it: redeliveries and re-sends find their effects by these ids.
var derivedNamespace = uuid.MustParse("0d6b1b1e-5a52-4f0e-9b7e-6c1f5d2a9e33")

// Config wires a Processor.
type Config struct {
	Store     *events.Store     // required: the ticket log
	Committer *events.Committer // required: appends
	Configs   *reactor.Configs  // required: a tenant without a configuration is unknown
	Logger    *zap.Logger       // required
	Now       func() time.Time  // default time.Now
	// Parallel bounds how many messages of a batch are applied at once (default 64).
	Parallel int
	// Metrics records the inbox's consumer (nil: nowhere).
	Metrics *metrics.Metrics
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
	return &Processor{cfg: cfg, outcomes: newOutcomes(js, stream), refs: references{kv: kv}, schemas: sc}, nil
}

// Close records the outcomes still queued and stops; call it once nothing is handled any more.
func (p *Processor) Close() { p.outcomes.close() }

// Result is a message's outcome, or the error that kept it from one (the store
// unavailable, say): such a message is to be tried again, and nothing is recorded.
type Result struct {
	Outcome Outcome
	Err     error
}

// Handle applies msgs and records their outcomes in OUTCOMES (msgIDs, when given, are the
// outcomes' Nats-Msg-Ids, one a message). Messages about the same ticket or reference are
// applied in their order, the others concurrently. Every configuration applied before the
// call counts: a tenant configured a moment ago is known.
func (p *Processor) Handle(ctx context.Context, msgs []Message, msgIDs []string) []Result {
	results := make([]Result, len(msgs))
	if err := p.cfg.Configs.Sync(ctx); err != nil {
		for i := range results {
			results[i].Err = err
		}
		return results
	}
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
				id := ""
				if msgIDs != nil {
					id = msgIDs[i]
				}
				results[i] = p.one(ctx, msgs[i], id)
			}
		})
	}
	wg.Wait()
	return results
}

// recordable: an outcome is kept when its subject can be made (a tenant and an
// integration that are subject tokens).
func recordable(o Outcome) bool {
	return o.key != "" && subjectToken(o.Tenant) && subjectToken(o.Integration)
}

func subjectToken(s string) bool { return s != "" && !strings.ContainsAny(s, ".*> \t\r\n") }

// refOf is the ticket or reference a message's data names, if any (before it is validated).
func refOf(m Message) events.TicketRef {
	var ref events.TicketRef
	if m.Event != nil {
		_ = json.Unmarshal(m.Event.Data(), &ref)
	}
	return ref
}

// orderKey is what a message must be applied in order with: its reference, else its
// ticket; "" for a message that orders with nothing.
func orderKey(m Message) string {
	ref := refOf(m)
	switch {
	case ref.ExternalID != "":
		return referenceKey(m.Tenant, m.Event.Source(), ref.ExternalID)
	case ref.Ticket != "":
		return "ticket:" + ref.Ticket
	}
	return ""
}

// one answers a message: it decides its outcome and records it (msgID, when given, is its
// Nats-Msg-Id) before another message of its key is looked at, so that a repeat finds it.
func (p *Processor) one(ctx context.Context, m Message, msgID string) Result {
	key := keyOf(m)
	unlock := p.locks.lock(key)
	defer unlock()
	res := p.safeDecide(ctx, m, key)
	if res.Err != nil || !recordable(res.Outcome) {
		return res
	}
	if err := p.outcomes.record(ctx, res.Outcome, msgID); err != nil {
		res.Err = fmt.Errorf("inbox: record outcome: %w", err)
	}
	return res
}

// safeDecide is decide with a panic turned into the message's rejection (an internal
// problem, logged with its stack): answered once, not delivered again and again.
func (p *Processor) safeDecide(ctx context.Context, m Message, key string) (res Result) {
	defer func() {
		if v := recover(); v != nil {
			p.cfg.Logger.Error("inbox: message handling panicked; rejected", zap.Any("panic", v), zap.Stack("stack"))
			res = Result{Outcome: Outcome{Tenant: m.Tenant, Integration: m.Integration, Status: StatusRejected, At: p.cfg.Now().UTC(), key: key,
				Problem: httpx.NewProblem(http.StatusInternalServerError, httpx.KindInternal, "Internal error", "the message could not be handled; it is logged")}}
			if m.Event != nil {
				res.Outcome.ID, res.Outcome.Source, res.Outcome.Type = m.Event.ID(), m.Event.Source(), m.Event.Type()
			}
		}
	}()
	return p.decide(ctx, m, key)
}

// keyOf is a message's key (messageKey); a message without ce-id or ce-source gets one of
// its own, which no lookup finds.
func keyOf(m Message) string {
	if e := m.Event; e != nil && e.ID() != "" && e.Source() != "" {
		return messageKey(m.Tenant, m.Integration, e.Source(), e.ID())
	}
	return "unkeyed-" + strings.ReplaceAll(uuid.NewString(), "-", "")
}

// decide decides a message's outcome.
func (p *Processor) decide(ctx context.Context, m Message, key string) Result {
	now := p.cfg.Now().UTC()
	o := Outcome{Tenant: m.Tenant, Integration: m.Integration, At: now, key: key}
	reject := func(pr *httpx.Problem) Result {
		o.Status, o.Problem = StatusRejected, pr
		return Result{Outcome: o}
	}
	e := m.Event
	if e != nil {
		o.ID, o.Source, o.Type, o.ExternalID = e.ID(), e.Source(), e.Type(), refOf(m).ExternalID
	}
	if pr := p.envelope(ctx, m); pr != nil {
		return reject(pr)
	}
	o.Digest = digestOf(e)
	prev, err := p.outcomes.accepted(ctx, m.Tenant, m.Integration, o.key)
	if err != nil {
		return Result{Err: err}
	}
	if prev != nil {
		if prev.Digest != o.Digest {
			return reject(httpx.NewProblem(http.StatusConflict, httpx.KindIDReused, "ce-id reused",
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
	ticket, seq, existing, evidence, err := p.apply(ctx, m, o.key, in, now)
	if err != nil {
		pr := httpx.ProblemFor(err)
		if pr.Status >= 500 || errors.Is(err, events.ErrConflict) || errors.Is(err, events.ErrDuplicate) {
			return Result{Err: err}
		}
		return reject(pr)
	}
	o.Status, o.Ticket, o.Sequence, o.Existing, o.Evidence = StatusAccepted, ticket, seq, existing, evidence
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
		return httpx.NewProblem(http.StatusBadRequest, httpx.KindMalformedEvent, "Malformed CloudEvent", detail)
	}
	e := m.Event
	if err := e.Validate(); err != nil {
		return httpx.NewProblem(http.StatusBadRequest, httpx.KindMalformedEvent, "Malformed CloudEvent", err.Error())
	}
	if !p.schemas.known(e.Type()) {
		pr := httpx.NewProblem(http.StatusBadRequest, httpx.KindUnknownType, "Unknown message type",
			e.Type()+" is not an inbound message type; GET /v1/contracts lists them")
		pr.Allowed = events.InboundTypeNames()
		return pr
	}
	if !jsonData(e) {
		return httpx.NewProblem(http.StatusUnsupportedMediaType, httpx.KindMalformedEvent, "Unsupported data content type",
			"datacontenttype "+e.DataContentType()+": the data must be application/json")
	}
	if !events.ValidToken(m.Tenant) {
		return httpx.NewProblem(http.StatusBadRequest, httpx.KindValidation, "Invalid tenant",
			"tenant "+fmt.Sprintf("%q", m.Tenant)+": 1-64 letters, digits, '-' or '_'")
	}
	if _, _, err := p.cfg.Configs.Current(ctx, m.Tenant); err != nil {
		return httpx.NewProblem(http.StatusNotFound, httpx.KindUnknownTenant, "Unknown tenant",
			"tenant "+m.Tenant+" has no configuration: an admin applies one first (PUT /v1/tenants/"+m.Tenant+"/config)")
	}
	return nil
}

// derivedID is the id of the i-th event a message causes, or (i = -1) of its ticket.
func derivedID(key string, i int) string {
	return uuid.NewSHA1(derivedNamespace, fmt.Appendf(nil, "%s/%d", key, i)).String()
}

// applying is one message being applied: its effects' ids derive from its key.
type applying struct {
	p           *Processor
	m           Message
	key         string
	now         time.Time
	correlation string // the events' correlation id: the message's correlationid extension, else its ce-id
	// references is the source its external references are keyed under (default: its
	// ce-source; backup incidents: evidenceSource, whoever reported the backup).
	references string
}

func (a *applying) referenceSource() string {
	if a.references != "" {
		return a.references
	}
	return a.m.Event.Source()
}

// event is the i-th event the message causes, at the time it was decided at (the events
// a decision folds, such as a resolution's time for the reopen window, keep its clock).
func (a *applying) event(i int, data events.Payload) events.Event {
	return events.Event{ID: derivedID(a.key, i), Data: data, Source: Source, Actor: a.m.Actor, Time: a.now,
		CorrelationID: a.correlation, CausationID: a.m.Event.ID()}
}

// apply appends the message's command and returns the ticket it applied to, the ticket's
// version after, whether the message addressed a ticket it did not open, and the EVIDENCE
// sequence of the evidence it recorded.
func (p *Processor) apply(ctx context.Context, m Message, key string, in events.Inbound, now time.Time) (
	ticket string, version uint64, existing bool, evidence uint64, err error) {
	a := &applying{p: p, m: m, key: key, now: now, correlation: m.Event.ID()}
	if c, ok := m.Event.Extensions()["correlationid"].(string); ok && c != "" && len(c) <= 128 {
		a.correlation = c
	}
	ref, cmd := in.Command(m.ticketSource())
	switch in := in.(type) {
	case events.InboxOpen:
		ticket, version, existing, err = a.open(ctx, in, cmd)
		return ticket, version, existing, 0, err
	case events.InboxAlert:
		ticket, version, existing, err = a.alert(ctx, in)
		return ticket, version, existing, 0, err
	case events.InboxBackupResult, events.InboxPatchScan:
		return a.evidence(ctx, in)
	}
	ticket = ref.Ticket
	if ref.ExternalID != "" {
		if ticket, _, err = p.refs.get(ctx, referenceKey(m.Tenant, m.Event.Source(), ref.ExternalID)); err != nil {
			return "", 0, false, 0, err
		}
		if ticket == "" {
			return "", 0, false, 0, events.NewError(events.KindNotFound, "inbox: unknown reference",
				fmt.Sprintf("no ticket was opened for external_id %q from %q", ref.ExternalID, m.Event.Source()))
		}
	}
	if version, err = a.update(ctx, ticket, func(events.Ticket) (events.Payload, error) { return cmd, nil }); err != nil {
		return "", 0, false, 0, err
	}
	return ticket, version, false, 0, nil
}

// update applies the command decide chooses for the ticket (nil: nothing to do), at most
// once per message, and returns the ticket's version after.
func (a *applying) update(ctx context.Context, ticket string, decide func(events.Ticket) (events.Payload, error)) (uint64, error) {
	up, err := a.p.cfg.Store.Update(ctx, ticket, func(tr events.Trail) ([]events.Event, error) {
		if tr.Head.Tenant != a.m.Tenant {
			return nil, events.ErrNotFound // another tenant's ticket does not exist for this one
		}
		if first := derivedID(a.key, 0); tr.Has(first) {
			return []events.Event{{ID: first}}, nil // applied before: Update drops it
		}
		t := tr.Ticket()
		cmd, err := decide(t)
		if err != nil || cmd == nil {
			return nil, err
		}
		decided, err := events.Decide(t, cmd, a.now)
		if err != nil {
			return nil, err
		}
		evs := make([]events.Event, len(decided))
		for i, d := range decided {
			evs[i] = a.event(i, d)
		}
		return evs, nil
	}, events.UpdateOptions{Via: a.p.cfg.Committer, Attempts: 4})
	return up.Version, err
}

// open opens the message's ticket, whose id is derived from the message's key; with an
// external reference it first makes the reference name that ticket, unless it names one
// still open, which the message then addresses instead.
func (a *applying) open(ctx context.Context, in events.InboxOpen, cmd events.Payload) (string, uint64, bool, error) {
	decided, err := events.Decide(events.Ticket{}, cmd, a.now)
	if err != nil {
		return "", 0, false, err
	}
	ticket := derivedID(a.key, -1)
	if in.ExternalID != "" {
		named, version, _, err := a.claim(ctx, in.ExternalID, ticket, func(named string) (uint64, bool, error) {
			tr, err := a.p.cfg.Store.LoadTrail(ctx, named)
			switch {
			case err == nil && tr.Head.Tenant == a.m.Tenant && !ended(tr.Ticket().State):
				return tr.Version, true, nil
			case err != nil && !errors.Is(err, events.ErrNotFound):
				return 0, false, err
			}
			return 0, false, nil
		})
		if err != nil || named != "" {
			return named, version, named != "", err
		}
	}
	version, err := a.append(ctx, ticket, []events.Event{a.event(0, decided[0])})
	return ticket, version, false, err
}

// append appends the first events of a ticket the message opens; a repeat of the message
// finds them appended and gets the ticket's version.
func (a *applying) append(ctx context.Context, ticket string, evs []events.Event) (uint64, error) {
	ap, err := a.p.cfg.Committer.Append(ctx, events.Append{Tenant: a.m.Tenant, TicketID: ticket, Events: evs})
	switch {
	case err == nil:
		return ap.Version, nil
	case errors.Is(err, events.ErrConflict):
		// Opened before, beyond the duplicate window: the ticket's history holds the events.
		tr, lerr := a.p.cfg.Store.LoadTrail(ctx, ticket)
		if lerr == nil && tr.Has(evs[0].ID) {
			return tr.Version, nil
		}
	}
	return 0, err
}

// claim makes the external reference name ticket, the one the message opens, unless the
// reference names another that address takes the message to (address reports the
// version it left that ticket at, and whether it did): then claim returns that ticket. It
// also returns the ticket the reference named before, which the new one may link to.
func (a *applying) claim(ctx context.Context, externalID, ticket string,
	address func(named string) (version uint64, addressed bool, err error)) (addressedTo string, version uint64, previous string, err error) {
	key := referenceKey(a.m.Tenant, a.referenceSource(), externalID)
	ref := reference{Ticket: ticket, Source: a.referenceSource(), ExternalID: externalID}
	for range 5 {
		named, rev, err := a.p.refs.get(ctx, key)
		if err != nil {
			return "", 0, "", err
		}
		if named == ticket {
			return "", 0, "", nil // claimed before, by this very message
		}
		if named != "" {
			version, addressed, err := address(named)
			if err != nil || addressed {
				return named, version, "", err
			}
			// Over, or claimed by an open that never got appended: the reference moves.
		}
		ok, err := a.p.refs.set(ctx, key, ref, rev)
		if err != nil || ok {
			return "", 0, named, err
		}
	}
	return "", 0, "", fmt.Errorf("inbox: reference %s: %w", key, events.ErrConflict)
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
