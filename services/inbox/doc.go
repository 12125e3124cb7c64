// Package inbox is the integrators' door: CloudEvents from monitoring, backup, RMM, PSA
// and mail tools, published durably to the INBOX stream (inbox.<tenant>.<integration>,
// binary or structured mode) or POSTed to /v1/events (binary, structured or batch mode),
// each turned into one ticket command with the integration as the actor.
//
// # One outcome for every message
//
// Every message is answered, never dropped: accepted (the ticket and the stream sequence
// of its last event) or rejected (an RFC 9457 problem listing every reason, with the schema
// path of each schema violation). The outcome is published to
// outcomes.<tenant>.<integration>.<key>, kept in the OUTCOMES stream, and served by
// GET /v1/events/outcome. A rejected message changes no ticket.
//
// # Exactly once
//
// A message is identified by its tenant, ce-source and ce-id (its key). Every event it
// causes has an id derived from the key, and its ticket, for an open, too; so a
// redelivery, or a re-send of the same message long after, appends nothing new and gets
// the first outcome again (replayed). The same key with another type or data is refused.
//
// # External references
//
// A message may name its origin's id (external_id, e.g. an RMM alert id or a PSA ticket
// number); with its ce-source it keys the REFERENCES KV bucket, which maps it to the
// ticket opened for it, so later messages address that ticket by it: one key lookup.
//
// # Alerts and evidence
//
// The Alertmanager and Grafana webhooks turn each alert into an alert message keyed by
// its fingerprint, which opens, comments on, reopens or resolves its incident under the
// tenant's alert policy (alert.go, webhooks.go). Backup results and patch scans are
// recorded as evidence in the EVIDENCE stream; a failed backup, or none within the
// tenant's backup window (WatchBackups), opens an incident once per system and day.
package inbox
