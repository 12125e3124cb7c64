// Package routing is the routing service: it decides where a ticket goes and who works
// it. On opened, reopened, recategorized and escalated it applies the tenant's routing
// rules in order (Pick) — the first match picks group and tier, no match sends the ticket
// to the default group at tier 1 — and the group's strategy picks the agent among those
// available (round_robin, least_loaded, skills). It appends routed and assigned, each
// naming the rule id and the configuration version that decided it. The loads the
// strategies count come from a View of the whole log, fed by an ordered consumer.
package routing
