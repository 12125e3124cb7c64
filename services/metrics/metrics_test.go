package metrics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

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
