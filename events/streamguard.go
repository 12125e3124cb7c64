package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrWeakening is returned (wrapped, with every reason) by EnsureStream for an update
// that would weaken what a stream promises.
var ErrWeakening = errors.New("events: stream update refused: it would weaken the stream")

// LogStreamConfigs are the streams that are the audit trail, as ledgerdesk provisions
// them: TICKETS, CONFIG and ACCESS, every message kept for ever, none deleted, purged or
// expired.
func LogStreamConfigs(cfg StoreConfig) []jetstream.StreamConfig {
	return []jetstream.StreamConfig{StreamConfig(cfg), ConfigStreamConfig(cfg), AccessStreamConfig(cfg)}
}

// Weakenings lists how changing a stream from cur to next would weaken it: deny delete
// or deny purge turned off, a retention limit (age, messages, bytes, per subject)
// introduced or lowered, a shorter duplicate window, another retention policy than
// limits, per-message TTLs allowed, fewer replicas, or memory storage. Zero fields count
// as what the server makes of them (one replica, a two-minute duplicate window). None is
// the empty list.
func Weakenings(cur, next jetstream.StreamConfig) []string {
	cur, next = effective(cur), effective(next)
	var out []string
	if cur.DenyDelete && !next.DenyDelete {
		out = append(out, "deny delete turned off")
	}
	if cur.DenyPurge && !next.DenyPurge {
		out = append(out, "deny purge turned off")
	}
	if lowers(int64(cur.MaxAge), int64(next.MaxAge)) {
		out = append(out, fmt.Sprintf("max age %s (from %s)", next.MaxAge, unlimited(int64(cur.MaxAge), cur.MaxAge.String())))
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
			out = append(out, fmt.Sprintf("%s %d (from %s)", l.name, l.next, unlimited(l.cur, fmt.Sprint(l.cur))))
		}
	}
	if next.Duplicates < cur.Duplicates {
		out = append(out, fmt.Sprintf("duplicate window %s (from %s)", next.Duplicates, cur.Duplicates))
	}
	if next.Retention != cur.Retention && next.Retention != jetstream.LimitsPolicy {
		out = append(out, fmt.Sprintf("retention %s (from %s)", next.Retention, cur.Retention))
	}
	if next.AllowMsgTTL && !cur.AllowMsgTTL {
		out = append(out, "per-message TTLs allowed")
	}
	if next.Replicas < cur.Replicas {
		out = append(out, fmt.Sprintf("replicas %d (from %d)", next.Replicas, cur.Replicas))
	}
	if next.Storage == jetstream.MemoryStorage && cur.Storage == jetstream.FileStorage {
		out = append(out, "memory storage (from file)")
	}
	return out
}

// serverDuplicates is nats-server's duplicate window for a stream that sets none.
const serverDuplicates = 2 * time.Minute

// effective fills the zero fields a server fills when it creates or updates a stream.
func effective(c jetstream.StreamConfig) jetstream.StreamConfig {
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Duplicates == 0 {
		c.Duplicates = serverDuplicates
		if c.MaxAge > 0 && c.MaxAge < c.Duplicates {
			c.Duplicates = c.MaxAge
		}
	}
	return c
}

// lowers reports whether limit next is tighter than cur (0 or less: unlimited).
func lowers(cur, next int64) bool { return next > 0 && (cur <= 0 || next < cur) }

func unlimited(v int64, s string) string {
	if v <= 0 {
		return "unlimited"
	}
	return s
}

// CheckLogStreams reports every problem of the log streams at once: a stream missing, one
// weakened against what ledgerdesk provisions (Weakenings from LogStreamConfigs), or a
// TICKETS stream whose layout is not LogLayout with cfg.Partitions partitions (any count
// when 0; ErrLayout). It is what readiness means for the log. only names the log streams
// to check (every one when none): a role that may not read a stream's info checks the
// others.
func CheckLogStreams(ctx context.Context, js jetstream.JetStream, cfg StoreConfig, only ...string) error {
	var errs []error
	for _, want := range LogStreamConfigs(cfg) {
		if len(only) > 0 && !slices.Contains(only, want.Name) {
			continue
		}
		s, err := js.Stream(ctx, want.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("stream %s: %w", want.Name, err))
			continue
		}
		cur := s.CachedInfo().Config
		if want.Name == StreamName {
			if _, err := ticketsPartitions(cur, cfg.Partitions); err != nil {
				errs = append(errs, err)
			}
		}
		if w := Weakenings(want, cur); len(w) > 0 {
			errs = append(errs, fmt.Errorf("stream %s is weakened: %s", want.Name, strings.Join(w, "; ")))
		}
	}
	return errors.Join(errs...)
}

// LogPartitions returns the number of partitions of the existing TICKETS stream, checking
// its layout (ErrLayout for another than LogLayout); an error wrapping
// jetstream.ErrStreamNotFound when there is none yet.
func LogPartitions(ctx context.Context, js jetstream.JetStream) (int, error) {
	return logPartitions(ctx, js, 0)
}

// logPartitions is LogPartitions for a stream that must have want partitions (any when 0).
func logPartitions(ctx context.Context, js jetstream.JetStream, want int) (int, error) {
	s, err := js.Stream(ctx, StreamName)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", StreamName, err)
	}
	return ticketsPartitions(s.CachedInfo().Config, want)
}

// EnsureStream creates a stream as want, or updates an existing one to want when that
// weakens nothing (see Weakenings; else ErrWeakening with every reason) and keeps its
// layout (see LayoutChanges; else ErrLayout with every change); a refused update changes
// nothing. It is the one path by which ledgerdesk creates or upgrades a stream; it needs
// a connection allowed to manage streams.
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
	var refused []error
	if w := Weakenings(cur, want); len(w) > 0 {
		refused = append(refused, fmt.Errorf("%w %s: %s", ErrWeakening, want.Name, strings.Join(w, "; ")))
	}
	if ch := LayoutChanges(cur, want); len(ch) > 0 {
		refused = append(refused, fmt.Errorf("%w: stream %s: %s (a stream's layout is fixed when it is created)",
			ErrLayout, want.Name, strings.Join(ch, "; ")))
	}
	if err := errors.Join(refused...); err != nil {
		return nil, err
	}
	if s, err = js.UpdateStream(ctx, want); err != nil {
		return nil, fmt.Errorf("update stream %s: %w", want.Name, err)
	}
	return s, nil
}

// Provision ensures the log streams (TICKETS, CONFIG, ACCESS) and any others given, in
// order, through EnsureStream; it stops at the first failure. An existing TICKETS stream
// must have layout LogLayout, and cfg.Partitions partitions unless 0 (else ErrLayout,
// before anything is changed); a new one gets cfg.Partitions (DefaultPartitions when 0).
// Every stream gets cfg.Replicas (1 when 0), the others too unless they set their own: an
// existing stream is scaled up to it, never down (a weakening).
func Provision(ctx context.Context, js jetstream.JetStream, cfg StoreConfig, others ...jetstream.StreamConfig) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if cfg.Partitions != 0 {
		if err := validPartitions(cfg.Partitions); err != nil {
			return err
		}
	}
	n, err := logPartitions(ctx, js, cfg.Partitions)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound): // a new log: cfg's
	case err != nil:
		return err
	default:
		cfg.Partitions = n
	}
	for _, want := range append(LogStreamConfigs(cfg), others...) {
		if want.Replicas == 0 {
			want.Replicas = cfg.Replicas
		}
		if _, err := EnsureStream(ctx, js, want); err != nil {
			return err
		}
	}
	return nil
}
