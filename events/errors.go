package events

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrUnknownEventType is returned for an event type no payload is registered for.
	ErrUnknownEventType = errors.New("events: unknown event type")
	// ErrNotFound is returned by Load for a ticket with no events.
	ErrNotFound error = NewError(KindNotFound, "events: ticket not found", "no ticket with that id")
	// ErrConflict is returned by Append when the ticket's version is not the expected one.
	ErrConflict error = NewError(KindConflict, "events: version conflict",
		"the ticket changed while the request was applied; reload and retry")
	// ErrDuplicate is returned by Append when an event id was already appended.
	ErrDuplicate error = NewError(KindConflict, "events: duplicate event",
		"the ticket changed while the request was applied; reload and retry")
	// ErrNoConfig is returned for a tenant with no configuration yet. It is also an
	// ErrNotFound: errors.Is(ErrNoConfig, ErrNotFound) holds.
	ErrNoConfig error = &KindError{Kind: KindNotFound, Msg: "events: no configuration",
		Detail: "this tenant has no configuration yet", Err: ErrNotFound}
)

// TransitionError is returned by Decide for a command the ticket's state refuses.
type TransitionError struct {
	Command string   // the refused command, e.g. "resolve"
	State   State    // the ticket's state
	Allowed []string // the commands the state allows, sorted
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("events: %s not allowed in state %q (allowed: %s)", e.Command, e.State, strings.Join(e.Allowed, ", "))
}

// ValidationError is returned by Decide for a command with a missing or invalid field.
type ValidationError struct {
	Field  string // JSON name of the offending field
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("events: invalid %s: %s", e.Field, e.Reason)
}
