package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/services/metrics"
)

// A gauge read from elsewhere gives a sample when its read succeeds and none when it
// fails; a second gauge of the same name is refused; unregistered, it is gone.
func TestGauge(t *testing.T) {
	m := metrics.New()
	var err error
	unregister, err := m.Gauge("test_reading", "A reading.", func(context.Context) (float64, error) {
		if err != nil {
			return 0, err
		}
		return 42, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.Registry(), "ledgerdesk_test_reading"); n != 1 {
		t.Fatalf("%d samples, want 1", n)
	}
	err = errors.New("server gone")
	if n := testutil.CollectAndCount(m.Registry(), "ledgerdesk_test_reading"); n != 0 {
		t.Fatalf("%d samples of a failed read, want none", n)
	}
	if _, dup := m.Gauge("test_reading", "Again.", func(context.Context) (float64, error) { return 1, nil }); dup == nil {
		t.Fatal("a second gauge of the same name was registered")
	}
	unregister()
	if _, again := m.Gauge("test_reading", "A reading.", func(context.Context) (float64, error) { return 1, nil }); again != nil {
		t.Fatalf("register after unregister: %v", again)
	}
}

// Cached reads again only once its period has passed, and keeps no failed read.
func TestCached(t *testing.T) {
	calls, fail := 0, true
	read := metrics.Cached(time.Hour, func(context.Context) (float64, error) {
		calls++
		if fail {
			return 0, errors.New("not now")
		}
		return float64(calls), nil
	})
	ctx := context.Background()
	if _, err := read(ctx); err == nil {
		t.Fatal("a failed read gave a value")
	}
	fail = false
	for range 3 {
		if v, err := read(ctx); err != nil || v != 2 {
			t.Fatalf("read %v, %v; want the second read's 2 for the hour", v, err)
		}
	}
	if calls != 2 {
		t.Fatalf("%d reads of the source, want 2", calls)
	}
}

// Every method records nothing, and fails nothing, on a nil *Metrics.
func TestNil(t *testing.T) {
	var m *metrics.Metrics
	m.Handled("c", 1, 0, time.Millisecond)
	m.DeadLetter("s", "h")
	m.WebhookDelivery(metrics.WebhookDelivered)
	m.WatchConsumer("c", nil)()
	if unregister, err := m.Gauge("x", "X.", nil); err != nil {
		t.Fatal(err)
	} else {
		unregister()
	}
	if m.Registry() != nil {
		t.Fatal("a nil Metrics has a registry")
	}
}

// TestLagging: a durable consumer nobody consumes lags by what its stream holds, as the
// server counts it; Lagging names it above the bound and not at or under it, and not once
// unwatched.
func TestLagging(t *testing.T) {
	_, nc := eventstest.RunJetStream(t)
	ctx := context.Background()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LAG", Subjects: []string{"lag.>"}}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := js.Publish(ctx, "lag.x", nil); err != nil {
			t.Fatal(err)
		}
	}
	// Created after the messages: a consumer that exists while they are stored counts them
	// pending a moment after their acks (CI saw 9 of 10), one created now counts them all.
	cons, err := js.CreateOrUpdateConsumer(ctx, "LAG", jetstream.ConsumerConfig{Durable: "idle", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	unwatch := m.WatchConsumer("idle", func(ctx context.Context) (*jetstream.ConsumerInfo, error) { return cons.Info(ctx) })
	if got := m.Lagging(ctx, 5); len(got) != 1 || !strings.Contains(got[0], "consumer idle is 10 messages behind") {
		t.Errorf("Lagging(5): %q, want idle 10 behind", got)
	}
	if got := m.Lagging(ctx, 10); len(got) != 0 {
		t.Errorf("Lagging(10): %q, want none", got)
	}
	unwatch()
	if got := m.Lagging(ctx, 5); len(got) != 0 {
		t.Errorf("Lagging after unwatch: %q, want none", got)
	}
}
