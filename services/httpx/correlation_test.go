package httpx_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ledgerdesk/ledgerdesk/services/httpx"
)

// TestCorrelate: a request keeps the correlation id it came with, or gets a new one (also
// for one too long to keep); the answer names it, and so does a log line about the request.
func TestCorrelate(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	var seen string
	h := httpx.Correlate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = httpx.CorrelationID(r)
		httpx.Fail(w, r, zap.New(core), errors.New("boom"))
	}))
	for _, c := range []struct{ sent, want string }{
		{"req-42", "req-42"},
		{"", ""},
		{strings.Repeat("x", 129), ""},
	} {
		req := httptest.NewRequest(http.MethodGet, "/v1/tickets", nil)
		if c.sent != "" {
			req.Header.Set(httpx.HeaderCorrelationID, c.sent)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get(httpx.HeaderCorrelationID)
		if got != seen || (c.want != "" && got != c.want) || (c.want == "" && (got == "" || got == c.sent)) {
			t.Errorf("sent %.10q: answered %q, the handler saw %q, want %q (or a new one when empty)", c.sent, got, seen, c.want)
		}
		entries := logs.TakeAll()
		if len(entries) != 1 || entries[0].ContextMap()["correlation_id"] != got {
			t.Errorf("sent %.10q: log lines %v, want one naming correlation_id %q", c.sent, entries, got)
		}
	}
}
