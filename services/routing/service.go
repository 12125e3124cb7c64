package routing

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
)

// Name is the routing service's name. NB: never rename (see reactor.Config.Name).
const Name = "routing"

// Reserved rule ids for decisions no routing rule made.
const (
	RuleDefaultGroup = "default_group" // no rule matched: the tenant's default group at tier 1
	RuleTierFallback = "tier_fallback" // escalated: no rule for the new tier; the first group at it
)

type router struct {
	svc  *reactor.Service
	view *View
}

// New creates the routing service: on opened, reopened, recategorized and escalated it
// appends routed and, when an agent is available, assigned, each naming the rule and
// configuration version that decided it. Its load view starts from the newest snapshot
// (see SnapshotBucket) and follows the log through an ordered consumer. Call Run on the
// result.
func New(ctx context.Context, cfg reactor.Config) (*reactor.Service, error) {
	cfg.Name = Name
	svc, err := reactor.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	view, last, err := loadView(ctx, cfg.Store, svc.Logger())
	if err != nil {
		return nil, err
	}
	r := &router{svc: svc, view: view}
	snapshots := newSnapshotter(cfg.Store, view, svc.Leads, svc.Logger())
	caughtUp := onCaughtUp(view, last, svc.Logger())
	read := func() { caughtUp(); snapshots.maybe() }
	// The view counts only the events the log's chain accepts (View.Apply); the ticket
	// handler dead-letters the others and undecodable messages, which the view skips.
	viewCtx, stopView := context.WithCancel(context.WithoutCancel(ctx))
	sub, err := cfg.Store.Subscribe(viewCtx, view.Seq()+1, func(e events.Raw) error { view.Apply(e); read(); return nil },
		func(u *events.Undecodable) error { view.Skip(u.Sequence); read(); return nil })
	if err != nil {
		stopView()
		snapshots.close()
		return nil, err
	}
	stop := func() { stopView(); sub.Stop(); snapshots.close() }
	svc.OnStop(stop)
	if err := svc.React("tickets", reactor.PerCause(r.decide)); err != nil {
		stop()
		return nil, err
	}
	return svc, nil
}

// onCaughtUp returns what the view's reader calls after each message: the first time the
// view reaches last, the end the log had at start, it logs that it caught up (at once
// when it starts there).
func onCaughtUp(view *View, last uint64, log *zap.Logger) func() {
	started, from := time.Now(), view.Seq()
	var once sync.Once
	check := func() {
		if view.Seq() >= last {
			once.Do(func() {
				log.Info("routing view: caught up with the log", zap.Uint64("seq", view.Seq()),
					zap.Uint64("read", view.Seq()-from), zap.Duration("took", time.Since(started)))
			})
		}
	}
	check()
	return check
}

// decide routes a ticket on its opened, reopened, recategorized and escalated events.
func (r *router) decide(ctx context.Context, h events.Trail, cause events.Raw) ([]events.Event, error) {
	escalated := false
	switch cause.Type {
	case events.TypeOpened, events.TypeReopened, events.TypeRecategorized:
	case events.TypeEscalated:
		escalated = true
	default:
		return nil, nil
	}
	routedID := reactor.DerivedID(cause.ID, "routed")
	if h.Has(routedID) || !h.Ticket().State.IsOpen() {
		// Decided before (a redelivery or a replay): deciding again with today's
		// loads and agents could add an assignment the first decision did not make.
		return nil, nil
	}
	doc, version, err := r.svc.Configs().Current(ctx, cause.Tenant)
	if errors.Is(err, events.ErrNotFound) {
		r.svc.Logger().Debug("tenant has no configuration; ticket not routed",
			zap.String("tenant", cause.Tenant), zap.String("ticket", cause.TicketID))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// The strategies count what is in the log up to the cause, and the assignments this
	// replica decided and the view has not seen yet (View.Reserve). Decisions of other
	// partitions in flight at the same moment are not counted: least_loaded is exact per
	// partition and off by at most the assignments in flight elsewhere.
	if err := r.view.WaitFor(ctx, cause.Sequence); err != nil {
		return nil, err
	}
	d := Pick(doc, events.Fold(h.Until(cause.Sequence)), escalated, r.view)
	rule := d.RuleID
	if rule == "" {
		rule = RuleDefaultGroup
		if escalated {
			rule = RuleTierFallback
		}
	}
	out := []events.Event{{ID: routedID,
		Data: events.Routed{Group: d.Group, Tier: d.Tier, RuleID: rule, RuleVersion: version}}}
	if d.Agent != "" {
		out = append(out, events.Event{ID: reactor.DerivedID(cause.ID, "assigned"),
			Data: events.Assigned{Agent: d.Agent, Group: d.Group, Strategy: string(d.Strategy), RuleID: rule, RuleVersion: version}})
		r.view.Reserve(cause.Tenant, cause.TicketID, d.Agent, d.Group)
	}
	return out, nil
}
