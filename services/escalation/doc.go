// Package escalation is the escalation service: it applies a tenant's escalation rules
// to SLA warnings, SLA breaches and manual escalations — notifying roles, escalating
// functionally (next tier, which routing then re-routes) and hierarchically (up the
// manager chain) — and delivers the resulting notifications to the tenant's webhooks,
// recording each outcome as an event.
package escalation
