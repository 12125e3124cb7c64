// Package natsauth is ledgerdesk's trust boundary on NATS: decentralized JWT
// authentication (operator → account → user, each with its own nkey, as `nsc` makes them)
// and one table of least-privilege roles (roles.go).
//
// Contract:
//   - No anonymous access: a server configured from Keys (embedded or external) accepts
//     only users signed by the LEDGERDESK account key.
//   - Every role's publish and subscribe rights, JetStream API subjects included, come from
//     the table in roles.go and nowhere else. Only RoleAdmin may create, update, delete or
//     purge a stream or delete a message.
//   - Role names are wire and persisted names (in JWTs, file names, inbox prefixes): never
//     rename one.
//   - A role's rights are compiled for the ticket log's partition count (its ticket
//     handlers have one durable consumer per partition), which the log's stream records:
//     creds are issued once that count is known (Keys.IssueRoles), and issued anew when
//     they were issued for another.
//
// Why decentralized auth and not a users block in the server config: the server trusts
// the operator and the account JWT only, never a list of users, so a new user (one per
// integration, issue 12) is issued with Keys.IssueUser, signed by the account key, and
// works at once without restarting or reconfiguring the server.
package natsauth
