package app

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/access"
)

// Defaults of the per-principal rate limit (--rate-limit, --rate-burst): far above what a
// person or an integration sends, low enough that one runaway client cannot take the
// whole API. Load tests pass --rate-limit 0.
const (
	DefaultRateLimit = 200 // requests per second per principal
	DefaultRateBurst = 400
)

// Access is the trust boundary of an HTTP listener: the token registry following ACCESS,
// the guard authenticating and rate-limiting every /v1/ request, and the /v1/tokens API
// (MountTokens).
type Access struct {
	Registry *access.Registry
	Guard    *access.Guard
	Tokens   *access.Handler
}

// StartAccess loads the principals from ACCESS (adminToken is the bootstrap admin's) and
// keeps following it. rate 0 turns the rate limit off. Close stops it.
func StartAccess(ctx context.Context, store *events.Store, adminToken string, rate float64, burst int, log *zap.Logger) (*Access, error) {
	reg, err := access.NewRegistry(ctx, store, adminToken)
	if err != nil {
		return nil, err
	}
	guard, err := access.NewGuard(access.GuardConfig{Registry: reg, Logger: log, Rate: rate, Burst: burst})
	if err != nil {
		reg.Close()
		return nil, err
	}
	tokens, err := access.NewHandler(reg, log)
	if err != nil {
		reg.Close()
		return nil, err
	}
	return &Access{Registry: reg, Guard: guard, Tokens: tokens}, nil
}

// Protect returns the /v1/ API behind the guard.
func (a *Access) Protect(v1 *http.ServeMux) http.Handler { return a.Guard.Authenticate(v1) }

// Close stops following ACCESS.
func (a *Access) Close() { a.Registry.Close() }
