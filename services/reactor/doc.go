// Package reactor is the runtime of the services that react to the ticket log —
// routing, SLA and escalation. A service decides (a Decider: a function of a ticket's
// history and the events that just came); the runtime fetches, folds, appends and acks.
//
// # Partitions, replicas, batches
//
// Each ticket handler (React) consumes the log through one durable consumer per
// partition, "<service>-<handler>-<pp>". The replicas of a service hold leases in the
// MEMBERS KV bucket and split the partitions by them; each partition consumer has a
// priority group with the pinned-client policy, so the server delivers a partition to
// one replica even while the replicas disagree about the leases. A partition is taken in
// batches: grouped by ticket, each ticket's trusted history kept in memory (bounded) or
// read once, caught up with what other writers appended, decided once per batch, the
// whole batch's decisions appended through a group committer, then acked. Work that
// waits on the outside world (webhook deliveries) runs off the batch (Decision.Later).
// Routes that are not the ticket log (SLA timers) run message at a time in a watermill
// Router with retry, recoverer, correlation-id and poison-queue middleware (Handle).
//
// # Effects happen once
//
// A service appends its decisions as derived events whose ids are derived from the
// cause (DerivedID) and whose causation id is the cause. Every event a ticket's history
// already holds is dropped, and the rest is appended atomically behind the ticket's head
// (optimistic concurrency); a ticket whose append lost a race is read and decided again
// (events.Store.Update, the one update path). A redelivered or replayed cause therefore
// finds its effects recorded and appends nothing, however long ago it was first handled.
//
// # Refusals and failures
//
// Every event is checked against its ticket's chain (events.ChainHead.Link) before a
// Decider sees it; a refused or undecodable one goes to DEADLETTER under
// deadletter.<service> with the reason, at once. A decision that fails is redelivered
// with a doubling backoff and, after MaxRetries, dead-lettered with its error.
package reactor
