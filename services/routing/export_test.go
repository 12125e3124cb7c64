package routing

import (
	"io"
	"time"
)

// EncodeViewSnapshot writes v's snapshot as the log created at log, as the service stores it.
func EncodeViewSnapshot(w io.Writer, v *View, log time.Time) error {
	return encodeSnapshot(w, v.snapshot(log))
}
