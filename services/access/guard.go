package access

import (
	"errors"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// GuardConfig configures Guard.
type GuardConfig struct {
	// Registry authenticates tokens (required).
	Registry *Registry
	// Logger records failed authentications (required).
	Logger *zap.Logger
	// Rate is each principal's sustained request rate per second; 0 turns the limit off.
	Rate float64
	// Burst is how many requests a principal may send at once above Rate (default: twice
	// Rate, at least 1).
	Burst int
}

func (c *GuardConfig) setDefaults() {
	if c.Burst == 0 && c.Rate > 0 {
		c.Burst = max(1, int(math.Ceil(2*c.Rate)))
	}
}

// Validate reports every problem of the configuration.
func (c GuardConfig) Validate() error {
	var errs []error
	if c.Registry == nil {
		errs = append(errs, errors.New("access: guard: Registry is required"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("access: guard: Logger is required"))
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		errs = append(errs, errors.New("access: guard: --rate-limit must be 0 (off) or a positive rate"))
	}
	if c.Burst < 0 {
		errs = append(errs, errors.New("access: guard: --rate-burst must not be negative"))
	}
	return errors.Join(errs...)
}

// Guard authenticates every request of the API and limits each principal's rate. It is
// safe for concurrent use.
type Guard struct {
	cfg      GuardConfig
	failures atomic.Uint64
	// failing limits each remote address's failed authentications (failureRate), so that
	// a flood of bad tokens neither fills the log nor gets unlimited guesses.
	failing *lru.Cache[string, *rate.Limiter]

	mu       sync.Mutex
	limiters map[string]*rate.Limiter // by principal id
}

// NewGuard returns a guard; it refuses an invalid configuration.
func NewGuard(cfg GuardConfig) (*Guard, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	failing, err := lru.New[string, *rate.Limiter](failureAddrs)
	if err != nil {
		return nil, err
	}
	return &Guard{cfg: cfg, failing: failing, limiters: map[string]*rate.Limiter{}}, nil
}

// Failed authentications one remote address may make: failureRate a second after a burst
// of failureBurst; beyond that it is answered 429 without a log line each. The limiters of
// the failureAddrs addresses that failed last are kept.
const (
	failureRate   = 5
	failureBurst  = 20
	failureAddrs  = 10_000
	failureWindow = time.Second
)

// failureAllowed takes one failed authentication from addr's bucket; false when it is empty.
func (g *Guard) failureAllowed(addr string) bool {
	lim, ok := g.failing.Get(addr)
	if !ok {
		lim = rate.NewLimiter(rate.Limit(failureRate), failureBurst)
		g.failing.Add(addr, lim)
	}
	return lim.Allow()
}

// remoteHost is the address part of a request's remote address (the port changes with
// every connection).
func remoteHost(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// AuthFailures is how many requests presented no token or a token no principal holds.
func (g *Guard) AuthFailures() uint64 { return g.failures.Load() }

// Authenticate wraps the API: a request must carry `Authorization: Bearer <token>` of an
// active principal (else 401 unauthorized, logged with the remote address and counted)
// and stay within the principal's rate (else 429 rate-limited with Retry-After). The
// principal travels in the request's context (From).
func (g *Guard) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		var p Principal
		if ok {
			p, ok = g.cfg.Registry.Authenticate(strings.TrimSpace(token))
		}
		if !ok {
			g.failures.Add(1)
			if !g.failureAllowed(remoteHost(r.RemoteAddr)) {
				p := httpx.ProblemFor(events.NewError(events.KindRateLimited, "access: failed authentications limited",
					"too many failed authentications from this address; retry after the Retry-After seconds"))
				p.RetryAfter = int(failureWindow.Seconds())
				httpx.WriteProblem(w, p)
				return
			}
			reason := "missing bearer token"
			if r.Header.Get("Authorization") != "" {
				reason = "invalid bearer token"
			}
			// Never the presented secret: only where it came from.
			g.cfg.Logger.Warn("authentication failed", zap.String("remote", r.RemoteAddr), zap.String("reason", reason),
				zap.String("method", r.Method), zap.String("path", r.URL.Path))
			unauthorized(w, reason)
			return
		}
		if wait := g.throttle(p.ID); wait > 0 {
			p := httpx.ProblemFor(events.NewError(events.KindRateLimited, "access: rate limited",
				"too many requests from "+p.Actor()+"; retry after the Retry-After seconds"))
			p.RetryAfter = int(math.Ceil(wait.Seconds()))
			httpx.WriteProblem(w, p)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// throttle takes one request from the principal's bucket; it returns how long to wait
// when the bucket is empty (and takes nothing then), 0 when the request may go.
func (g *Guard) throttle(id string) time.Duration {
	if g.cfg.Rate == 0 {
		return 0
	}
	g.mu.Lock()
	lim, ok := g.limiters[id]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(g.cfg.Rate), g.cfg.Burst)
		g.limiters[id] = lim
	}
	g.mu.Unlock()
	now := time.Now()
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return max(d, time.Second) // Retry-After counts whole seconds
	}
	return 0
}

// unauthorized answers 401 with WWW-Authenticate.
func unauthorized(w http.ResponseWriter, detail string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ledgerdesk"`)
	httpx.WriteProblem(w, httpx.NewProblem(http.StatusUnauthorized, httpx.KindUnauthorized, "Unauthorized", detail))
}
