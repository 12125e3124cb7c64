package httpx

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"go.uber.org/zap"
)

// HeaderCorrelationID names a request's correlation id: a caller may send it (128
// characters at most), and every answer carries it. The events a request causes carry it
// as their ce-correlationid, and so do the events those cause.
const HeaderCorrelationID = "X-Correlation-Id"

// maxCorrelationID is the longest correlation id a caller may choose.
const maxCorrelationID = 128

type correlationKey struct{}

// Correlate gives every request its correlation id (the caller's, else a new UUIDv7),
// echoes it in the answer's X-Correlation-Id and keeps it in the request's context for
// CorrelationID and Log.
func Correlate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := CorrelationID(r)
		w.Header().Set(HeaderCorrelationID, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), correlationKey{}, id)))
	})
}

// CorrelationID is the request's correlation id: Correlate's, or, for a request that did
// not pass it, the caller's or a new one.
func CorrelationID(r *http.Request) string {
	if id, ok := r.Context().Value(correlationKey{}).(string); ok {
		return id
	}
	if id := r.Header.Get(HeaderCorrelationID); id != "" && len(id) <= maxCorrelationID {
		return id
	}
	return uuid.Must(uuid.NewV7()).String()
}

// Log is log for the lines about a request: each names its correlation id.
func Log(log *zap.Logger, r *http.Request) *zap.Logger {
	return log.With(zap.String("correlation_id", CorrelationID(r)))
}
