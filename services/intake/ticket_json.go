package intake

import (
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// TicketJSON is the ticket as the API returns it. Version is the stream sequence of the
// ticket's last event: the value of ETag and If-Match.
type TicketJSON struct {
	ID            string            `json:"id"`
	Tenant        string            `json:"tenant"`
	Type          events.TicketType `json:"type"`
	Title         string            `json:"title"`
	Description   string            `json:"description"`
	Requester     events.Requester  `json:"requester"`
	State         events.State      `json:"state"`
	HoldReason    events.HoldReason `json:"hold_reason,omitempty"`
	Priority      events.Priority   `json:"priority"`
	Impact        events.Level      `json:"impact"`
	Urgency       events.Level      `json:"urgency"`
	MajorIncident bool              `json:"major_incident,omitempty"`
	Category      string            `json:"category"`
	Source        string            `json:"source"`
	Tier          int               `json:"tier"`
	Group         string            `json:"group,omitempty"`
	Agent         string            `json:"agent,omitempty"`
	Responded     bool              `json:"responded"`
	Escalations   int               `json:"escalations"`
	Vendor        string            `json:"vendor,omitempty"`
	VendorCase    string            `json:"vendor_case,omitempty"`
	Links         []events.Link     `json:"links,omitempty"`
	OpenedAt      time.Time         `json:"opened_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	ResolvedAt    *time.Time        `json:"resolved_at,omitempty"`
	Version       uint64            `json:"version"`
	Events        uint64            `json:"events"`
}

// NewTicketJSON renders a ticket folded from its log; version is the stream sequence of its
// last event.
func NewTicketJSON(t events.Ticket, version uint64) TicketJSON {
	j := TicketJSON{
		ID: t.ID, Tenant: t.Tenant, Type: t.Type, Title: t.Title, Description: t.Description,
		Requester: t.Requester, State: t.State, HoldReason: t.HoldReason, Priority: t.Priority,
		Impact: t.Impact, Urgency: t.Urgency, MajorIncident: t.MajorIncident, Category: t.Category,
		Source: t.Source, Tier: t.Tier, Group: t.Group, Agent: t.Agent, Responded: t.Responded,
		Escalations: t.Escalations, Vendor: t.Vendor, VendorCase: t.VendorCase, Links: t.Links,
		OpenedAt: t.OpenedAt, UpdatedAt: t.UpdatedAt, Version: version, Events: t.Version,
	}
	if !t.ResolvedAt.IsZero() {
		r := t.ResolvedAt
		j.ResolvedAt = &r
	}
	return j
}
