// Package contracts publishes the wire formats and keeps them honest: the JSON Schemas of
// the event types' data under schemas/ (EventSchema), golden example payloads per event type
// and version under golden/, and tests that the code reads and writes exactly them. A
// released event type's payload never changes; a failing golden test means a change that
// would break the log's contract.
package contracts
