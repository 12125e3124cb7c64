package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Unmatched is the route label of a request no route serves.
const Unmatched = "unmatched"

// InstrumentHTTP counts and times every request h answers, labelled with the route
// pattern route finds for it ("" for none: Unmatched), so the label has as many values
// as the API has routes whatever paths clients send.
func (m *Metrics) InstrumentHTTP(h http.Handler, route func(*http.Request) string) http.Handler {
	if m == nil {
		return h
	}
	label := promhttp.WithLabelFromRequest("route", func(r *http.Request) string {
		if p := route(r); p != "" {
			return p
		}
		return Unmatched
	})
	return promhttp.InstrumentHandlerDuration(m.httpDuration,
		promhttp.InstrumentHandlerCounter(m.httpRequests, h, label), label)
}
