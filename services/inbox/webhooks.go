package inbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/services/access"
	"github.com/ledgerdesk/ledgerdesk/services/httpx"
	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// The alert webhooks: their ce-source, which keys their alerts' references, and the
// tickets' source, which routing rules match. NB: API contract.
const (
	SourceAlertmanager = "alertmanager"
	SourceGrafana      = "grafana"
)

// MaxNotification bounds an alert webhook's body (a notification of many alerts).
const MaxNotification = 8 << 20

// notification is the body of an Alertmanager webhook (version "4") and of a Grafana
// alerting webhook (version "1"), which share this shape; what else they send is ignored.
// Written here rather than imported: the alertmanager module's own type
// (notify/webhook.Message) would pull the whole Alertmanager server into the build.
type notification struct {
	Version         string  `json:"version"`
	GroupKey        string  `json:"groupKey"`
	TruncatedAlerts int     `json:"truncatedAlerts"`
	Status          string  `json:"status"`
	Receiver        string  `json:"receiver"`
	ExternalURL     string  `json:"externalURL"`
	Alerts          []alert `json:"alerts"`
}

type alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	PanelURL     string            `json:"panelURL"` // Grafana
}

// webhook is one alert webhook's format.
type webhook struct {
	source, version, summary string
}

var (
	alertmanagerHook = webhook{source: SourceAlertmanager, version: "4",
		summary: "Prometheus Alertmanager's webhook (version 4): each alert opens, comments on, reopens or resolves its incident"}
	grafanaHook = webhook{source: SourceGrafana, version: "1",
		summary: "Grafana alerting's webhook (version 1): each alert opens, comments on, reopens or resolves its incident"}
)

// receive is POST /v1/integrations/alertmanager and /v1/integrations/grafana: each alert
// of the notification is an alert message (events.InboxAlert) keyed by its fingerprint,
// answered with {"outcomes": [...]}, one each, in the notification's order: 200 when
// every alert got its outcome, 503 when one could not be applied now (the sender retries
// the notification; what was applied is not applied again). The tenant is the tenant
// query parameter, else the token's one tenant.
func (h *Handler) receive(hook webhook) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, pr := hook.decode(http.MaxBytesReader(w, r.Body, MaxNotification))
		if pr != nil {
			httpx.WriteProblem(w, pr)
			return
		}
		principal := access.From(r.Context())
		tenant, err := access.TenantParam(r)
		if err != nil {
			httpx.Fail(w, r, h.log, err)
			return
		}
		interval := tenantconfig.DefaultAlerts.CommentInterval
		if err := h.p.cfg.Configs.Sync(r.Context()); err != nil {
			httpx.Fail(w, r, h.log, err)
			return
		}
		if doc, _, err := h.p.cfg.Configs.Current(r.Context(), tenant); err == nil {
			interval = doc.AlertPolicy().CommentInterval
		}
		now := h.p.cfg.Now()
		msgs := make([]Message, len(n.Alerts))
		for i, a := range n.Alerts {
			e := hook.event(a, n.ExternalURL, now, time.Duration(interval))
			msgs[i] = Message{Tenant: tenant, Integration: integrationOf(principal), Actor: principal.Actor(), Event: e, TicketSource: hook.source}
		}
		status, outcomes := http.StatusOK, make([]Outcome, len(msgs))
		for i, res := range h.p.Handle(r.Context(), msgs, nil) {
			if res.Err != nil {
				httpx.Log(h.log, r).Warn("inbox: alert not answered; the sender retries", zap.String("source", hook.source), zap.Error(res.Err))
				status, res.Outcome = http.StatusServiceUnavailable, failed(msgs[i])
			}
			outcomes[i] = res.Outcome
		}
		httpx.WriteJSON(w, status, Outcomes{Outcomes: outcomes})
	}
}

// decode reads a notification of the hook's format.
func (hook webhook) decode(body io.Reader) (notification, *httpx.Problem) {
	var n notification
	if err := json.NewDecoder(body).Decode(&n); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return n, httpx.NewProblem(http.StatusRequestEntityTooLarge, httpx.KindBodyTooLarge, "Notification too large",
				fmt.Sprintf("a notification is at most %d MiB", MaxNotification>>20))
		}
		return n, httpx.NewProblem(http.StatusBadRequest, httpx.KindMalformedJSON, "Malformed notification", err.Error())
	}
	if n.Version != hook.version {
		return n, httpx.NewProblem(http.StatusBadRequest, httpx.KindValidation, "Unsupported notification version",
			fmt.Sprintf("version %q: the %s webhook takes version %q", n.Version, hook.source, hook.version))
	}
	return n, nil
}

// event is the alert message of one notified alert. Its ce-id is the alert's fingerprint,
// status and start, and, while firing, the comment interval it arrives in: a notification
// repeated within the interval is a repeat, one after it may comment once.
func (hook webhook) event(a alert, externalURL string, now time.Time, interval time.Duration) *event.Event {
	fp := a.Fingerprint
	if fp == "" {
		fp = labelsFingerprint(a.Labels)
	}
	status := events.AlertStatus(a.Status)
	id := fp + ":" + a.Status + ":" + strconv.FormatInt(a.StartsAt.Unix(), 10)
	if status == events.AlertFiring && interval > 0 {
		id += ":" + strconv.FormatInt(now.UnixNano()/int64(interval), 10)
	}
	title := a.Annotations["summary"]
	if title == "" {
		title = a.Labels["alertname"]
	}
	url := a.GeneratorURL
	if a.PanelURL != "" {
		url = a.PanelURL
	}
	if url == "" {
		url = externalURL
	}
	// An alert that does not encode (a time past year 9999) goes on without data: its
	// outcome says so.
	e, _ := alertEvent(id, hook.source, now, events.InboxAlert{ExternalID: fp, Status: status, Title: title,
		Description: a.Annotations["description"], Severity: a.Labels["severity"], Labels: a.Labels, StartsAt: a.StartsAt, URL: url})
	return e
}

// alertEvent is the alert message a ledgerdesk door makes of an alert: ce-id id, ce-source
// source, the alert as its data; the error says the alert did not encode (the event then
// has no data).
func alertEvent(id, source string, now time.Time, al events.InboxAlert) (*event.Event, error) {
	data, err := json.Marshal(al)
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(id)
	e.SetSource(source)
	e.SetType(events.TypeInboxAlert)
	e.SetTime(now)
	if err == nil {
		err = e.SetData(event.ApplicationJSON, data)
	}
	return &e, err
}

// labelsFingerprint stands in for a missing fingerprint: a hash of the sorted labels.
func labelsFingerprint(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k + "\x00" + labels[k] + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
