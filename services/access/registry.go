package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// tokenPrefix marks ledgerdesk API tokens, so that secret scanners can recognise them.
const tokenPrefix = "ldk_"

// Errors of the registry.
var (
	// ErrUnknownPrincipal is a revocation of a principal that is not active (or not in the
	// revoker's scope).
	ErrUnknownPrincipal error = events.NewError(events.KindNotFound, "access: unknown principal", "no active token with that id")
	// ErrNameTaken is a grant to a name an active principal holds: actors must stay unambiguous.
	ErrNameTaken error = events.NewError(events.KindConflict, "access: name taken", "an active token has that name; revoke it first or choose another")
)

var validName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Request is what a grant asks for.
type Request struct {
	Name    string   `json:"name"`
	Role    Role     `json:"role"`
	Tenants []string `json:"tenants"`
}

// Validate reports every problem of the request as validation errors.
func (q Request) Validate() error {
	var errs []error
	if !validName.MatchString(q.Name) {
		errs = append(errs, &events.ValidationError{Field: "name", Reason: "required: 1-64 letters, digits, '.', '_' or '-'"})
	} else if q.Name == Bootstrap.Name {
		errs = append(errs, &events.ValidationError{Field: "name", Reason: `"admin" is the bootstrap principal's name`})
	}
	if !ValidRole(q.Role) {
		errs = append(errs, &events.ValidationError{Field: "role", Reason: "must be admin, agent, integration or auditor"})
	}
	switch {
	case len(q.Tenants) == 0:
		errs = append(errs, &events.ValidationError{Field: "tenants", Reason: `required: tenant ids, or exactly ["*"] for all`})
	case slices.Equal(q.Tenants, []string{AllTenants}):
	default:
		for i, t := range q.Tenants {
			if !events.ValidToken(t) {
				errs = append(errs, &events.ValidationError{Field: fmt.Sprintf("tenants[%d]", i),
					Reason: `must be 1-64 letters, digits, '-' or '_' (or the whole list exactly ["*"])`})
			}
		}
	}
	return errors.Join(errs...)
}

// hashToken is the registry's key of a token. Tokens are 256-bit random secrets, not
// passwords: nobody can guess or brute-force one, so a fast hash is as safe as a slow
// password KDF (bcrypt, argon2), which only helps against low-entropy inputs, and keeps
// every authenticated request cheap.
func hashToken(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

func newToken() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("access: generate token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(raw), nil
}

type grant struct {
	Principal
	seq  uint64            // the grant's ACCESS sequence
	hash [sha256.Size]byte // its token's hash
}

// Registry holds the active principals, following the ACCESS stream. It is safe for
// concurrent use.
type Registry struct {
	store     *events.Store
	bootstrap [sha256.Size]byte

	mu     sync.RWMutex
	byHash map[[sha256.Size]byte]*grant
	byID   map[string]*grant

	progress events.Progress
	sub      *events.Subscription
}

// NewRegistry loads every grant and revocation in ACCESS and keeps following it;
// adminToken is the bootstrap principal's token. It returns once it is up to date with
// the stream as it stood at the call. Close stops it.
func NewRegistry(ctx context.Context, store *events.Store, adminToken string) (*Registry, error) {
	if store == nil || adminToken == "" {
		return nil, errors.New("access: registry needs a store and the admin token")
	}
	r := &Registry{store: store, bootstrap: hashToken(adminToken), byHash: map[[sha256.Size]byte]*grant{},
		byID: map[string]*grant{}}
	last, err := store.AccessLastSequence(ctx)
	if err != nil {
		return nil, err
	}
	r.sub, err = store.SubscribeAccess(context.WithoutCancel(ctx), r.apply)
	if err != nil {
		return nil, err
	}
	if err := r.wait(ctx, last); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// apply folds one grant or revocation; it never fails, so that a malformed grant cannot
// stop revocations after it from taking effect.
func (r *Registry) apply(ev events.AccessEvent) error {
	r.mu.Lock()
	switch ev.Type {
	case events.TypeAccessGranted:
		var h [sha256.Size]byte
		if b, err := hex.DecodeString(ev.Grant.TokenHash); err == nil && len(b) == sha256.Size {
			copy(h[:], b)
			g := &grant{Principal: Principal{ID: ev.Grant.ID, Name: ev.Grant.Name, Role: Role(ev.Grant.Role),
				Tenants: ev.Grant.Tenants, CreatedAt: ev.Time, GrantedBy: ev.Actor}, seq: ev.Sequence, hash: h}
			r.byHash[h], r.byID[g.ID] = g, g
		}
	case events.TypeAccessRevoked:
		if g, ok := r.byID[ev.Revoked.ID]; ok {
			delete(r.byID, g.ID)
			delete(r.byHash, g.hash)
		}
	}
	r.mu.Unlock()
	r.progress.Set(ev.Sequence)
	return nil
}

// Authenticate returns the principal holding token.
func (r *Registry) Authenticate(token string) (Principal, bool) {
	h := hashToken(token)
	if subtle.ConstantTimeCompare(h[:], r.bootstrap[:]) == 1 {
		return Bootstrap, true
	}
	r.mu.RLock()
	g, ok := r.byHash[h]
	r.mu.RUnlock()
	if !ok {
		return Principal{}, false
	}
	return g.Principal, true
}

// List returns the active principals within by's scope (not the bootstrap one), oldest first.
func (r *Registry) List(by Principal) []Principal {
	r.mu.RLock()
	out := make([]Principal, 0, len(r.byID))
	for _, g := range r.byID {
		if by.Covers(g.Tenants) {
			out = append(out, g.Principal)
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID }) // UUIDv7: by creation
	return out
}

// Grant creates a principal for the request on by's authority and returns it with its
// token, which is shown only here: ACCESS stores its hash. The request's tenants must
// lie within by's scope (else ErrNoTenant). It returns once this registry knows the
// principal, so the token works at once.
func (r *Registry) Grant(ctx context.Context, by Principal, q Request) (Principal, string, error) {
	if err := q.Validate(); err != nil {
		return Principal{}, "", err
	}
	if !by.Covers(q.Tenants) {
		return Principal{}, "", ErrNoTenant
	}
	r.mu.RLock()
	taken := false
	for _, g := range r.byID {
		taken = taken || g.Name == q.Name
	}
	r.mu.RUnlock()
	if taken {
		return Principal{}, "", ErrNameTaken
	}
	token, err := newToken()
	if err != nil {
		return Principal{}, "", err
	}
	h := hashToken(token)
	id := uuid.Must(uuid.NewV7()).String()
	seq, err := r.store.GrantAccess(ctx, events.AccessGrant{ID: id, Name: q.Name, Role: string(q.Role),
		Tenants: slices.Clone(q.Tenants), TokenHash: hex.EncodeToString(h[:])}, by.Actor())
	if err != nil {
		return Principal{}, "", err
	}
	if err := r.wait(ctx, seq); err != nil {
		return Principal{}, "", err
	}
	r.mu.RLock()
	g, ok := r.byID[id]
	r.mu.RUnlock()
	if !ok {
		return Principal{}, "", fmt.Errorf("access: grant %s stored at %d but not applied", id, seq)
	}
	return g.Principal, token, nil
}

// Revoke revokes principal id on by's authority: from then on its token answers 401 on
// every replica (each follows ACCESS). A principal that is not active, or not within by's
// scope, is ErrUnknownPrincipal. It returns once this registry has applied it.
func (r *Registry) Revoke(ctx context.Context, by Principal, id string) error {
	r.mu.RLock()
	g, ok := r.byID[id]
	r.mu.RUnlock()
	if !ok || !by.Covers(g.Tenants) {
		return ErrUnknownPrincipal
	}
	seq, err := r.store.RevokeAccess(ctx, id, g.seq, by.Actor())
	if errors.Is(err, events.ErrConflict) {
		return ErrUnknownPrincipal // revoked concurrently
	}
	if err != nil {
		return err
	}
	return r.wait(ctx, seq)
}

// wait blocks until the registry has applied ACCESS up to seq, at most waitTimeout.
func (r *Registry) wait(ctx context.Context, seq uint64) error {
	ctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if err := r.progress.WaitFor(ctx, seq); err != nil {
		return fmt.Errorf("access: wait for ACCESS seq %d: %w", seq, err)
	}
	return nil
}

// Close stops following ACCESS.
func (r *Registry) Close() {
	if r.sub != nil {
		r.sub.Stop()
	}
}

// waitTimeout bounds how long Grant and Revoke wait for the registry to apply their event.
var waitTimeout = 10 * time.Second
