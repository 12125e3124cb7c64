package events

// Kind is the class of an error as a caller must handle it: the one thing an API needs to
// know to answer it. The values are the problem kinds of the HTTP API
// (urn:ledgerdesk:problem:<kind>). NB: API contract; never rename.
type Kind string

// Error kinds.
const (
	KindNotFound    Kind = "not-found"
	KindConflict    Kind = "conflict"
	KindValidation  Kind = "validation"
	KindUnavailable Kind = "unavailable"
	KindForbidden   Kind = "forbidden"
	KindRateLimited Kind = "rate-limited"
)

// KindError is an error that carries its kind and what a caller may be told about it,
// so that the API maps it without a switch of its own. Sentinels are *KindError values
// compared with errors.Is; Err, when set, is what the error also stands for (errors.Is
// sees through it).
type KindError struct {
	Kind   Kind
	Msg    string // the error's text, with its package prefix; for logs
	Detail string // what an API caller may be told
	Field  string // for KindValidation: the offending request field, if any
	Err    error  // an error this one specialises (optional)
}

// NewError returns a kinded error with its log text and its public detail.
func NewError(kind Kind, msg, detail string) *KindError {
	return &KindError{Kind: kind, Msg: msg, Detail: detail}
}

func (e *KindError) Error() string { return e.Msg }

// Unwrap returns the error e specialises, if any.
func (e *KindError) Unwrap() error { return e.Err }
