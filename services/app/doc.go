// Package app wires ledgerdesk's processes: `ledgerdesk run` (embedded JetStream, the
// event store and every service in one process) from plain constructors. No DI framework.
//
// Even in one process every part connects to NATS as its own role (events/natsauth):
// intake and each service on a connection of its own, and admin only for the moment
// ProvisionStreams creates the streams.
package app
