// Package events is ledgerdesk's vocabulary: the versioned ticket event types, the
// CloudEvents envelope they travel in, the ticket aggregate (Decide and Evolve), the
// impact × urgency priority matrix, the SLA pause/resume rule (slarule.go: which clock
// runs, pauses or stops at each event), the per-ticket hash chain, and the JetStream event
// store that appends, loads and subscribes to the TICKETS stream.
//
// Every writer that adds events to an existing ticket — an HTTP command, a reacting
// service, a test helper — goes through one path, Store.Update: load the trusted history,
// let the caller decide, append behind its head with optimistic concurrency (through any
// Appender, such as the intake's group committer), and decide again after a lost race.
//
// Names on the wire (event types, subjects, header names) are constants in this package
// and never derive from Go type names: renaming a Go type must never rename an event.
package events
