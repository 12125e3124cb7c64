// Package audit is the ticket log's verifiable history: the Merkle tree over every
// message of the log in stream order (RFC 6962; the leaves are events.LeafHash), signed
// checkpoints of it in the C2SP tlog-checkpoint format (an Ed25519 signed note: origin,
// tree size, root hash), inclusion and consistency proofs, and the verifier behind
// `ledgerdesk audit verify`.
//
// An auditor that keeps one checkpoint can later prove that none of the events it covers
// was altered, inserted, reordered or removed, and that the log was not cut back before
// it: the operator cannot sign another history without the checkpoint's key, and cannot
// make the log's tree of that size hash otherwise without changing the events.
//
// What it does not prove: that an event was true when it was recorded (only that it has
// not changed since), nor anything about events appended after the newest checkpoint the
// auditor holds. An operator who holds the signing key could sign a second, rewritten
// history: a customer detects that only by comparing its kept checkpoints with the new
// ones (consistency), which `audit verify --checkpoint` does.
package audit
