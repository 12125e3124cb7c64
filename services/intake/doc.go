// Package intake is the service desk's single point of contact: the HTTP API that opens
// tickets and applies commands to them, appending the decided events to the ticket log
// through a group committer.
package intake
