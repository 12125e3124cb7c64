// Package auditapi is the server's side of the auditors' checkpoints: the Checkpointer
// signs the log's Merkle tree as the read models hold it (projections) every few seconds
// while events arrive and stores each signed checkpoint in CHECKPOINTS (events/audit);
// the Handler serves them with inclusion and consistency proofs under /v1/audit/.
// A tenant-scoped auditor gets the checkpoints of the whole log and the proofs of its
// own tenants' events only.
package auditapi
