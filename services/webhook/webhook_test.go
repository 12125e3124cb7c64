package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

const secret = "s3cret"

// receiver is a real HTTP server that checks every delivery's signature and answers with
// the statuses given, in order (then 200).
func receiver(t *testing.T, statuses ...int) (*httptest.Server, *atomic.Int32, *atomic.Int32) {
	var calls, verified atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		if err := Verify(secret, r.Header, body, time.Now(), time.Minute); err == nil && string(body) == `{"n":1}` && r.Header.Get(HeaderDelivery) == "d-1" {
			verified.Add(1)
		}
		if int(n) <= len(statuses) {
			w.WriteHeader(statuses[n-1])
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &calls, &verified
}

func TestDeliverRetriesUntilAccepted(t *testing.T) {
	srv, calls, verified := receiver(t, 503, 500)
	out, err := NewSender(time.Millisecond, 5*time.Second, 0).Deliver(context.Background(), srv.URL, secret, "d-1", []byte(`{"n":1}`))
	if err != nil || out.Attempts != 3 || out.Status != 200 || out.Error != "" {
		t.Fatalf("outcome %+v, err %v; want delivered on attempt 3", out, err)
	}
	if calls.Load() != 3 || verified.Load() != 3 {
		t.Fatalf("%d calls, %d with a valid signature", calls.Load(), verified.Load())
	}
}

func TestDeliverStopsOnPermanentRefusal(t *testing.T) {
	srv, calls, _ := receiver(t, 410)
	out, err := NewSender(time.Millisecond, 5*time.Second, 0).Deliver(context.Background(), srv.URL, secret, "d-1", []byte(`{"n":1}`))
	if err == nil || out.Attempts != 1 || out.Status != 410 || calls.Load() != 1 {
		t.Fatalf("outcome %+v, err %v; want one attempt, failed", out, err)
	}
}

func TestDeliverGivesUp(t *testing.T) {
	srv, calls, _ := receiver(t, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503)
	out, err := NewSender(5*time.Millisecond, 60*time.Millisecond, 0).Deliver(context.Background(), srv.URL, secret, "d-1", []byte(`{"n":1}`))
	if err == nil || out.Status != 503 || out.Error == "" || calls.Load() < 2 {
		t.Fatalf("outcome %+v, err %v, %d calls; want failed after retries", out, err, calls.Load())
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"a":1}`)
	h := http.Header{}
	h.Set(HeaderTimestamp, "1800000000")
	h.Set(HeaderSignature, Sign(secret, now, body))
	if err := Verify(secret, h, body, now.Add(30*time.Second), time.Minute); err != nil {
		t.Fatalf("valid delivery: %v", err)
	}
	if err := Verify("other", h, body, now, time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong secret: %v", err)
	}
	if err := Verify(secret, h, []byte(`{"a":2}`), now, time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("altered body: %v", err)
	}
	if err := Verify(secret, h, body, now.Add(2*time.Minute), time.Minute); !errors.Is(err, ErrStale) {
		t.Fatalf("replayed late: %v", err)
	}
}
