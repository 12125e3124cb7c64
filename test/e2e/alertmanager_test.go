package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/test/internal/ldproc"
)

// TestAlertmanagerOpensAndResolvesIncidents runs the real Prometheus Alertmanager with a
// webhook receiver pointing at ledgerdesk (README, "Integrate"), and sends it alerts
// through its API: a firing alert opens one incident (title from its summary, labels as
// ticket labels, P1 from severity critical, source alertmanager); its repeats open no
// second one; resolved, the incident is resolved auto_resolved; a notification of 500
// alerts opens 500 incidents, one each.
func TestAlertmanagerOpensAndResolvesIncidents(t *testing.T) {
	am := ldproc.Alertmanager(t)
	bin := ldproc.Build(t)
	p := ldproc.Start(t, bin, t.TempDir(), "e2e-token-0123456789", "--services", "")
	client := ldproc.NewClient(p, 1, 10*time.Second)
	defer client.Close()
	ctx := context.Background()
	ldproc.ConfigureDesk(ctx, t, client)
	log := ldproc.FollowLog(t, p)

	status, body, err := client.Send(ctx, http.MethodPost, "/v1/tokens", "application/json",
		[]byte(`{"name":"prometheus","role":"integration","tenants":["acme"]}`))
	if err != nil || status != http.StatusCreated {
		t.Fatalf("grant the integration token: %d %s %v", status, body, err)
	}
	var granted struct{ Token string }
	if err := json.Unmarshal(body, &granted); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	config := fmt.Sprintf(`route:
  receiver: ledgerdesk
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: ledgerdesk
    webhook_configs:
      - url: %s/v1/integrations/alertmanager?tenant=acme
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: %s
`, p.URL, granted.Token)
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	amAddr := eventstest.FreeAddr(t)
	cmd := exec.Command(am, "--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")
	var amLog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &amLog, &amLog
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager's log:\n%s", amLog.String())
		}
	})
	amURL := "http://" + amAddr
	eventstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		resp, err := http.Get(amURL + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("alertmanager: %s", resp.Status)
		}
		return nil
	})
	post := func(alerts []map[string]any) {
		t.Helper()
		b, _ := json.Marshal(alerts)
		resp, err := http.Post(amURL+"/api/v2/alerts", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST /api/v2/alerts: %s", resp.Status)
		}
	}
	startsAt := time.Now().UTC().Add(-time.Minute)
	disk := map[string]any{"labels": map[string]string{"alertname": "DiskFull", "instance": "db-01", "severity": "critical"},
		"annotations": map[string]string{"summary": "Disk /var on db-01 is full"}, "startsAt": startsAt}
	post([]map[string]any{disk})

	incidents := func(alertname string) map[string]ldproc.Seen {
		out := map[string]ldproc.Seen{}
		for id, s := range log.First(events.TypeOpened) {
			if o := s.Data.(events.Opened); o.Source == "alertmanager" && containsLabel(o.Labels, "alertname="+alertname) {
				out[id] = s
			}
		}
		return out
	}
	var incident string
	eventstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		found := incidents("DiskFull")
		if len(found) != 1 {
			return fmt.Errorf("%d incidents of DiskFull", len(found))
		}
		for id, s := range found {
			o := s.Data.(events.Opened)
			if o.Title != "Disk /var on db-01 is full" || o.Priority != "P1" || s.Actor != "integration:prometheus" {
				t.Fatalf("the incident opened: %+v by %s", o, s.Actor)
			}
			incident = id
		}
		return nil
	})
	post([]map[string]any{disk}) // the same alert again: no second incident
	time.Sleep(3 * time.Second)  // a group interval and more

	resolved := map[string]any{"labels": disk["labels"], "annotations": disk["annotations"], "startsAt": startsAt, "endsAt": time.Now().UTC().Add(-time.Second)}
	post([]map[string]any{resolved})
	eventstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		for _, r := range log.Ticket(incident) {
			if res, ok := r.Data.(events.Resolved); ok {
				if res.Code != "auto_resolved" {
					t.Fatalf("resolved with %+v", res)
				}
				return nil
			}
		}
		return fmt.Errorf("incident %s not resolved: %v", incident, log.Count(incident))
	})
	if n := len(incidents("DiskFull")); n != 1 {
		t.Errorf("%d incidents of one alert", n)
	}

	// A storm: 500 alerts of one group, one notification.
	var storm []map[string]any
	for i := range 500 {
		storm = append(storm, map[string]any{"labels": map[string]string{"alertname": "HostDown", "instance": fmt.Sprintf("host-%03d", i), "severity": "warning"},
			"annotations": map[string]string{"summary": fmt.Sprintf("host-%03d is down", i)}, "startsAt": time.Now().UTC()})
	}
	post(storm)
	eventstest.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		if n := len(incidents("HostDown")); n != 500 {
			return fmt.Errorf("%d of 500 incidents", n)
		}
		return nil
	})
	time.Sleep(3 * time.Second) // Alertmanager's next group interval: still 500
	if n := len(incidents("HostDown")); n != 500 {
		t.Errorf("%d incidents of 500 alerts", n)
	}
}

func containsLabel(labels []string, want string) bool {
	for _, l := range labels {
		if l == want {
			return true
		}
	}
	return false
}
