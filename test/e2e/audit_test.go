package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/sla"
	"github.com/ledgerdesk/ledgerdesk/test/internal/blockfile"
	"github.com/ledgerdesk/ledgerdesk/test/internal/ldproc"
)

const auditToken = "e2e-audit-token-0123456789"

// runJSON runs the binary with args, decodes what it prints into into, and returns its
// exit code.
func runJSON(t *testing.T, bin string, into any, args ...string) int {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(stdout.Bytes(), into); err != nil {
		t.Fatalf("%v (exit %d): not JSON: %v\nstdout: %s\nstderr: %s", args, code, err, stdout.Bytes(), stderr.Bytes())
	}
	return code
}

// auditVerify runs `ledgerdesk audit verify --json` with args and returns its report and
// exit code.
func auditVerify(t *testing.T, bin string, args ...string) (audit.Report, int) {
	t.Helper()
	var r audit.Report
	code := runJSON(t, bin, &r, append([]string{"audit", "verify", "--json"}, args...)...)
	return r, code
}

// openTickets opens n tickets and returns their ids.
func openTickets(t *testing.T, client *ldproc.Client, prefix string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		c, err := client.Create(context.Background(), "", ldproc.NewTicketBody(fmt.Sprintf("%s-%02d", prefix, i)))
		if err != nil || c.Status != http.StatusCreated {
			t.Fatalf("open: %d %v", c.Status, err)
		}
		ids = append(ids, c.Ticket.ID)
	}
	return ids
}

// settledCheckpoint waits until the ticket events the services append settle and the
// newest checkpoint covers the whole log, and returns it as served.
func settledCheckpoint(t *testing.T, p *ldproc.Proc, client *ldproc.Client) []byte {
	t.Helper()
	ctx := context.Background()
	js, err := jetstream.New(ldproc.Connect(t, p, natsauth.RoleAuditor))
	if err != nil {
		t.Fatal(err)
	}
	var note []byte
	eventstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		s, err := js.Stream(ctx, events.StreamName)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		status, body, err := client.Send(ctx, http.MethodGet, "/v1/audit/checkpoint", "", nil)
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("checkpoint: %d %v", status, err)
		}
		if !bytes.Contains(body, fmt.Appendf(nil, "\n%d\n", info.State.Msgs)) {
			return fmt.Errorf("the checkpoint does not cover the %d messages yet:\n%s", info.State.Msgs, body)
		}
		note = body
		return nil
	})
	return note
}

// resolved resolves a ticket and waits for its SLA verdicts (both clocks completed).
func resolved(t *testing.T, client *ldproc.Client, id string) {
	t.Helper()
	ctx := context.Background()
	if status, body, err := client.Send(ctx, http.MethodPost, "/v1/tickets/"+id+"/resolve", "application/json", []byte(`{"code":"fixed"}`)); err != nil || status != http.StatusOK {
		t.Fatalf("resolve: %d %s %v", status, body, err)
	}
	eventstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		_, log, err := client.Events(ctx, id)
		if err != nil {
			return err
		}
		if n := count(log, events.TypeSLACompleted); n < 2 {
			return fmt.Errorf("%d sla_completed", n)
		}
		return nil
	})
}

// copyDir copies a data directory as an operator would (cp -a keeps the credentials'
// modes).
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "data")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	return dst
}

func kindsOf(r audit.Report) map[string][]audit.Problem {
	out := map[string][]audit.Problem{}
	for _, p := range r.Problems {
		out[p.Kind] = append(out[p.Kind], p)
	}
	return out
}

// header reads one header of a stored record's NATS header block.
func header(r blockfile.Record, name string) string {
	for _, line := range strings.Split(string(r.Header), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestAuditVerifyNamesTampering follows README's "Audit" with the real binary, as a
// customer's auditor and as an attacker with file access to a stopped server:
//   - on a copy of a data directory whose message block an event's payload was changed in
//     (the record's checksum fixed), `audit verify` names the event with its expected and
//     actual hash; with a ticket's events removed it names every missing sequence; on an
//     older copy of the store restored it names the messages the checkpoint an auditor
//     kept covers and the log no longer holds; a checkpoint signed by another key is
//     named; the live log and an untouched copy verify, exit 0;
//   - an export verifies offline with the key alone, and fails naming an altered event;
//   - `audit sla` agrees with the recorded verdicts, and names one altered in a copy;
//   - `audit replay` gives the summary and the queue the server served at that moment,
//     though the log went on after it.
func TestAuditVerifyNamesTampering(t *testing.T) {
	bin := ldproc.Build(t)
	data := t.TempDir()
	today, tomorrow := time.Now().UTC().Format(time.DateOnly), time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	cpFlag := []string{"--checkpoint-interval", "100ms"}

	p := ldproc.Start(t, bin, data, auditToken, cpFlag...)
	client := ldproc.NewClient(p, 1, 10*time.Second)
	ldproc.ConfigureDesk(context.Background(), t, client)
	openTickets(t, client, "first", 3)
	settledCheckpoint(t, p, client)
	p.Stop(t)
	older := copyDir(t, data)

	p = ldproc.Start(t, bin, data, auditToken, cpFlag...)
	client = ldproc.NewClient(p, 1, 10*time.Second)
	resolved(t, client, openTickets(t, client, "second", 3)[0])
	kept := settledCheckpoint(t, p, client)
	served := map[string][]byte{}
	for report, path := range map[string]string{"summary": "/v1/reports/summary?tenant=acme&from=" + today + "&to=" + tomorrow,
		"queues": "/v1/queues?tenant=acme&limit=500"} {
		status, body, err := client.Send(context.Background(), http.MethodGet, path, "", nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("GET %s: %d %s %v", path, status, body, err)
		}
		served[report] = body
	}
	var summaryAsOf struct {
		AsOf string `json:"as_of"`
	}
	if err := json.Unmarshal(served["summary"], &summaryAsOf); err != nil {
		t.Fatal(err)
	}
	// The log goes on after the reports were served: a replay must not see it.
	resolved(t, client, openTickets(t, client, "third", 1)[0])
	settledCheckpoint(t, p, client)
	keptFile := filepath.Join(t.TempDir(), "kept.checkpoint")
	if err := os.WriteFile(keptFile, kept, 0o644); err != nil {
		t.Fatal(err)
	}
	vkey := filepath.Join(data, "credentials", audit.VerifierKeyFile)
	live, code := auditVerify(t, bin, "--nats", p.NATSURL, "--creds", filepath.Join(data, "credentials", "auditor.creds"), "--key", vkey, "--checkpoint", keptFile)
	if code != 0 || !live.OK() || live.Checkpoints < 2 || live.Tickets != 7 {
		t.Fatalf("the live log: exit %d, %+v", code, live)
	}
	p.Stop(t)

	pristine := copyDir(t, data)
	if r, code := auditVerify(t, bin, "--data", pristine, "--key", vkey, "--checkpoint", keptFile); code != 0 || !r.OK() || r.Messages != live.Messages {
		t.Fatalf("an untouched copy: exit %d, %+v", code, r)
	}
	records, err := blockfile.Read(pristine, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	// Rewriting the blocks unchanged gives the same bytes: the checksums are the server's.
	before := snapshotBlocks(t, pristine)
	if err := blockfile.Rewrite(pristine, events.StreamName, func(*blockfile.Record) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if after := snapshotBlocks(t, pristine); after != before {
		t.Fatal("rewriting the blocks unchanged changed them: the record checksums are not the server's")
	}

	t.Run("payload altered, checksum fixed", func(t *testing.T) {
		dir := copyDir(t, data)
		var victim blockfile.Record
		err := blockfile.Rewrite(dir, events.StreamName, func(r *blockfile.Record) bool {
			if victim.Seq == 0 && bytes.Contains(r.Data, []byte(`"second-01"`)) {
				r.Data = bytes.Replace(r.Data, []byte(`"second-01"`), []byte(`"SECOND-01"`), 1)
				victim = *r
			}
			return true
		})
		if err != nil || victim.Seq == 0 {
			t.Fatalf("no opened event of ticket second-01 to alter: %v", err)
		}
		r, code := auditVerify(t, bin, "--data", dir, "--key", vkey, "--checkpoint", keptFile)
		altered := kindsOf(r)[audit.ProblemAltered]
		if code != 1 || len(altered) != 1 {
			t.Fatalf("exit %d, problems %+v; want exit 1 and the altered event", code, r.Problems)
		}
		a := altered[0]
		if a.Seq != victim.Seq || a.TicketID != header(victim, events.HeaderSubject) || a.Expected != header(victim, events.HeaderHash) || a.Actual == a.Expected {
			t.Fatalf("altered event named as %+v; want seq %d, ticket %s, expected %s", a, victim.Seq, header(victim, events.HeaderSubject), header(victim, events.HeaderHash))
		}
		if len(kindsOf(r)[audit.ProblemCheckpoint]) == 0 {
			t.Fatalf("the checkpoints covering seq %d still matched: %+v", victim.Seq, r.Problems)
		}
	})

	t.Run("a ticket's events removed", func(t *testing.T) {
		dir := copyDir(t, data)
		victim := ""
		for _, rec := range records {
			if bytes.Contains(rec.Data, []byte(`"first-01"`)) {
				victim = header(rec, events.HeaderSubject)
			}
		}
		var removed []uint64
		err := blockfile.Rewrite(dir, events.StreamName, func(r *blockfile.Record) bool {
			if victim != "" && strings.HasSuffix(r.Subject, "."+victim) {
				removed = append(removed, r.Seq)
				return false
			}
			return true
		})
		if err != nil || len(removed) < 2 {
			t.Fatalf("ticket first-01 (%s): removed %v, %v", victim, removed, err)
		}
		r, code := auditVerify(t, bin, "--data", dir, "--key", vkey, "--checkpoint", keptFile)
		named := map[uint64]bool{}
		for _, g := range kindsOf(r)[audit.ProblemGap] {
			for s := g.Seq; s <= g.LastSeq; s++ {
				named[s] = true
			}
		}
		for _, s := range removed {
			if !named[s] {
				t.Errorf("removed seq %d not named missing", s)
			}
		}
		if code != 1 || len(named) != len(removed) || len(kindsOf(r)[audit.ProblemCheckpoint])+len(kindsOf(r)[audit.ProblemTruncated]) == 0 {
			t.Fatalf("exit %d, %d missing named for %d removed; problems %+v", code, len(named), len(removed), r.Problems)
		}
	})

	t.Run("an older copy restored", func(t *testing.T) {
		r, code := auditVerify(t, bin, "--data", older, "--key", vkey, "--checkpoint", keptFile)
		truncated := kindsOf(r)[audit.ProblemTruncated]
		keptSize, err := strconv.ParseUint(strings.Split(string(kept), "\n")[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if code != 1 || len(truncated) != 1 || truncated[0].From != keptFile || truncated[0].LastSeq != keptSize || truncated[0].Seq != r.Messages+1 {
			t.Fatalf("exit %d, problems %+v; want the kept checkpoint naming seqs %d to %d missing", code, r.Problems, r.Messages+1, keptSize)
		}
		if r, code := auditVerify(t, bin, "--data", older, "--key", vkey); code != 0 || !r.OK() {
			t.Fatalf("the older copy on its own checkpoints: exit %d, %+v (it is consistent with itself)", code, r.Problems)
		}
	})

	t.Run("an export, verified offline", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "acme.jsonl")
		if out, err := exec.Command(bin, "audit", "export", "--data", pristine, "--key", vkey, "--tenant", "acme",
			"--from", today, "--to", tomorrow, "--out", file).CombinedOutput(); err != nil {
			t.Fatalf("audit export: %v\n%s", err, out)
		}
		r, code := auditVerify(t, bin, "--export", file, "--key", vkey)
		if code != 0 || !r.OK() || r.Tickets != 7 || r.TreeSize != live.Messages {
			t.Fatalf("the export: exit %d, %+v", code, r)
		}
		content, _ := os.ReadFile(file)
		lines := strings.Split(strings.TrimSpace(string(content)), "\n")
		var x audit.ExportedEvent
		if err := json.Unmarshal([]byte(lines[3]), &x); err != nil {
			t.Fatal(err)
		}
		x.Event.Actor = "admin:someone-else"
		b, _ := json.Marshal(x)
		lines[3] = string(b)
		if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		r, code = auditVerify(t, bin, "--export", file, "--key", vkey)
		if altered := kindsOf(r)[audit.ProblemAltered]; code != 1 || len(altered) != 1 || altered[0].Seq != x.Event.Sequence || altered[0].EventID != x.Event.ID {
			t.Fatalf("an altered export: exit %d, %+v; want event seq %d named", code, r.Problems, x.Event.Sequence)
		}
	})

	t.Run("audit sla", func(t *testing.T) {
		slaAudit := func(dir string) (sla.AuditReport, int) {
			var rep sla.AuditReport
			code := runJSON(t, bin, &rep, "audit", "sla", "--data", dir, "--tenant", "acme", "--from", today, "--to", tomorrow, "--json")
			return rep, code
		}
		if rep, code := slaAudit(pristine); code != 0 || rep.Tickets != 7 || rep.WithSLA != 7 || rep.Verdicts != 4 || len(rep.Disagreements) != 0 {
			t.Fatalf("audit sla of the log: exit %d, %+v", code, rep)
		}
		dir := copyDir(t, data)
		var verdict blockfile.Record
		if err := blockfile.Rewrite(dir, events.StreamName, func(r *blockfile.Record) bool {
			if verdict.Seq == 0 && header(*r, events.HeaderType) == events.TypeSLACompleted {
				r.Data = bytes.Replace(r.Data, []byte(`"outcome":"met"`), []byte(`"outcome":"missed"`), 1)
				verdict = *r
			}
			return true
		}); err != nil || verdict.Seq == 0 {
			t.Fatalf("no completed verdict to alter: %v", err)
		}
		rep, code := slaAudit(dir)
		if code != 1 || len(rep.Disagreements) == 0 || rep.Disagreements[0].Seq != verdict.Seq {
			t.Fatalf("an altered verdict: exit %d, %+v; want seq %d named", code, rep, verdict.Seq)
		}
	})

	t.Run("audit replay equals what the server served", func(t *testing.T) {
		for _, report := range []string{"summary", "queues"} {
			var want, got any
			if code := runJSON(t, bin, &got, "audit", "replay", "--data", pristine, "--tenant", "acme", "--report", report,
				"--as-of", summaryAsOf.AsOf, "--from", today, "--to", tomorrow); code != 0 {
				t.Fatalf("audit replay --report %s: exit %d", report, code)
			}
			if err := json.Unmarshal(served[report], &want); err != nil {
				t.Fatal(err)
			}
			if w, g := fmt.Sprint(want), fmt.Sprint(got); w != g {
				t.Errorf("audit replay --report %s differs from what the server served:\n got %s\nwant %s", report, g, w)
			}
		}
	})

	t.Run("a forged checkpoint", func(t *testing.T) {
		forger, err := audit.LoadOrCreateKey(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		var size uint64
		var root []byte
		if _, err := fmt.Sscanf(strings.Split(string(kept), "\n")[1], "%d", &size); err != nil {
			t.Fatal(err)
		}
		forged, err := forger.Sign(size, root)
		if err != nil {
			t.Fatal(err)
		}
		// The forger names its checkpoint as the log's own: same origin line, its own key.
		forgedNote := bytes.Replace(forged.Note, []byte(forger.Origin()), []byte(strings.Split(string(kept), "\n")[0]), 1)
		file := filepath.Join(t.TempDir(), "forged.checkpoint")
		if err := os.WriteFile(file, forgedNote, 0o644); err != nil {
			t.Fatal(err)
		}
		r, code := auditVerify(t, bin, "--data", copyDir(t, data), "--key", vkey, "--checkpoint", file)
		if sig := kindsOf(r)[audit.ProblemSignature]; code != 1 || len(sig) != 1 || sig[0].From != file {
			t.Fatalf("exit %d, problems %+v; want the forged checkpoint named", code, r.Problems)
		}
	})
}

// snapshotBlocks is the bytes of the log's block files, for comparing.
func snapshotBlocks(t *testing.T, dir string) string {
	t.Helper()
	sd, err := blockfile.StreamDir(dir, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	blocks, _ := filepath.Glob(filepath.Join(sd, "msgs", "*.blk"))
	var all []byte
	for _, b := range blocks {
		content, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, content...)
	}
	return string(all)
}
