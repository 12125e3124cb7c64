package escalation

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/metrics"
	"github.com/ledgerdesk/ledgerdesk/services/reactor"
)

// Payload is the JSON body a webhook receives for a notification. NB: wire format.
type Payload struct {
	ID        string    `json:"id"` // the notification_requested event id, also X-Ledgerdesk-Delivery
	Tenant    string    `json:"tenant"`
	Ticket    string    `json:"ticket"`
	Title     string    `json:"title"`
	Priority  string    `json:"priority"`
	Tier      int       `json:"tier"`
	State     string    `json:"state"`
	Role      string    `json:"role"`
	Name      string    `json:"name,omitempty"`
	Email     string    `json:"email"`
	Level     int       `json:"level,omitempty"`
	Reason    string    `json:"reason"`
	RuleID    string    `json:"rule_id"`
	Requested time.Time `json:"requested"`
}

// deliver sends each requested notification of a batch to each of its webhooks that has
// no recorded outcome yet, and records the outcome. The deliveries run off the batch
// (Decision.Later), concurrently, so a slow or dead receiver holds up neither the
// consumer nor other deliveries. A crash between a delivery and its record sends it
// again on redelivery: receivers deduplicate on X-Ledgerdesk-Delivery.
func (e *escalator) deliver(ctx context.Context, h events.Trail, causes []events.Raw) (reactor.Decision, error) {
	type delivery struct {
		resultID, webhook, url, secret string
		request                        events.Raw
		body                           []byte
		missing                        string // the webhook is not in the configuration version
	}
	var pending []delivery
	t := h.Ticket()
	for _, cause := range causes {
		req, ok := cause.Data.(events.NotificationRequested)
		if !ok || len(req.Webhooks) == 0 {
			continue
		}
		doc, err := e.configs.At(ctx, cause.Tenant, req.RuleVersion)
		if err != nil {
			return reactor.Decision{}, err
		}
		body, err := json.Marshal(Payload{ID: cause.ID, Tenant: cause.Tenant, Ticket: cause.TicketID, Title: t.Title,
			Priority: string(t.Priority), Tier: t.Tier, State: string(t.State), Role: req.Role, Name: req.Name,
			Email: req.Email, Level: req.Level, Reason: req.Reason, RuleID: req.RuleID, Requested: cause.Time})
		if err != nil {
			return reactor.Decision{}, err
		}
		for _, id := range req.Webhooks {
			d := delivery{resultID: reactor.DerivedID(cause.ID, "delivery", id), webhook: id, request: cause, body: body}
			if h.Has(d.resultID) {
				continue
			}
			if w, ok := doc.Webhook(id); ok {
				d.url, d.secret = w.URL, w.Secret
			} else {
				d.missing = "no such webhook in configuration version " + fmt.Sprint(req.RuleVersion)
			}
			pending = append(pending, d)
		}
	}
	if len(pending) == 0 {
		return reactor.Decision{}, nil
	}
	return reactor.Decision{Later: func(ctx context.Context) ([]events.Event, error) {
		out := make([]events.Event, len(pending))
		var wg sync.WaitGroup
		for i, d := range pending {
			wg.Go(func() {
				var result events.Payload
				switch {
				case d.missing != "":
					result = events.NotificationFailed{Request: d.request.ID, Webhook: d.webhook, Error: d.missing}
				default:
					o, err := e.sender.Deliver(ctx, d.url, d.secret, d.request.ID, d.body)
					if err != nil {
						result = events.NotificationFailed{Request: d.request.ID, Webhook: d.webhook, URL: d.url, Error: o.Error, Attempts: o.Attempts}
					} else {
						result = events.NotificationDelivered{Request: d.request.ID, Webhook: d.webhook, URL: d.url, Status: o.Status, Attempts: o.Attempts}
					}
				}
				out[i] = events.Event{ID: d.resultID, CausationID: d.request.ID, CorrelationID: reactor.CorrelationOf(d.request.Event), Data: result}
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			return nil, ctx.Err() // shutting down: nothing to record, redelivery retries
		}
		for _, o := range out {
			if _, ok := o.Data.(events.NotificationDelivered); ok {
				e.svc.Metrics().WebhookDelivery(metrics.WebhookDelivered)
			} else {
				e.svc.Metrics().WebhookDelivery(metrics.WebhookFailed)
			}
		}
		return out, nil
	}}, nil
}
