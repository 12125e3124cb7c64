package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/term"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/projections"
	"github.com/ledgerdesk/ledgerdesk/services/app"
	"github.com/ledgerdesk/ledgerdesk/services/reporting"
	"github.com/ledgerdesk/ledgerdesk/services/sla"
)

// auditGroup is `ledgerdesk audit`: the auditors' commands.
type auditGroup struct {
	Key    auditKeyCmd    `cmd:"" help:"print the verifier key of the log's checkpoints, for a customer to keep apart from the server"`
	Verify auditVerifyCmd `cmd:"" help:"walk the log: every ticket's hash chain, the Merkle tree against every checkpoint; or check an export offline; exit 0 only when everything holds"`
	Export auditExportCmd `cmd:"" help:"a tenant's events of a period as CloudEvents (JSON lines) with their inclusion proofs and the checkpoint covering them"`
	SLA    auditSLACmd    `cmd:"" name:"sla" help:"recompute every SLA verdict of a tenant's tickets from the events, the recorded policy version and calendar; exit 1 on any disagreement"`
	Replay auditReplayCmd `cmd:"" help:"a report (summary or queues) as it stood at a moment, rebuilt from the log alone: what the server answered then"`
}

// auditSource is where an audit command reads the log: a live system with the auditor's
// creds, or a copy of a data directory.
type auditSource struct {
	natsConn `embed:"" set:"nats_default=" set:"nats_help=NATS server URL of a live system (or give --data)" set:"creds_help=with --nats: the auditor role's creds file, auditor.creds"`
	Data     string `placeholder:"DIR" predictor:"dir" help:"a data directory to read instead of a server, best a copy taken while ledgerdesk was stopped: its JetStream files are copied to a temporary directory and opened there, so nothing in DIR is written"`
}

// open connects to the log's JetStream.
func (s auditSource) open() (jetstream.JetStream, func(), error) {
	var nc *nats.Conn
	closeConn := func() {}
	switch {
	case s.URL != "" && s.Data != "":
		return nil, nil, errors.New("give --nats (a live system) or --data (a copy of a data directory), not both")
	case s.Data != "":
		var err error
		if nc, closeConn, err = app.OpenDataCopy(s.Data); err != nil {
			return nil, nil, err
		}
	case s.URL != "":
		var err error
		if nc, err = connectNATS(s.URL, s.Creds, natsauth.RoleAuditor, nats.Name("ledgerdesk-audit")); err != nil {
			return nil, nil, err
		}
		closeConn = nc.Close
	default:
		return nil, nil, errors.New("give --nats URL --creds auditor.creds (a live system) or --data DIR (a copy of a data directory)")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		closeConn()
		return nil, nil, err
	}
	return js, closeConn, nil
}

// openStore opens the log's store, with a context that ends on SIGINT or SIGTERM; done
// closes both.
func (s auditSource) openStore() (context.Context, *events.Store, func(), error) {
	js, closeConn, err := s.open()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	done := func() { stop(); closeConn() }
	store, err := events.OpenStore(ctx, js.Conn(), events.StoreConfig{})
	if err != nil {
		done()
		return nil, nil, nil, err
	}
	return ctx, store, done, nil
}

// auditKeyCmd is `audit key`.
type auditKeyCmd struct {
	auditSource `embed:""`
}

func (auditKeyCmd) Help() string {
	return "With --data it prints <DIR>/credentials/" + audit.VerifierKeyFile + "; with --nats, the key the newest checkpoint was published with " +
		"(trust it only if you compare it once with the operator's, out of band)."
}

func (c *auditKeyCmd) Run(s *streams) error {
	if c.Data != "" && c.URL == "" {
		vkey, err := audit.ReadVerifierKey(filepath.Join(c.Data, app.CredentialsDir, audit.VerifierKeyFile))
		if err != nil {
			return err
		}
		fmt.Fprintln(s.out, vkey)
		return nil
	}
	js, done, err := c.open()
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := audit.Latest(ctx, js)
	if err != nil {
		return err
	}
	vkey := st.VKey
	v, err := audit.ParseVerifierKey(vkey)
	if err != nil {
		return fmt.Errorf("the newest checkpoint carries no verifier key: %w", err)
	}
	if _, err := st.Open(v); err != nil {
		return fmt.Errorf("the newest checkpoint does not verify with the key it carries: %w", err)
	}
	fmt.Fprintln(s.out, vkey)
	return nil
}

// auditVerifyCmd is `audit verify`.
type auditVerifyCmd struct {
	auditSource `embed:""`
	Key         string   `placeholder:"VKEY" help:"the log's verifier key (as audit key prints it), or a file holding it; default with --data: the data directory's own (which proves the log consistent with itself, not with what a customer kept)"`
	Tenant      string   `help:"check only this tenant's tickets' chains (the tree and the checkpoints always cover the whole log)"`
	Checkpoint  []string `placeholder:"FILE" predictor:"file" help:"a signed checkpoint kept apart from the server (e.g. saved from GET /v1/audit/checkpoint): the log must still hold what it covers (repeat for more)"`
	Export      string   `placeholder:"FILE" predictor:"file" help:"check this export (audit export) offline instead of a log: needs only --key"`
	JSON        bool     `name:"json" help:"print the report as JSON"`
}

func (auditVerifyCmd) Help() string {
	return "It names every problem: an altered event (its sequence, ticket, expected and actual hash), an event inserted, reordered or missing " +
		"within a ticket, messages missing from the log, a checkpoint the log no longer matches or reaches (a tail cut), a checkpoint " +
		"whose signature fails. Exit 0 when everything holds, 1 when anything does not."
}

func (c *auditVerifyCmd) Run(s *streams) error {
	if c.Export != "" {
		return c.verifyExport(s)
	}
	key, err := verifierKey(c.Key, c.Data, s.err)
	if err != nil {
		return err
	}
	var kept []audit.Claim
	for _, path := range c.Checkpoint {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
		kept = append(kept, audit.Claim{Note: b, From: path})
	}
	js, done, err := c.open()
	if err != nil {
		return err
	}
	defer done()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	bar := newProgress(s.err, "verifying the log")
	report, err := audit.VerifyLog(ctx, js, audit.VerifyOptions{Key: key, Tenant: c.Tenant, Kept: kept}, bar.set)
	bar.finish()
	if err != nil {
		return err
	}
	return c.print(s.out, report, "every event is sound, every chain intact, and the log matches every checkpoint")
}

// verifyExport checks an export file with only the key.
func (c *auditVerifyCmd) verifyExport(s *streams) error {
	if c.URL != "" || c.Data != "" || len(c.Checkpoint) > 0 || c.Tenant != "" {
		return errors.New("--export is checked offline: give it with --key only")
	}
	key, err := verifierKey(c.Key, "", s.err)
	if err != nil {
		return err
	}
	f, err := os.Open(c.Export)
	if err != nil {
		return err
	}
	defer f.Close()
	report, err := audit.VerifyExport(f, key)
	if err != nil {
		return err
	}
	return c.print(s.out, report, "every exported event is sound and in the log the checkpoint signed")
}

// print writes the report and fails when it names a problem.
func (c *auditVerifyCmd) print(w io.Writer, report audit.Report, ok string) error {
	if c.JSON {
		if err := printJSON(w, report); err != nil {
			return err
		}
	} else {
		printReport(w, report, ok)
	}
	if !report.OK() {
		return fmt.Errorf("%d problems found", len(report.Problems))
	}
	return nil
}

// verifierKey is --key (a file holding a key, or the key), or with no --key the data
// directory's own (none when dataDir is "").
func verifierKey(key, dataDir string, stderr io.Writer) (note.Verifier, error) {
	switch {
	case key == "" && dataDir == "":
		return nil, errors.New("--key is required: the log's verifier key you kept (ledgerdesk audit key prints it)")
	case key == "":
		path := filepath.Join(dataDir, app.CredentialsDir, audit.VerifierKeyFile)
		vkey, err := audit.ReadVerifierKey(path)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "using the data directory's own verifier key (%s): this shows the log consistent with itself; give --key with the key you kept to show it is the log you were shown\n", path)
		key = vkey
	default:
		if _, err := os.Stat(key); err == nil {
			if key, err = audit.ReadVerifierKey(key); err != nil {
				return nil, fmt.Errorf("--key: %w", err)
			}
		}
	}
	return audit.ParseVerifierKey(key)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printReport(w io.Writer, r audit.Report, ok string) {
	for _, p := range r.Problems {
		fmt.Fprintf(w, "PROBLEM %s\n", p)
	}
	verdict := "OK: " + ok
	if !r.OK() {
		verdict = fmt.Sprintf("FAILED: %d problems", len(r.Problems))
	}
	took := time.Duration(r.Seconds * float64(time.Second))
	fmt.Fprintf(w, "%s\nmessages read: %d (tickets: %d) in %s, %.0f messages/s; checkpoints matched: %d; tree size %d, root %x\n",
		verdict, r.Messages, r.Tickets, took.Round(time.Millisecond), float64(r.Messages)/max(r.Seconds, 1e-9), r.Checkpoints, r.TreeSize, r.Root)
}

// progress is a progress bar with rate and time left on a terminal, nothing in a pipe.
type progress struct{ bar *progressbar.ProgressBar }

func newProgress(w io.Writer, what string) *progress {
	p := &progress{}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	return p
}

// set is told of each message read (seq) and the log's last sequence.
func (p *progress) set(seq, last uint64) {
	if p.bar == nil {
		return
	}
	if p.bar.GetMax64() != int64(last) {
		p.bar.ChangeMax64(int64(last))
	}
	_ = p.bar.Set64(int64(seq))
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// auditExportCmd is `audit export`.
type auditExportCmd struct {
	auditSource `embed:""`
	Key         string `placeholder:"VKEY" help:"the log's verifier key or a file holding it (default with --data: the data directory's own); the checkpoint exported must verify with it"`
	period      `embed:""`
	Out         string `placeholder:"FILE" predictor:"file" help:"write the export here instead of to stdout"`
}

func (auditExportCmd) Help() string {
	return "The export holds the tenant's events the newest checkpoint covers, each with its proof; audit verify --export FILE --key VKEY checks it " +
		"anywhere, with only the verifier key. It proves every event it holds is in the signed log; it cannot prove none was left out (audit verify over the log can)."
}

func (c *auditExportCmd) Run(s *streams) error {
	from, to, err := c.bounds()
	if err != nil {
		return err
	}
	key, err := verifierKey(c.Key, c.Data, s.err)
	if err != nil {
		return err
	}
	js, done, err := c.open()
	if err != nil {
		return err
	}
	defer done()
	out := s.out
	if c.Out != "" {
		f, err := os.Create(c.Out)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	written, after, err := audit.Export(ctx, js, audit.ExportOptions{Tenant: c.Tenant, From: from, To: to, Key: key}, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.err, "exported %d events of %s", written, c.Tenant)
	if after > 0 {
		fmt.Fprintf(s.err, "; %d more of the period came after the newest checkpoint and are left out: export again once a checkpoint covers them", after)
	}
	fmt.Fprintln(s.err)
	return nil
}

// parseInstant parses a day (YYYY-MM-DD, midnight UTC) or an RFC 3339 instant.
func parseInstant(flag, v string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s %q: want a day YYYY-MM-DD or an RFC 3339 time", flag, v)
}

// period is --from and --to of a command over a tenant's events.
type period struct {
	Tenant string `required:"" help:"the tenant"`
	From   string `required:"" placeholder:"DATE|TIME" help:"the period's start: a day (YYYY-MM-DD, midnight UTC) or an instant (RFC 3339)"`
	To     string `required:"" placeholder:"DATE|TIME" help:"the period's end, excluded, as the reports API's to: --from 2026-11-01 --to 2026-12-01 is November"`
}

// Validate refuses a period that does not parse as a usage error (exit 2).
func (p *period) Validate() error {
	_, _, err := p.bounds()
	return err
}

// bounds is the period as [from, to).
func (p period) bounds() (from, to time.Time, err error) {
	if from, err = parseInstant("--from", p.From); err != nil {
		return
	}
	if to, err = parseInstant("--to", p.To); err != nil {
		return
	}
	if !from.Before(to) {
		err = fmt.Errorf("--from %s is not before --to %s", p.From, p.To)
	}
	return
}

// auditSLACmd is `audit sla`.
type auditSLACmd struct {
	auditSource `embed:""`
	period      `embed:""`
	JSON        bool `name:"json" help:"print the report as JSON"`
}

func (auditSLACmd) Help() string {
	return "For the tenant's tickets opened in the period, each recorded completed verdict (met or missed, business time used, target) and " +
		"each breach (due time) is recomputed as the SLA engine gives it from the ticket's events at the instant it was recorded, with the " +
		"configuration version the ticket's SLA was attached with (policy and business calendar, from the CONFIG stream); a verdict the " +
		"events call for that the log lacks is named too. Warnings are not verdicts and are not checked."
}

func (c *auditSLACmd) Run(s *streams) error {
	from, to, err := c.bounds()
	if err != nil {
		return err
	}
	ctx, store, done, err := c.openStore()
	if err != nil {
		return err
	}
	defer done()
	rep, err := sla.AuditLog(ctx, store, c.Tenant, from, to, time.Now())
	if err != nil {
		return err
	}
	if c.JSON {
		if err := printJSON(s.out, rep); err != nil {
			return err
		}
	} else {
		for _, d := range rep.Disagreements {
			fmt.Fprintf(s.out, "DISAGREES ticket %s seq %d, %s clock: recorded %s, recomputed %s: %s\n", d.TicketID, d.Seq, d.Clock, d.Recorded, d.Recomputed, d.Detail)
		}
		fmt.Fprintf(s.out, "tickets of %s opened in the period: %d, with an SLA: %d; verdicts checked: %d, disagreements: %d\n",
			rep.Tenant, rep.Tickets, rep.WithSLA, rep.Verdicts, len(rep.Disagreements))
	}
	if len(rep.Disagreements) > 0 {
		return fmt.Errorf("%d SLA verdicts disagree with the events", len(rep.Disagreements))
	}
	return nil
}

// auditReplayCmd is `audit replay`.
type auditReplayCmd struct {
	auditSource `embed:""`
	AsOf        string `required:"" name:"as-of" placeholder:"TIME" help:"the moment (RFC 3339), e.g. a served report's as_of"`
	Tenant      string `required:"" help:"the tenant"`
	Report      string `required:"" enum:"summary,queues" help:"summary (the monthly ticket summary) or queues (the tenant's open tickets in the order they are worked)"`
	Format      string `default:"json" enum:"json,csv,html" help:"json, csv, or html (summary only): as GET /v1/reports/summary answers"`
	From        string `placeholder:"DATE|TIME" help:"summary: the API's from (YYYY-MM-DD is midnight in the tenant's time zone); with --to, default the last full month before --as-of"`
	To          string `placeholder:"DATE|TIME" help:"summary: the API's to, the period's end (excluded)"`
	Group       string `help:"queues: only this group's"`
	Agent       string `help:"queues: only this agent's"`
}

func (auditReplayCmd) Help() string {
	return "It replays the log up to --as-of into read models in memory (each ticket as of its last event then) and reads the report from " +
		"them, as the server does for as_of: nothing comes from the server's read models. The summary's time zone and evidence policy are " +
		"the tenant's current configuration's, as the server's as_of reports take them."
}

// Validate refuses what does not parse as a usage error (exit 2).
func (c *auditReplayCmd) Validate() error {
	if _, err := time.Parse(time.RFC3339Nano, c.AsOf); err != nil {
		return fmt.Errorf("--as-of %q: want an RFC 3339 time", c.AsOf)
	}
	if c.Format == "html" && c.Report != "summary" {
		return errors.New("--format html is for --report summary")
	}
	return nil
}

func (c *auditReplayCmd) Run(s *streams) error {
	asOf, err := time.Parse(time.RFC3339Nano, c.AsOf)
	if err != nil {
		return err
	}
	ctx, store, done, err := c.openStore()
	if err != nil {
		return err
	}
	defer done()
	past, err := projections.Replay(ctx, store, asOf)
	if err != nil {
		return err
	}
	defer past.Close()
	if c.Report == "queues" {
		return c.queues(s.out, past)
	}
	doc, loc, err := reporting.CurrentConfig(ctx, store, c.Tenant)
	if err != nil {
		return err
	}
	from, to, err := reporting.Period(c.From, c.To, asOf, loc)
	if err != nil {
		return err
	}
	summary, err := reporting.SummaryAt(ctx, store.JetStream(), past, doc, c.Tenant, from, to, asOf)
	if err != nil {
		return err
	}
	return reporting.WriteSummary(s.out, summary, c.Format)
}

// queues writes every open ticket of the tenant's queue, as GET /v1/queues pages it, in
// one page.
func (c *auditReplayCmd) queues(w io.Writer, past *projections.Projector) error {
	scope := projections.QueueScope{Tenant: c.Tenant, Group: c.Group, Agent: c.Agent}
	var all reporting.PageJSON
	for cursor := ""; ; {
		pg, err := past.Queue(scope, 500, cursor)
		if err != nil {
			return err
		}
		page := reporting.NewPageJSON(pg)
		all.Total, all.Seq, all.Tickets = page.Total, page.Seq, append(all.Tickets, page.Tickets...)
		if cursor = pg.Next; cursor == "" {
			break
		}
	}
	if all.Tickets == nil {
		all.Tickets = []reporting.ViewJSON{}
	}
	if c.Format == "csv" {
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"ticket", "priority", "state", "group", "tier", "agent", "next_due", "sla_board"})
		for _, v := range all.Tickets {
			due := ""
			if v.NextDue != nil {
				due = v.NextDue.UTC().Format(time.RFC3339)
			}
			_ = cw.Write([]string{v.Ticket.ID, string(v.Ticket.Priority), string(v.Ticket.State), v.Ticket.Group, strconv.Itoa(v.Ticket.Tier), v.Ticket.Agent, due, v.SLABoard})
		}
		cw.Flush()
		return cw.Error()
	}
	return json.NewEncoder(w).Encode(all)
}
