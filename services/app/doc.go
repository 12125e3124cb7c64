// Package app wires ledgerdesk's processes from plain constructors (no DI framework): a
// Node runs the intake, reacting services and reporting on a NATS server, with the HTTP
// listeners of their APIs, probes (/livez, /readyz) and Prometheus metrics (/metrics);
// `ledgerdesk serve <service>` runs one with one service against any NATS server, and
// `ledgerdesk run` (Start) one with everything on embedded JetStream.
//
// Even in one process every part connects to NATS as its own role (events/natsauth):
// intake and each service on a connection of its own, and admin only for the moment
// ProvisionStreams creates the streams.
package app
