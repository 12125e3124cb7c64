package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrWeakening is returned (wrapped, with every reason) by EnsureStream for an update
// that would weaken what a stream promises.
var ErrWeakening = errors.New("events: stream update refused: it would weaken the stream")

// LogStreams are the streams that are the audit trail: every message kept for ever,
// none deleted, purged or expired. NB: wire names.
var LogStreams = []string{StreamName, ConfigStreamName, AccessStreamName}

// Weakenings lists how changing a stream from cur to next would weaken it: deny delete
// or deny purge turned off, a retention limit (age, messages, bytes, per subject)
// introduced or lowered, a shorter duplicate window, another retention policy than
// limits, per-message TTLs allowed, fewer replicas, or memory storage. None is the
// empty list.
func Weakenings(cur, next jetstream.StreamConfig) []string {
	var out []string
	if cur.DenyDelete && !next.DenyDelete {
		out = append(out, "deny delete would be turned off")
	}
	if cur.DenyPurge && !next.DenyPurge {
		out = append(out, "deny purge would be turned off")
	}
	if lowers(int64(cur.MaxAge), int64(next.MaxAge)) {
		out = append(out, fmt.Sprintf("max age would be %s (now %s)", next.MaxAge, unlimited(int64(cur.MaxAge), cur.MaxAge.String())))
	}
	for _, l := range []struct {
		name      string
		cur, next int64
	}{
		{"max messages", cur.MaxMsgs, next.MaxMsgs},
		{"max bytes", cur.MaxBytes, next.MaxBytes},
		{"max messages per subject", cur.MaxMsgsPerSubject, next.MaxMsgsPerSubject},
	} {
		if lowers(l.cur, l.next) {
			out = append(out, fmt.Sprintf("%s would be %d (now %s)", l.name, l.next, unlimited(l.cur, fmt.Sprint(l.cur))))
		}
	}
	if next.Duplicates > 0 && next.Duplicates < cur.Duplicates { // 0 is the server's default
		out = append(out, fmt.Sprintf("the duplicate window would shrink from %s to %s", cur.Duplicates, next.Duplicates))
	}
	if next.Retention != cur.Retention && next.Retention != jetstream.LimitsPolicy {
		out = append(out, fmt.Sprintf("retention would become %s", next.Retention))
	}
	if next.AllowMsgTTL && !cur.AllowMsgTTL {
		out = append(out, "per-message TTLs would be allowed")
	}
	if next.Replicas < cur.Replicas && next.Replicas > 0 {
		out = append(out, fmt.Sprintf("replicas would drop from %d to %d", cur.Replicas, next.Replicas))
	}
	if next.Storage == jetstream.MemoryStorage && cur.Storage == jetstream.FileStorage {
		out = append(out, "storage would move to memory")
	}
	return out
}

// lowers reports whether limit next is tighter than cur (0 or less: unlimited).
func lowers(cur, next int64) bool { return next > 0 && (cur <= 0 || next < cur) }

func unlimited(v int64, s string) string {
	if v <= 0 {
		return "unlimited"
	}
	return s
}

// LogStreamProblems lists why a stream of LogStreams does not keep every message for
// ever: what Weakenings would refuse, measured against a stream that denies delete and
// purge and has no limit. None is the empty list.
func LogStreamProblems(cfg jetstream.StreamConfig) []string {
	ideal := jetstream.StreamConfig{DenyDelete: true, DenyPurge: true, Retention: jetstream.LimitsPolicy,
		Storage: cfg.Storage, Replicas: cfg.Replicas, Duplicates: cfg.Duplicates}
	if cfg.Storage == jetstream.MemoryStorage {
		ideal.Storage = jetstream.FileStorage
	}
	return Weakenings(ideal, cfg)
}

// CheckLogStreams reports every problem of the log streams at once: a stream missing, or
// one of LogStreamProblems. It is what readiness means for the log.
func CheckLogStreams(ctx context.Context, js jetstream.JetStream) error {
	var errs []error
	for _, name := range LogStreams {
		s, err := js.Stream(ctx, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("stream %s: %w", name, err))
			continue
		}
		if p := LogStreamProblems(s.CachedInfo().Config); len(p) > 0 {
			errs = append(errs, fmt.Errorf("stream %s is weakened: %s", name, strings.Join(p, "; ")))
		}
	}
	return errors.Join(errs...)
}

// EnsureStream creates a stream as want, or updates an existing one to want when that
// weakens nothing (see Weakenings; else ErrWeakening with every reason, and nothing is
// changed). It is the one path by which ledgerdesk creates or upgrades a stream; it
// needs a connection allowed to manage streams.
func EnsureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if s, err = js.CreateStream(ctx, want); err != nil {
			return nil, fmt.Errorf("create stream %s: %w", want.Name, err)
		}
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", want.Name, err)
	}
	cur := s.CachedInfo().Config
	if w := Weakenings(cur, want); len(w) > 0 {
		return nil, fmt.Errorf("%w %s: %s", ErrWeakening, want.Name, strings.Join(w, "; "))
	}
	if s, err = js.UpdateStream(ctx, want); err != nil {
		return nil, fmt.Errorf("update stream %s: %w", want.Name, err)
	}
	return s, nil
}

// Provision ensures the log streams (TICKETS, CONFIG, ACCESS) and any others given, in
// order, through EnsureStream; it stops at the first failure.
func Provision(ctx context.Context, js jetstream.JetStream, cfg StoreConfig, others ...jetstream.StreamConfig) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, want := range append([]jetstream.StreamConfig{StreamConfig(cfg), ConfigStreamConfig(cfg), AccessStreamConfig(cfg)}, others...) {
		if _, err := EnsureStream(ctx, js, want); err != nil {
			return err
		}
	}
	return nil
}
