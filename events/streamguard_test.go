package events_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
)

// TestStreamGuardRefusesToWeakenTheLog: every weakening of TICKETS, and every change of
// its layout, through the one update path is refused with its reason and changes nothing;
// a harmless update goes through; CheckLogStreams names a stream weakened or re-laid
// behind the guard's back, and a missing one.
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
	if err := events.CheckLogStreams(ctx, js, events.StoreConfig{}); err != nil {
		t.Fatalf("freshly provisioned log: %v", err)
	}
	base := events.StreamConfig(events.StoreConfig{})
	for _, tc := range []struct {
		name   string
		change func(*jetstream.StreamConfig)
		want   error
		reason string
	}{
		{"deny delete off", func(c *jetstream.StreamConfig) { c.DenyDelete = false }, events.ErrWeakening, "deny delete"},
		{"deny purge off", func(c *jetstream.StreamConfig) { c.DenyPurge = false }, events.ErrWeakening, "deny purge"},
		{"max age", func(c *jetstream.StreamConfig) { c.MaxAge = 2 * time.Second }, events.ErrWeakening, "max age 2s (from unlimited)"},
		{"max messages", func(c *jetstream.StreamConfig) { c.MaxMsgs = 10 }, events.ErrWeakening, "max messages 10 (from unlimited)"},
		{"max bytes", func(c *jetstream.StreamConfig) { c.MaxBytes = 1 << 20 }, events.ErrWeakening, "max bytes"},
		{"per subject", func(c *jetstream.StreamConfig) { c.MaxMsgsPerSubject = 1 }, events.ErrWeakening, "max messages per subject"},
		{"duplicates", func(c *jetstream.StreamConfig) { c.Duplicates = time.Second }, events.ErrWeakening, "duplicate window 1s (from 24h0m0s)"},
		{"server's default duplicates", func(c *jetstream.StreamConfig) { c.Duplicates = 0 }, events.ErrWeakening, "duplicate window 2m0s (from 24h0m0s)"},
		{"interest retention", func(c *jetstream.StreamConfig) { c.Retention = jetstream.InterestPolicy }, events.ErrWeakening, "retention"},
		{"message TTLs", func(c *jetstream.StreamConfig) { c.AllowMsgTTL = true }, events.ErrWeakening, "TTL"},
		// The layout is fixed when a stream is created.
		{"partition count", func(c *jetstream.StreamConfig) { *c = events.StreamConfig(events.StoreConfig{Partitions: 32}) },
			events.ErrLayout, fmt.Sprintf(`metadata ledgerdesk.partitions "32" (from "%d")`, events.DefaultPartitions)},
		{"transform", func(c *jetstream.StreamConfig) { c.SubjectTransform = nil },
			events.ErrLayout, fmt.Sprintf("subject transform none (from tickets.*.* → tickets.{{partition(%d,1,2)}}", events.DefaultPartitions)},
		{"layout", func(c *jetstream.StreamConfig) { c.Metadata = map[string]string{events.MetadataPartitions: "16"} },
			events.ErrLayout, `metadata ledgerdesk.log_layout removed (was "2")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := base
			tc.change(&want)
			_, err := events.EnsureStream(ctx, js, want)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("refused update: %v, want %v naming %q", err, tc.want, tc.reason)
			}
			if err := events.CheckLogStreams(ctx, js, events.StoreConfig{Partitions: events.DefaultPartitions}); err != nil {
				t.Fatalf("the refused update changed the stream: %v", err)
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
	weakened.SubjectTransform = &jetstream.SubjectTransformConfig{Source: "tickets.*.*", Destination: "tickets.0.{{wildcard(1)}}.{{wildcard(2)}}"}
	if _, err := js.UpdateStream(ctx, weakened); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, events.ConfigStreamName); err != nil {
		t.Fatal(err)
	}
	err = events.CheckLogStreams(ctx, js, events.StoreConfig{})
	if err == nil || !strings.Contains(err.Error(), "stream TICKETS is weakened: max age 1h0m0s (from unlimited); duplicate window 1m0s (from 24h0m0s)") ||
		!strings.Contains(err.Error(), "stream CONFIG") || !errors.Is(err, events.ErrLayout) ||
		!strings.Contains(err.Error(), fmt.Sprintf("stream TICKETS records %d partitions, but its subject transform is tickets.*.* → tickets.0.{{wildcard(1)}}.{{wildcard(2)}}", events.DefaultPartitions)) {
		t.Fatalf("check of a weakened log: %v", err)
	}
	// A check of some streams names only theirs: CONFIG is gone, TICKETS left out.
	if err := events.CheckLogStreams(ctx, js, events.StoreConfig{}, events.ConfigStreamName); err == nil ||
		!strings.Contains(err.Error(), "stream CONFIG") || strings.Contains(err.Error(), "TICKETS") {
		t.Fatalf("check of CONFIG only: %v", err)
	}
	if err := events.CheckLogStreams(ctx, js, events.StoreConfig{}, events.AccessStreamName); err != nil {
		t.Fatalf("check of the intact ACCESS only: %v", err)
	}
}

// TestWeakeningsCountZeroAsTheServerDoes: zero replicas and a zero duplicate window are
// what the server makes of them, so they can neither hide a weakening nor invent one.
func TestWeakeningsCountZeroAsTheServerDoes(t *testing.T) {
	r3 := jetstream.StreamConfig{Replicas: 3, Duplicates: time.Hour}
	if got := strings.Join(events.Weakenings(r3, jetstream.StreamConfig{Replicas: 0, Duplicates: time.Hour}), "; "); got != "replicas 1 (from 3)" {
		t.Errorf("R3 to zero replicas: %q", got)
	}
	if got := events.Weakenings(jetstream.StreamConfig{Duplicates: 2 * time.Minute}, jetstream.StreamConfig{}); len(got) > 0 {
		t.Errorf("an explicit server default to zero: %q", got)
	}
	withAge := jetstream.StreamConfig{MaxAge: time.Minute}
	if got := strings.Join(events.Weakenings(jetstream.StreamConfig{Duplicates: 2 * time.Minute, MaxAge: time.Minute}, withAge), "; "); got != "duplicate window 1m0s (from 2m0s)" {
		t.Errorf("zero duplicates under a one-minute max age: %q", got)
	}
}
