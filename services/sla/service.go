package sla

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/bus"
	"github.com/ledgerdesk/ledgerdesk/services/calendar"
	"github.com/ledgerdesk/ledgerdesk/services/metrics"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// Name is the SLA service's name. NB: never rename (see reactor.Config.Name).
const Name = "sla"

// The timer stream: a JetStream message schedule per ticket under
// sla.schedule.<tenant>.<ticket> fires at the ticket's next SLA instant into
// sla.due.<tenant>.<ticket>, which the service consumes durably. A newer schedule of a
// ticket replaces the older one. NB: wire names; never rename.
const (
	TimersStream    = "SLA_TIMERS"
	scheduleSubject = "sla.schedule"
	dueSubject      = "sla.due"
)

// TimersStreamConfig is the SLA_TIMERS stream: file storage, message schedules on.
func TimersStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:               TimersStream,
		Description:        "ledgerdesk SLA timers: one message schedule per ticket and the fired timers",
		Subjects:           []string{scheduleSubject + ".>", dueSubject + ".>"},
		Storage:            jetstream.FileStorage,
		AllowMsgSchedules:  true,
		AllowAtomicPublish: true, // the schedules of a batch are published together
		AllowRollup:        true,
		MaxAge:             30 * 24 * time.Hour,
	}
}

// clockEvents are the ticket events that start, stop, pause or re-target SLA clocks.
var clockEvents = []string{events.TypeOpened, events.TypeHeld, events.TypeResumed, events.TypeReprioritized,
	events.TypeResponded, events.TypeResolved, events.TypeReopened, events.TypeCancelled, events.TypeClosed}

type service struct {
	svc     *reactor.Service
	configs *reactor.Configs
	timers  *events.Group[*nats.Msg, error] // schedules, published in atomic batches
	now     func() time.Time

	mu        sync.Mutex
	calendars map[calendarKey]*calendar.Calendar
}

type calendarKey struct {
	tenant  string
	version int
	id      string
}

// New creates the SLA service: on every clock event of a ticket and at each timer it
// reconciles the ticket's SLA events with Evaluate's verdict — attached, paused,
// resumed, warning, breached, completed, each once — and schedules the ticket's next
// SLA instant. Call Run on the result.
func New(ctx context.Context, cfg reactor.Config) (*reactor.Service, error) {
	cfg.Name = Name
	svc, err := reactor.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, err
	}
	// The stream is provisioned with admin rights (app.ProvisionStreams), not by the service.
	timers := bus.Route{Stream: TimersStream, Subject: dueSubject + ".>"}
	stream, err := js.Stream(ctx, TimersStream)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", TimersStream, err)
	}
	s := &service{svc: svc, configs: svc.Configs(), timers: newTimers(js, events.PlainMaxFor(stream.CachedInfo().Config)), now: time.Now, calendars: map[calendarKey]*calendar.Calendar{}}
	svc.OnStop(s.timers.Close)
	unregister, err := cfg.Metrics.Gauge("sla_timers_pending",
		"SLA timers scheduled and not yet fired: the tickets with a message schedule in SLA_TIMERS (read at most every 30 s; every SLA replica reports the same).",
		metrics.Cached(timersPendingEvery, func(ctx context.Context) (float64, error) { return timersPending(ctx, cfg.Conn) }))
	if err != nil {
		return nil, err
	}
	svc.OnStop(unregister)
	if err := svc.React("tickets", s.onEvents); err != nil {
		return nil, err
	}
	if err := svc.Handle("timers", timers, s.onTimer); err != nil {
		return nil, err
	}
	return svc, nil
}

// onEvents reconciles a ticket once per batch that brought it a clock event, then
// schedules its next SLA instant.
func (s *service) onEvents(ctx context.Context, h events.Trail, causes []events.Raw) (reactor.Decision, error) {
	if !slices.ContainsFunc(causes, func(c events.Raw) bool { return slices.Contains(clockEvents, c.Type) }) {
		return reactor.Decision{}, nil
	}
	out, next, err := s.decide(ctx, h, s.now())
	if err != nil || next.IsZero() {
		return reactor.Decision{Events: out}, err
	}
	tenant, ticket := h.Head.Tenant, h.Raws[0].TicketID
	return reactor.Decision{Events: out, Then: func(ctx context.Context) error { return s.schedule(ctx, tenant, ticket, next) }}, nil
}

// onTimer handles a fired schedule; its headers name the ticket.
func (s *service) onTimer(ctx context.Context, msg *message.Message) error {
	tenant, ticket := msg.Metadata.Get(events.HeaderTenant), msg.Metadata.Get(events.HeaderSubject)
	if !events.ValidToken(tenant) || !events.ValidToken(ticket) {
		return fmt.Errorf("sla timer %s: no ticket in its headers", msg.UUID)
	}
	return s.reconcile(ctx, events.Event{ID: msg.UUID, Tenant: tenant, TicketID: ticket})
}

func ptr[T any](v T) *T { return &v }

// reconcile appends the SLA events the ticket's history calls for and are not recorded
// yet, then schedules the next timer.
func (s *service) reconcile(ctx context.Context, cause events.Event) error {
	var next time.Time
	_, err := s.svc.Apply(ctx, cause, func(h events.Trail) ([]events.Event, error) {
		out, n, err := s.decide(ctx, h, s.now())
		next = n
		return out, err
	})
	if err != nil || next.IsZero() {
		return err
	}
	return s.schedule(ctx, cause.Tenant, cause.TicketID, next)
}

// schedule replaces the ticket's timer with one firing at `at`.
func (s *service) schedule(ctx context.Context, tenant, ticket string, at time.Time) error {
	m := nats.NewMsg(scheduleSubject + "." + tenant + "." + ticket)
	m.Header.Set("Nats-Schedule", "@at "+at.UTC().Format(time.RFC3339Nano))
	m.Header.Set("Nats-Schedule-Target", dueSubject+"."+tenant+"."+ticket)
	m.Header.Set(events.HeaderTenant, tenant)
	m.Header.Set(events.HeaderSubject, ticket)
	err, qerr := s.timers.Do(ctx, m)
	if err = errors.Join(qerr, err); err != nil {
		return fmt.Errorf("schedule SLA timer of %s at %s: %w", ticket, at.Format(time.RFC3339), err)
	}
	return nil
}

// timersPendingEvery is how long the count of pending timers is kept: counting costs the
// server a walk of the stream's subjects.
const timersPendingEvery = 30 * time.Second

// timersPending counts the tickets with an SLA timer scheduled: the subjects under
// sla.schedule.> that hold a message (a timer that fired is removed from its subject by
// the server). It asks the JetStream API for the stream's info with a subjects filter and
// an offset past the end, so that the answer carries the count ("total") and no subjects.
func timersPending(ctx context.Context, nc *nats.Conn) (float64, error) {
	req, err := json.Marshal(map[string]any{"subjects_filter": scheduleSubject + ".>", "offset": math.MaxInt32})
	if err != nil {
		return 0, err
	}
	msg, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.INFO."+TimersStream, req)
	if err != nil {
		return 0, fmt.Errorf("info of %s: %w", TimersStream, err)
	}
	var resp struct {
		Total int `json:"total"`
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, fmt.Errorf("info of %s: %w", TimersStream, err)
	}
	if resp.Error != nil {
		return 0, fmt.Errorf("info of %s: %s", TimersStream, resp.Error.Description)
	}
	return float64(resp.Total), nil
}

// newTimers gathers the schedules of concurrent reconciliations (a batch's tickets, the
// timers) into atomic batches: one fsync for many schedules instead of one each; up to
// plainMax of them (events.PlainMaxFor the stream) go as plain publishes, which cost less.
func newTimers(js jetstream.JetStream, plainMax int) *events.Group[*nats.Msg, error] {
	return events.NewGroup(2, events.MaxBatch, func(*nats.Msg) int { return 1 }, func(msgs []*nats.Msg) []error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out := make([]error, len(msgs))
		if len(msgs) <= plainMax {
			var wg sync.WaitGroup
			for i, m := range msgs {
				wg.Go(func() { _, out[i] = js.PublishMsg(ctx, m) })
			}
			wg.Wait()
			return out
		}
		// No ack of the first message: the stream allows atomic batches (provisioned),
		// so the commit's ack is the one round trip a batch costs.
		_, err := jetstreamext.PublishMsgBatch(ctx, js, msgs, jetstreamext.BatchFlowControl{AckTimeout: 10 * time.Second})
		for i := range out {
			out[i] = err
		}
		return out
	})
}

// decide returns the SLA events the history calls for (Apply drops those recorded) and
// the next instant a clock reaches a threshold.
func (s *service) decide(ctx context.Context, h events.Trail, now time.Time) ([]events.Event, time.Time, error) {
	evs := h.Events()
	opened := evs[0]
	if opened.Type != events.TypeOpened {
		return nil, time.Time{}, nil
	}
	// The policy version is the one the SLA was first attached with; re-targets keep it.
	var doc *tenantconfig.Document
	version := 0
	for _, e := range evs {
		if a, ok := e.Data.(events.SLAAttached); ok {
			version = a.PolicyVersion
			break
		}
	}
	var err error
	if version == 0 {
		doc, version, err = s.configs.Current(ctx, opened.Tenant)
	} else {
		doc, err = s.configs.At(ctx, opened.Tenant, version)
	}
	if errors.Is(err, events.ErrNotFound) {
		s.svc.Logger().Debug("tenant has no configuration; no SLA", zap.String("tenant", opened.Tenant), zap.String("ticket", opened.TicketID))
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	out, next := decideAt(evs, s.policyFor(opened.Tenant, doc, version), now)
	return out, next, nil
}

// decideAt is the SLA events a ticket's history calls for at now under the policies, and
// the next instant a running clock reaches a threshold: the whole decision, a pure
// function of its arguments (the service resolves the policies' configuration version).
func decideAt(evs []events.Event, policyFor PolicyFor, now time.Time) ([]events.Event, time.Time) {
	st := Evaluate(evs, policyFor, now)
	if !st.Applies {
		return nil, time.Time{}
	}
	d := decision{status: st, correlation: evs[0].CorrelationID}
	if d.correlation == "" {
		d.correlation = evs[0].ID
	}
	d.attach(evs, now)
	d.pauses(evs, now)
	d.thresholds()
	return d.out, d.next()
}

// policyFor resolves the document's SLA policies, compiling each calendar once.
func (s *service) policyFor(tenant string, doc *tenantconfig.Document, version int) PolicyFor {
	return Policies(doc, version, func(id string) (*calendar.Calendar, error) { return s.calendar(tenant, doc, version, id) },
		func(id string, err error) { // validated when applied, so only a broken stream gets here
			s.svc.Logger().Error("SLA calendar does not compile", zap.String("tenant", tenant), zap.String("calendar", id), zap.Error(err))
		})
}

// Policies is the PolicyFor of a configuration document of a version: each matching
// policy with its calendar, which compile makes (nil: doc.CompileCalendar). A calendar
// that does not compile gives no policy, and is told to broken (when set).
func Policies(doc *tenantconfig.Document, version int, compile func(id string) (*calendar.Calendar, error), broken func(id string, err error)) PolicyFor {
	if compile == nil {
		compile = doc.CompileCalendar
	}
	return func(tt events.TicketType, p events.Priority) (Policy, bool) {
		sp, ok := doc.Policy(tt, p)
		if !ok {
			return Policy{}, false
		}
		cal, err := compile(sp.Calendar)
		if err != nil {
			if broken != nil {
				broken(sp.Calendar, err)
			}
			return Policy{}, false
		}
		return Policy{ID: sp.ID, Version: version, CalendarID: sp.Calendar, Calendar: cal,
			Response: time.Duration(sp.Response), Resolution: time.Duration(sp.Resolution),
			Warnings: sp.Warnings, Pausing: sp.PausingReasons}, true
	}
}

func (s *service) calendar(tenant string, doc *tenantconfig.Document, version int, id string) (*calendar.Calendar, error) {
	k := calendarKey{tenant, version, id}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.calendars[k]; ok {
		return c, nil
	}
	c, err := doc.CompileCalendar(id)
	if err != nil {
		return nil, err
	}
	s.calendars[k] = c
	return c, nil
}

// decision collects the SLA events one reconciliation calls for.
type decision struct {
	status      Status
	correlation string
	attachID    string // id of the attached event the current targets come from
	out         []events.Event
}

func (d *decision) add(id, causation string, p events.Payload) {
	d.out = append(d.out, events.Event{ID: id, CausationID: causation, CorrelationID: d.correlation, Data: p})
}

// targets renders the clocks' targets with the due times of the running ones.
func (d *decision) targets() []events.SLATarget {
	var out []events.SLATarget
	for _, c := range d.status.Clocks {
		t := events.SLATarget{Clock: c.Name, TargetMS: c.Target.Milliseconds()}
		if events.RecordsDue(c.State) {
			t.Due = ptr(c.Due.UTC())
		}
		out = append(out, t)
	}
	return out
}

// attach attaches the policy for the latest priority: on open, and again, retroactively,
// after each priority change while the ticket's resolution clock counts.
func (d *decision) attach(evs []events.Event, now time.Time) {
	cause, reason, ended := evs[0], "opened", false
	walk(evs, now, d.status.Policy.Pausing, func(e events.Event, _, after clocks) {
		if _, ok := e.Data.(events.Reprioritized); ok {
			cause, reason = e, "reprioritized"
		}
		ended = after[resolutionClock].Done()
	})
	d.attachID = reactor.DerivedID(cause.ID, "sla_attached")
	if reason != "opened" && ended {
		// a priority change recorded after the ticket ended re-targets nothing
		d.attachID = d.lastAttachID(evs)
		return
	}
	p := d.status.Policy
	d.add(d.attachID, cause.ID, events.SLAAttached{PolicyID: p.ID, PolicyVersion: p.Version, Calendar: p.CalendarID,
		Priority: d.status.Priority, Reason: reason, Targets: d.targets(), Warnings: p.Warnings})
}

func (d *decision) lastAttachID(evs []events.Event) string {
	id := ""
	for _, e := range evs {
		if _, ok := e.Data.(events.SLAAttached); ok {
			id = e.ID
		}
	}
	return id
}

// pauses records each change the pause/resume rule makes to the clocks that no verdict
// records: a pausing hold (the clocks it paused), and a resume or a reopen that runs a
// clock again (with the new due times).
func (d *decision) pauses(evs []events.Event, now time.Time) {
	walk(evs, now, d.status.Policy.Pausing, func(e events.Event, before, after clocks) {
		var paused []string
		resumed := false
		for i, name := range clockNames {
			switch {
			case after[i] == before[i] || before[i] == events.ClockNone:
			case after[i] == events.ClockPaused:
				paused = append(paused, name)
			case after[i] == events.ClockRunning:
				resumed = true
			}
		}
		if h, ok := e.Data.(events.Held); ok && len(paused) > 0 {
			d.add(reactor.DerivedID(e.ID, "sla_paused"), e.ID, events.SLAPaused{Reason: h.Reason, Clocks: paused})
		}
		if resumed {
			d.add(reactor.DerivedID(e.ID, "sla_resumed"), e.ID, events.SLAResumed{Targets: d.targets()})
		}
	})
}

// thresholds records the warnings and breaches of the running (or paused) clocks
// against the current targets, and the verdict of each stopped clock.
func (d *decision) thresholds() {
	p := d.status.Policy
	for _, c := range d.status.Clocks {
		if c.Stopped {
			if !c.Cancelled {
				outcome := events.OutcomeMet
				if c.Breached {
					outcome = events.OutcomeMissed
				}
				d.add(reactor.DerivedID(c.StoppedBy, c.Name, "sla_completed"), c.StoppedBy, events.SLACompleted{Clock: c.Name,
					Outcome: outcome, UsedMS: c.Elapsed.Milliseconds(), TargetMS: c.Target.Milliseconds(), PolicyID: p.ID, PolicyVersion: p.Version})
			}
			continue
		}
		for _, pct := range c.Crossed {
			d.add(reactor.DerivedID(d.attachID, c.Name, "sla_warning", fmt.Sprint(pct)), d.attachID,
				events.SLAWarning{Clock: c.Name, Percent: pct, Due: c.Due.UTC(), PolicyID: p.ID, PolicyVersion: p.Version})
		}
		if c.Breached {
			d.add(reactor.DerivedID(d.attachID, c.Name, "sla_breached"), d.attachID,
				events.SLABreached{Clock: c.Name, Due: c.Due.UTC(), PolicyID: p.ID, PolicyVersion: p.Version})
		}
	}
}

// next is the earliest instant a running clock reaches its next threshold.
func (d *decision) next() time.Time {
	var next time.Time
	for _, c := range d.status.Clocks {
		if c.Running && !c.Next.IsZero() && (next.IsZero() || c.Next.Before(next)) {
			next = c.Next
		}
	}
	return next
}
