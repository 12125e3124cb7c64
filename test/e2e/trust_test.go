package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ledgerdesk/ledgerdesk/test/internal/ldproc"
)

// TestTheLogIsClosedToTheNatsCLI drives the real nats CLI against `ledgerdesk run` the way
// issue 10 found the log open: without credentials nothing gets in; with the auditor's
// credentials file, as the README says, the log can be read but neither written, edited
// nor removed; a service's credentials cannot edit or remove it either. The log is intact
// afterwards.
func TestTheLogIsClosedToTheNatsCLI(t *testing.T) {
	natsCLI := ldproc.NatsCLI(t)
	bin := ldproc.Build(t)
	data := t.TempDir()
	p := ldproc.Start(t, bin, data, "e2e-token-0123456789")
	client := ldproc.NewClient(p, 1, 10*time.Second)
	defer client.Close()
	ctx := context.Background()
	created, err := client.Create(ctx, "", ldproc.NewTicketBody("printer on fire"))
	if err != nil {
		t.Fatal(err)
	}
	creds := func(role string) string { return filepath.Join(data, "credentials", role+".creds") }
	home := t.TempDir() // no nats contexts of the machine's user
	natsArgs := func(args []string) []string {
		return append([]string{natsCLI, "--server", p.NATSURL, "--timeout", "3s"}, args...)
	}
	// A refused JetStream API request is never answered: it fails at its timeout.
	const refusedTimeout = "--timeout=700ms"
	run := func(cmd *exec.Cmd) (string, error) {
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	nats := func(args ...string) (string, error) {
		a := natsArgs(args)
		return run(exec.Command(a[0], a[1:]...))
	}
	// onTerminal runs the CLI as a person at a terminal would (`stream view` pages, and
	// refuses to without one), under script(1).
	onTerminal := func(args ...string) (string, error) {
		var quoted []string
		for _, a := range natsArgs(args) {
			quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
		}
		return run(exec.Command("script", "-qec", strings.Join(quoted, " "), "/dev/null"))
	}
	// refused: the CLI fails, or (for a plain publish, which NATS refuses asynchronously)
	// reports the server's permissions violation.
	refused := func(why string, args ...string) {
		t.Helper()
		out, err := nats(append([]string{refusedTimeout}, args...)...)
		if err == nil && !strings.Contains(out, "Permissions Violation") {
			t.Errorf("%s: nats %s succeeded:\n%s", why, strings.Join(args, " "), out)
		}
	}
	streamMsgs := func() uint64 {
		t.Helper()
		out, err := nats("--creds", creds("auditor"), "stream", "info", "TICKETS", "--json")
		if err != nil {
			t.Fatalf("auditor: stream info: %v\n%s", err, out)
		}
		var info struct {
			Config struct {
				DenyDelete bool `json:"deny_delete"`
				DenyPurge  bool `json:"deny_purge"`
			} `json:"config"`
			State struct {
				Msgs uint64 `json:"messages"`
			} `json:"state"`
		}
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			t.Fatalf("stream info --json: %v\n%s", err, out)
		}
		if !info.Config.DenyDelete || !info.Config.DenyPurge {
			t.Errorf("TICKETS allows delete or purge: %s", out)
		}
		return info.State.Msgs
	}
	before := streamMsgs()

	if out, err := nats("stream", "ls"); err == nil || !strings.Contains(out, "Authorization Violation") {
		t.Errorf("anonymous: stream ls: %v\n%s", err, out)
	}
	refused("anonymous", "pub", "tickets.acme.x", "{}", "-H", "ce-type:ledgerdesk.ticket.opened.v1", "-H", "ce-id:x1")
	refused("anonymous", "stream", "rm", "TICKETS", "-f")

	// One tenant's history in every partition, and one ticket's (README, "The log").
	for _, subject := range []string{"tickets.*.acme.>", "tickets.*.*." + created.Ticket.ID} {
		out, err := onTerminal("--creds", creds("auditor"), "stream", "view", "TICKETS", "--subject", subject)
		if err != nil || !strings.Contains(out, "printer on fire") {
			t.Errorf("auditor: stream view --subject %s: %v\n%s", subject, err, out)
		}
	}
	refused("auditor", "--creds", creds("auditor"), "stream", "rm", "TICKETS", "-f")
	refused("auditor", "--creds", creds("auditor"), "stream", "purge", "TICKETS", "-f")
	refused("auditor", "--creds", creds("auditor"), "stream", "edit", "TICKETS", "--dupe-window", "1s", "--max-age", "2s", "-f")
	refused("auditor", "--creds", creds("auditor"), "stream", "rmm", "TICKETS", "1", "-f")
	refused("auditor", "--creds", creds("auditor"), "req", "tickets.acme."+created.Ticket.ID, "{}")
	for _, role := range []string{"intake", "routing", "reporting"} {
		refused(role, "--creds", creds(role), "stream", "edit", "TICKETS", "--max-age", "2s", "-f")
		refused(role, "--creds", creds(role), "stream", "rm", "TICKETS", "-f")
	}
	refused("auditor", "--creds", creds("auditor"), "pub", "tickets.acme."+created.Ticket.ID, "{}")
	// Routing's view snapshots (README, "Routing's loads"): the auditor lists them; no role
	// but routing writes or removes them.
	if out, err := nats("--creds", creds("auditor"), "object", "ls", "ROUTING_SNAPSHOTS"); err != nil {
		t.Errorf("auditor: object ls ROUTING_SNAPSHOTS: %v\n%s", err, out)
	}
	forged := filepath.Join(t.TempDir(), "view")
	if err := os.WriteFile(forged, []byte("a forged view"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"auditor", "intake", "sla"} {
		refused(role, "--creds", creds(role), "object", "put", "ROUTING_SNAPSHOTS", forged, "--name", "view", "-f")
		refused(role, "--creds", creds(role), "object", "rm", "ROUTING_SNAPSHOTS", "view", "-f")
	}
	if after := streamMsgs(); after != before {
		t.Errorf("TICKETS went from %d to %d messages", before, after)
	}
	if status, tk, err := client.Ticket(ctx, created.Ticket.ID); err != nil || status != 200 || tk.Title != "printer on fire" {
		t.Errorf("the ticket after the attempts: %d %+v %v", status, tk, err)
	}
}
