package events

import (
	"context"

	"github.com/nats-io/nats.go"
)

// WatchDisconnects is watchDisconnects for the external tests: it returns its during.
func WatchDisconnects(nc *nats.Conn) func(context.Context) (context.Context, func()) {
	return watchDisconnects(nc).during
}
