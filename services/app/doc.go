// Package app wires ledgerdesk's processes: `ledgerdesk run` (embedded JetStream, the
// event store and every service in one process) from plain constructors. No DI framework.
package app
