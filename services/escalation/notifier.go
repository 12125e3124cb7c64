package escalation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
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

// deliver sends a requested notification to each of its webhooks that has no recorded
// outcome yet, and records the outcome. A crash between a delivery and its record sends
// it again on redelivery: receivers deduplicate on X-Ledgerdesk-Delivery.
func (e *escalator) deliver(ctx context.Context, cause events.Raw) error {
	req, ok := cause.Data.(events.NotificationRequested)
	if !ok || len(req.Webhooks) == 0 {
		return nil
	}
	doc, err := e.configs.At(ctx, cause.Tenant, req.RuleVersion)
	if err != nil {
		return err
	}
	h, err := e.svc.Store().LoadTrail(ctx, cause.TicketID)
	if err != nil {
		return err
	}
	t := h.Ticket()
	body, err := json.Marshal(Payload{ID: cause.ID, Tenant: cause.Tenant, Ticket: cause.TicketID, Title: t.Title,
		Priority: string(t.Priority), Tier: t.Tier, State: string(t.State), Role: req.Role, Name: req.Name,
		Email: req.Email, Level: req.Level, Reason: req.Reason, RuleID: req.RuleID, Requested: cause.Time})
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range req.Webhooks {
		resultID := reactor.DerivedID(cause.ID, "delivery", id)
		if h.Has(resultID) {
			continue
		}
		w, ok := doc.Webhook(id)
		var result events.Payload
		if !ok {
			result = events.NotificationFailed{Request: cause.ID, Webhook: id, Error: "no such webhook in configuration version " + fmt.Sprint(req.RuleVersion)}
		} else {
			out, err := e.sender.Deliver(ctx, w.URL, w.Secret, cause.ID, body)
			if ctx.Err() != nil {
				return ctx.Err() // shutting down: nothing to record, redelivery retries
			}
			if err != nil {
				result = events.NotificationFailed{Request: cause.ID, Webhook: id, URL: w.URL, Error: out.Error, Attempts: out.Attempts}
			} else {
				result = events.NotificationDelivered{Request: cause.ID, Webhook: id, URL: w.URL, Status: out.Status, Attempts: out.Attempts}
			}
		}
		_, err := e.svc.Apply(ctx, cause.Event, func(events.Trail) ([]events.Event, error) {
			return []events.Event{{ID: resultID, Data: result}}, nil
		})
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
