// Package webhook delivers escalation notifications to configured URLs: a JSON body signed
// with HMAC-SHA256 over the timestamp and the body, retried with exponential backoff.
// Receivers check a delivery with Verify.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Header names of a delivery. NB: receivers depend on them; never rename.
const (
	HeaderSignature = "X-Ledgerdesk-Signature" // "sha256=<hex HMAC of timestamp + "." + body>"
	HeaderTimestamp = "X-Ledgerdesk-Timestamp" // Unix seconds when the delivery was signed
	HeaderDelivery  = "X-Ledgerdesk-Delivery"  // id of the notification, stable across retries
)

// Errors of Verify.
var (
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: timestamp outside the tolerance")
)

// Sign returns the signature header value for a body signed at ts.
func Sign(secret string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery's signature and that its timestamp is within tolerance of now,
// which bounds replays.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad %s", ErrBadSignature, HeaderTimestamp)
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return ErrStale
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return ErrBadSignature
	}
	return nil
}

// Sender delivers notifications. The zero value is not usable; use NewSender.
type Sender struct {
	client     *http.Client
	now        func() time.Time
	maxElapsed time.Duration
	initial    time.Duration
	attempts   chan struct{} // one token per HTTP attempt in flight
}

// NewSender returns a sender whose attempts time out after 10s and whose retries, with
// exponential backoff from initial, give up after maxElapsed. At most concurrent attempts
// run at once across all deliveries (default 32); a delivery waiting for its next retry
// holds none, so a dead receiver delays no other delivery.
func NewSender(initial, maxElapsed time.Duration, concurrent int) *Sender {
	if concurrent <= 0 {
		concurrent = 32
	}
	return &Sender{client: &http.Client{Timeout: 10 * time.Second}, now: time.Now, initial: initial, maxElapsed: maxElapsed,
		attempts: make(chan struct{}, concurrent)}
}

// Outcome is the result of a delivery: what the notification's delivered or failed
// event records.
type Outcome struct {
	Attempts int    `json:"attempts"`
	Status   int    `json:"status,omitempty"` // last HTTP status, 0 if none
	Error    string `json:"error,omitempty"`  // last error, "" when delivered
}

// Deliver POSTs body to url, signed with secret, until a 2xx answer, a 4xx other than
// 408/429 (permanent), ctx's end or the backoff's limit. Each attempt is signed afresh.
func (s *Sender) Deliver(ctx context.Context, url, secret, deliveryID string, body []byte) (Outcome, error) {
	var out Outcome
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxElapsedTime = s.initial, s.maxElapsed
	op := func() error {
		select {
		case s.attempts <- struct{}{}:
		case <-ctx.Done():
			return backoff.Permanent(ctx.Err())
		}
		defer func() { <-s.attempts }()
		out.Attempts++
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return backoff.Permanent(err)
		}
		ts := s.now()
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
		req.Header.Set(HeaderSignature, Sign(secret, ts, body))
		req.Header.Set(HeaderDelivery, deliveryID)
		res, err := s.client.Do(req)
		if err != nil {
			out.Status, out.Error = 0, err.Error()
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
		out.Status = res.StatusCode
		switch {
		case res.StatusCode >= 200 && res.StatusCode < 300:
			out.Error = ""
			return nil
		case res.StatusCode >= 400 && res.StatusCode < 500 && res.StatusCode != 408 && res.StatusCode != 429:
			out.Error = "permanent: " + res.Status
			return backoff.Permanent(errors.New(out.Error))
		}
		out.Error = res.Status
		return errors.New(res.Status)
	}
	err := backoff.Retry(op, backoff.WithContext(b, ctx))
	if err != nil && out.Error == "" { // e.g. ctx ended before any attempt finished
		out.Error = err.Error()
	}
	return out, err
}
