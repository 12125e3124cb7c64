// Package projections keeps the read models of the ticket log in Pebble: the view of
// each ticket with its SLA status, the queues (open tickets per tenant, group, tier and
// agent, in the order they should be worked) and the SLA board (at risk and breached).
//
// A Projector follows the TICKETS stream through an ordered consumer from its checkpoint;
// workers on every core decode and hash the events ahead of the one goroutine that links
// them to their tickets' chains and applies them (events.ReadLog). Each batch of events and the
// stream sequence of its last event commit in one synced Pebble batch, so a crash never
// applies an event twice nor skips one: after a restart the projector resumes after the
// last committed sequence. A projector at the log's head commits events as they arrive;
// one behind it fills its batches (Options.BatchTickets), writing each ticket's view
// once per batch however many of its events the batch holds. Every read model can be
// dropped and rebuilt from sequence 1 with the same result (Rebuild); a projector that
// finds a persisted format other than FormatVersion rebuilds by itself.
//
// The read models also keep the log's Merkle tree (tree.go, events/audit): a leaf for every
// message the projector reads, refused ones included, committed with its batch; reporting
// signs its head and proves inclusion and consistency from it.
//
// Queries read committed state only and never scan all tickets: queues and the board
// are ordered indexes with a count per scope.
package projections
