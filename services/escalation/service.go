package escalation

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
	"github.com/ledgerdesk/ledgerdesk/services/webhook"
)

// Name is the escalation service's name. NB: never rename (see reactor.Config.Name).
const Name = "escalation"

// Webhook delivery retries: exponential backoff from deliveryInitial, given up after
// deliveryMaxElapsed (then a notification_failed event is recorded); at most
// deliveryConcurrency HTTP attempts at a time, waits between retries not counted.
const (
	deliveryInitial     = 200 * time.Millisecond
	deliveryMaxElapsed  = 20 * time.Second
	deliveryConcurrency = 32
)

type escalator struct {
	svc     *reactor.Service
	configs *reactor.Configs
	sender  *webhook.Sender
}

// New creates the escalation service. Its one handler, "tickets", applies the escalation
// rules to SLA warnings, breaches and manual escalations, and delivers each requested
// notification to its webhooks. Call Run on the result.
func New(ctx context.Context, cfg reactor.Config) (*reactor.Service, error) {
	cfg.Name = Name
	svc, err := reactor.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	e := &escalator{svc: svc, configs: svc.Configs(),
		sender: webhook.NewSender(deliveryInitial, deliveryMaxElapsed, deliveryConcurrency)}
	cfg.Metrics.WebhookOutcomes()
	rules := reactor.PerCause(e.applyRules)
	// One handler for both: every durable consumer costs the server a synced state write
	// up to ten times a second per partition, whatever it consumes.
	if err := svc.React("tickets", func(ctx context.Context, h events.Trail, causes []events.Raw) (reactor.Decision, error) {
		d, err := rules(ctx, h, causes)
		if err != nil {
			return d, err
		}
		deliveries, err := e.deliver(ctx, h, causes)
		d.Later = deliveries.Later
		return d, err
	}); err != nil {
		return nil, err
	}
	return svc, nil
}

// trigger is what fired the rules.
type trigger struct {
	event, target string
	percent       int
	reason        string
}

func triggerOf(svc *reactor.Service, cause events.Raw) (trigger, bool) {
	switch d := cause.Data.(type) {
	case events.SLAWarning:
		return trigger{tenantconfig.OnWarning, d.Clock, d.Percent, fmt.Sprintf("%d%% of the %s target used", d.Percent, d.Clock)}, true
	case events.SLABreached:
		return trigger{tenantconfig.OnBreach, d.Clock, 0, fmt.Sprintf("%s target breached", d.Clock)}, true
	case events.Escalated:
		if cause.Source == svc.Source() {
			return trigger{}, false // a functional escalation of ours: routing re-routes it
		}
		return trigger{tenantconfig.OnEscalated, "", 0, fmt.Sprintf("escalated to tier %d by %s", d.Tier, cause.Actor)}, true
	}
	return trigger{}, false
}

// applyRules applies the tenant's escalation rules to a warning, breach or manual escalation.
func (e *escalator) applyRules(ctx context.Context, h events.Trail, cause events.Raw) ([]events.Event, error) {
	tr, ok := triggerOf(e.svc, cause)
	if !ok {
		return nil, nil
	}
	doc, version, err := e.configs.Current(ctx, cause.Tenant)
	if errors.Is(err, events.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := h.Ticket()
	if !now.State.IsOpen() {
		return nil, nil
	}
	at := events.Fold(h.Until(cause.Sequence)) // rules match the ticket as it was when fired
	var out []events.Event
	escalated := false
	for _, rule := range doc.EscalationRulesFor(tr.event, tr.target, tr.percent, at.Priority, at.Tier) {
		for i, a := range rule.Actions {
			id := func(parts ...string) string {
				return reactor.DerivedID(cause.ID, append([]string{"escalation", rule.ID, strconv.Itoa(i)}, parts...)...)
			}
			switch {
			case a.Notify != "":
				for j, r := range recipients(doc, at, a.Notify) {
					out = append(out, events.Event{ID: id(strconv.Itoa(j)), Data: notification(doc, r, tr, rule, version)})
				}
			case a.Escalate == tenantconfig.Hierarchical:
				for j, r := range managerChain(doc, at) {
					out = append(out, events.Event{ID: id(strconv.Itoa(j)), Data: notification(doc, r, tr, rule, version)})
				}
			case a.Escalate == tenantconfig.Functional && !escalated && tr.event != tenantconfig.OnEscalated && now.Tier < events.MaxTier-1:
				decided, err := events.Decide(now, events.Escalated{Tier: now.Tier + 1, Reason: tr.reason,
					RuleID: rule.ID, RuleVersion: version}, time.Now())
				if err != nil {
					e.svc.Logger().Info("functional escalation refused", zap.String("ticket", cause.TicketID), zap.Error(err))
					continue
				}
				escalated = true
				for k, p := range decided {
					out = append(out, events.Event{ID: id("escalated", strconv.Itoa(k)), Data: p})
				}
			}
		}
	}
	return out, nil
}

// recipient is a person a notification goes to, in a role.
type recipient struct {
	role, name, email string
	level             int
}

// recipients resolves a role for the ticket; a role nobody fills resolves to nobody.
func recipients(doc *tenantconfig.Document, t events.Ticket, role string) []recipient {
	switch role {
	case tenantconfig.RoleAssignee:
		if a, _, ok := doc.Agent(t.Agent); ok && a.Email != "" {
			return []recipient{{role: role, name: a.Name, email: a.Email}}
		}
	case tenantconfig.RoleGroupLead:
		if g, ok := doc.Group(t.Group); ok && g.Lead != nil {
			return []recipient{{role: role, name: g.Lead.Name, email: g.Lead.Email}}
		}
	case tenantconfig.RoleManager:
		if chain := managerChain(doc, t); len(chain) > 0 {
			return chain[:1]
		}
	case tenantconfig.RoleCustomerContact:
		if c := doc.CustomerContact; c != nil {
			return []recipient{{role: role, name: c.Name, email: c.Email}}
		}
	}
	return nil
}

// managerChain is the assignee's manager, their manager and so on up.
func managerChain(doc *tenantconfig.Document, t events.Ticket) []recipient {
	a, _, ok := doc.Agent(t.Agent)
	if !ok || a.Manager == "" {
		return nil
	}
	var out []recipient
	for i, p := range doc.ManagerChain(a.Manager) {
		out = append(out, recipient{role: tenantconfig.RoleManager, name: p.Name, email: p.Email, level: i + 1})
	}
	return out
}

func notification(doc *tenantconfig.Document, r recipient, tr trigger, rule tenantconfig.EscalationRule, version int) events.NotificationRequested {
	n := events.NotificationRequested{Role: r.role, Name: r.name, Email: r.email, Level: r.level, Reason: tr.reason,
		RuleID: rule.ID, RuleVersion: version}
	for _, w := range doc.WebhooksFor(r.role) {
		n.Webhooks = append(n.Webhooks, w.ID)
	}
	return n
}
