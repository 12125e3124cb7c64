// Package reactor is the runtime of the services that react to the ticket log —
// routing, SLA and escalation. Each service consumes TICKETS (and its own streams)
// through durable consumers, one per handler, shared by all of the service's replicas,
// inside a watermill Router with retry, recoverer, correlation-id and poison-queue
// middleware. A message that keeps failing is published to the DEADLETTER stream with
// the error and its original headers, and processing goes on.
//
// # Effects happen once
//
// A service appends its decisions as derived events whose ids are derived from the
// cause (DerivedID) and whose causation id is the cause. Apply goes through the one
// update path of the ticket log (events.Store.Update): it reads the ticket's trusted
// history, drops every decided event whose id is already recorded, then appends the rest
// atomically behind the ticket's head (optimistic concurrency), reading and deciding
// again after a lost race. A redelivered or replayed cause therefore finds
// its effects recorded and appends nothing, however long ago it was first handled.
package reactor
