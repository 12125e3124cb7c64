package events_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
)

// TestStreamGuardRefusesToWeakenTheLog: every weakening of TICKETS through the one
// update path is refused with its reason and changes nothing; a harmless update goes
// through; CheckLogStreams names a stream weakened behind the guard's back, and a
// missing one.
func TestStreamGuardRefusesToWeakenTheLog(t *testing.T) {
	_, nc := eventstest.RunJetStream(t)
	ctx := context.Background()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Provision(ctx, js, events.StoreConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := events.CheckLogStreams(ctx, js); err != nil {
		t.Fatalf("freshly provisioned log: %v", err)
	}
	base := events.StreamConfig(events.StoreConfig{})
	for _, tc := range []struct {
		name   string
		change func(*jetstream.StreamConfig)
		reason string
	}{
		{"deny delete off", func(c *jetstream.StreamConfig) { c.DenyDelete = false }, "deny delete"},
		{"deny purge off", func(c *jetstream.StreamConfig) { c.DenyPurge = false }, "deny purge"},
		{"max age", func(c *jetstream.StreamConfig) { c.MaxAge = 2 * time.Second }, "max age would be 2s"},
		{"max messages", func(c *jetstream.StreamConfig) { c.MaxMsgs = 10 }, "max messages would be 10"},
		{"max bytes", func(c *jetstream.StreamConfig) { c.MaxBytes = 1 << 20 }, "max bytes"},
		{"per subject", func(c *jetstream.StreamConfig) { c.MaxMsgsPerSubject = 1 }, "max messages per subject"},
		{"duplicates", func(c *jetstream.StreamConfig) { c.Duplicates = time.Second }, "duplicate window"},
		{"interest retention", func(c *jetstream.StreamConfig) { c.Retention = jetstream.InterestPolicy }, "retention"},
		{"message TTLs", func(c *jetstream.StreamConfig) { c.AllowMsgTTL = true }, "TTL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := base
			tc.change(&want)
			_, err := events.EnsureStream(ctx, js, want)
			if !errors.Is(err, events.ErrWeakening) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("weakening update: %v, want ErrWeakening naming %q", err, tc.reason)
			}
			s, err := js.Stream(ctx, events.StreamName)
			if err != nil {
				t.Fatal(err)
			}
			if p := events.LogStreamProblems(s.CachedInfo().Config); len(p) > 0 {
				t.Fatalf("the refused update changed the stream: %v", p)
			}
		})
	}
	harmless := base
	harmless.Description = "the log, described anew"
	if _, err := events.EnsureStream(ctx, js, harmless); err != nil {
		t.Fatalf("harmless update refused: %v", err)
	}

	// Behind the guard (as an admin with the nats CLI could): readiness names it.
	weakened := base
	weakened.MaxAge, weakened.Duplicates = time.Hour, time.Minute
	if _, err := js.UpdateStream(ctx, weakened); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, events.ConfigStreamName); err != nil {
		t.Fatal(err)
	}
	err = events.CheckLogStreams(ctx, js)
	if err == nil || !strings.Contains(err.Error(), "stream TICKETS is weakened: max age would be 1h0m0s") ||
		!strings.Contains(err.Error(), "stream CONFIG") {
		t.Fatalf("check of a weakened log: %v", err)
	}
}
