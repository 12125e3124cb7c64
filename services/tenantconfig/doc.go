// Package tenantconfig is a tenant's configuration as versioned data: the document
// (calendars, SLA policies, support groups, routing and escalation rules, managers and
// webhooks), its parsing from YAML or JSON, defaults, whole-document validation that
// reports every problem, and the lookups the routing, SLA and escalation services make.
package tenantconfig
