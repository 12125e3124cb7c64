// Package reporting is the read side's HTTP API: queues, ticket views and ITSM reports
// served from the projections' read models. Every answer carries the stream sequence
// its read model stood at (X-Ledgerdesk-Seq) and every read takes min_seq= to wait,
// bounded, until the read models include a write the caller just made. Reports take
// as_of= to answer as of a past moment, by replaying the log up to it.
package reporting
