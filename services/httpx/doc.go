// Package httpx holds what every ledgerdesk HTTP API shares: RFC 9457 problem responses
// (the one place where errors become HTTP statuses: kinded errors, events.KindError, map
// through one table) and strict JSON request decoding. Who may call what is package
// access.
package httpx
