package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/test/internal/ldproc"
)

// TestAnIntegrationPublishesWithTheNatsCLI follows README's "Integrate": an admin issues an
// integration's creds with `ledgerdesk nats integration`; with them the real nats CLI
// subscribes to the integration's outcomes and publishes a CloudEvent to the inbox
// (JetStream ack); the outcome arrives, names the ticket opened, and GET
// /v1/events/outcome answers the same. Another tenant's inbox refuses the creds.
func TestAnIntegrationPublishesWithTheNatsCLI(t *testing.T) {
	natsCLI := ldproc.NatsCLI(t)
	bin := ldproc.Build(t)
	data := t.TempDir()
	p := ldproc.Start(t, bin, data, "e2e-token-0123456789", "--services", "")
	client := ldproc.NewClient(p, 1, 10*time.Second)
	defer client.Close()
	ctx := context.Background()
	ldproc.ConfigureDesk(ctx, t, client)

	creds := filepath.Join(t.TempDir(), "zabbix.creds")
	issue := exec.Command(bin, "nats", "integration", "--dir", filepath.Join(data, "credentials"), "--name", "zabbix", "--tenant", "acme", "--out", creds)
	out, err := issue.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--inbox-prefix _INBOX_integration_zabbix") {
		t.Fatalf("ledgerdesk nats integration: %v\n%s", err, out)
	}
	home := t.TempDir()
	nats := func(args ...string) *exec.Cmd {
		cmd := exec.Command(natsCLI, append([]string{"--server", p.NATSURL, "--creds", creds, "--inbox-prefix", "_INBOX_integration_zabbix", "--timeout", "3s"}, args...)...)
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
		return cmd
	}

	sub := nats("sub", "outcomes.acme.zabbix.>", "--count", "1", "--raw")
	stdout, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Process.Kill(); _ = sub.Wait() }()
	time.Sleep(500 * time.Millisecond) // the subscription reaches the server

	headers := []string{"-H", "ce-specversion:1.0", "-H", "ce-id:zbx-event-1", "-H", "ce-source://zabbix.acme.example",
		"-H", "ce-type:ledgerdesk.inbox.open.v1", "-H", "ce-datacontenttype:application/json"}
	body := `{"external_id":"48213","type":"incident","title":"Disk full on db-01","requester":{"name":"Zabbix","email":"zabbix@acme.example"},"impact":"medium","urgency":"high","category":"storage"}`
	if out, err := nats(append(append([]string{"pub", "--jetstream", "inbox.acme.zabbix"}, headers...), body)...).CombinedOutput(); err != nil || !strings.Contains(string(out), "INBOX") {
		t.Fatalf("nats pub --jetstream: %v\n%s", err, out)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "{") {
				lines <- sc.Text()
				return
			}
		}
	}()
	var outcome struct {
		ID, Status, Ticket string
		Sequence           uint64
	}
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &outcome); err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no outcome on outcomes.acme.zabbix.>")
	}
	if outcome.ID != "zbx-event-1" || outcome.Status != "accepted" || outcome.Ticket == "" {
		t.Fatalf("outcome %+v", outcome)
	}
	if status, tk, err := client.Ticket(ctx, outcome.Ticket); err != nil || status != 200 || tk.Title != "Disk full on db-01" {
		t.Errorf("the ticket opened: %d %+v %v", status, tk, err)
	}
	q := url.Values{"tenant": {"acme"}, "integration": {"zabbix"}, "source": {"//zabbix.acme.example"}, "id": {"zbx-event-1"}}
	eventstest.CheckFor(t, 5*time.Second, 100*time.Millisecond, func() error {
		status, b, err := client.Send(ctx, http.MethodGet, "/v1/events/outcome?"+q.Encode(), "", nil)
		if err != nil || status != 200 || !strings.Contains(string(b), outcome.Ticket) {
			return &lookupError{status, string(b)}
		}
		return nil
	})

	if out, err := nats(append(append([]string{"--timeout", "700ms", "pub", "--jetstream", "inbox.globex.zabbix"}, headers...), body)...).CombinedOutput(); err == nil {
		t.Errorf("zabbix's creds published to inbox.globex.zabbix:\n%s", out)
	}
}

type lookupError struct {
	status int
	body   string
}

func (e *lookupError) Error() string {
	return "GET /v1/events/outcome: " + http.StatusText(e.status) + " " + e.body
}
