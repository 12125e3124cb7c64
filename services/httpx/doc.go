// Package httpx holds what every ledgerdesk HTTP API shares: RFC 9457 problem responses
// (the one place where domain errors become HTTP statuses), bearer-token auth and strict
// JSON request decoding.
package httpx
