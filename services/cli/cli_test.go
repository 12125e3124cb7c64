package cli

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// command is `ledgerdesk <group> args...` as the tests of a group call it.
func command(group string) func(args []string, stdout, stderr io.Writer) int {
	return func(args []string, stdout, stderr io.Writer) int {
		return execute(append([]string{group}, args...), stdout, stderr)
	}
}

var (
	natsCmd        = command("nats")
	tokenCmd       = command("token")
	projectionsCmd = command("projections")
)

// parse parses args into the commands without running any.
func parse(t *testing.T, args ...string) (commands, error) {
	t.Helper()
	var cli commands
	parser, err := newParser(&cli, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, err = parser.Parse(args)
	return cli, err
}

func TestEnvFillsFlagsNotGiven(t *testing.T) {
	t.Setenv("LEDGERDESK_DATA", "/from/env")
	t.Setenv("LEDGERDESK_NATS_LISTEN", "127.0.0.1:5222")
	t.Setenv("LEDGERDESK_HTTP", "127.0.0.1:9999")
	cli, err := parse(t, "run", "--http", "127.0.0.1:1234")
	if err != nil {
		t.Fatal(err)
	}
	if cli.Run.Data != "/from/env" || cli.Run.NATSListen != "127.0.0.1:5222" {
		t.Fatalf("env not applied: data=%q nats-listen=%q", cli.Run.Data, cli.Run.NATSListen)
	}
	if cli.Run.HTTP != "127.0.0.1:1234" {
		t.Fatalf("command line must win over env: http=%q", cli.Run.HTTP)
	}
	if cli.Run.CommitWorkers != 1 || cli.Run.Services != "escalation,reporting,routing,sla" {
		t.Fatalf("defaults: commit-workers=%d services=%q", cli.Run.CommitWorkers, cli.Run.Services)
	}
}

func TestEmptyServicesMeansNone(t *testing.T) {
	for _, args := range [][]string{{"run", "--services", ""}, {"run", "--services="}} {
		if cli, err := parse(t, args...); err != nil || cli.Run.Services != "" {
			t.Errorf("%q: services %q, %v; want none", args, cli.Run.Services, err)
		}
	}
	t.Setenv("LEDGERDESK_TENANT", "acme,globex")
	cli, err := parse(t, "nats", "integration", "--dir", "d", "--name", "zabbix")
	if err != nil || !slices.Equal(cli.NATS.Integration.Tenant, []string{"acme", "globex"}) {
		t.Fatalf("LEDGERDESK_TENANT=acme,globex: tenants %q, %v", cli.NATS.Integration.Tenant, err)
	}
	cli, _ = parse(t, "nats", "integration", "--dir", "d", "--name", "zabbix", "--tenant", "initech")
	if !slices.Equal(cli.NATS.Integration.Tenant, []string{"initech"}) {
		t.Fatalf("--tenant initech over the env: tenants %q", cli.NATS.Integration.Tenant)
	}
}

func TestBadEnvValueIsNamed(t *testing.T) {
	t.Setenv("LEDGERDESK_COMMIT_WORKERS", "many")
	var stderr strings.Builder
	code := execute([]string{"run"}, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "LEDGERDESK_COMMIT_WORKERS") {
		t.Fatalf("code %d, err %q, want 2 and a message naming LEDGERDESK_COMMIT_WORKERS", code, stderr.String())
	}
}

// TestEveryFlagHasItsEnvVar: LEDGERDESK_ and the name in upper case with '-' as '_',
// for every flag of every command.
func TestEveryFlagHasItsEnvVar(t *testing.T) {
	var cli commands
	parser, err := newParser(&cli, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	flags := 0
	err = kong.Visit(parser.Model.Node, func(node kong.Visitable, next kong.Next) error {
		if f, ok := node.(*kong.Flag); ok && f.Name != "help" {
			flags++
			want := "LEDGERDESK_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
			if !slices.Equal(f.Envs, []string{want}) {
				t.Errorf("--%s: env %q, want %s", f.Name, f.Envs, want)
			}
		}
		return next(nil)
	})
	if err != nil || flags < 30 {
		t.Fatalf("visited %d flags: %v", flags, err)
	}
}

func TestUnknownCommand(t *testing.T) {
	var out strings.Builder
	if code := Main([]string{"explode"}, &out); code != 2 || !strings.Contains(out.String(), `unknown command "explode"`) {
		t.Fatalf("code %d, output %q", code, out.String())
	}
	if code := Main(nil, io.Discard); code != 2 {
		t.Fatalf("no command: code %d", code)
	}
}

func TestUsageErrorNamesTheProblem(t *testing.T) {
	var stderr strings.Builder
	code := execute([]string{"nats", "issue", "--role", "auditor", "--out", "x.creds"}, io.Discard, &stderr)
	if code != 2 || !strings.HasPrefix(stderr.String(), "ledgerdesk nats issue: missing flags: --dir=DIR, --name=NAME\n") {
		t.Fatalf("code %d, err %q; want 2 and the missing flags of ledgerdesk nats issue", code, stderr.String())
	}
	stderr.Reset()
	code = execute([]string{"nats", "provision", "--nats", "nats://127.0.0.1:1"}, io.Discard, &stderr)
	if code != 2 || !strings.HasPrefix(stderr.String(), "ledgerdesk nats provision: --creds is required") {
		t.Fatalf("code %d, err %q; want 2 and --creds required", code, stderr.String())
	}
	stderr.Reset()
	code = execute([]string{"serve", "billing"}, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), `ledgerdesk serve: <service> must be one of "intake","escalation","reporting","routing","sla" but got "billing"`) {
		t.Fatalf("code %d, err %q; want 2 and the services", code, stderr.String())
	}
	stderr.Reset()
	code = execute([]string{"serve", "routing", "--metrics-listen", "nonsense"}, io.Discard, &stderr)
	if code != 2 || !strings.HasPrefix(stderr.String(), `ledgerdesk serve: --metrics-listen "nonsense": address nonsense: missing port in address`) {
		t.Fatalf("code %d, err %q; want 2 and the bad address", code, stderr.String())
	}
}

func TestHelp(t *testing.T) {
	var stdout strings.Builder
	if code := execute([]string{"nats", "issue", "--help"}, &stdout, io.Discard); code != 0 {
		t.Fatalf("nats issue --help: code %d", code)
	}
	for _, want := range []string{"Usage: ledgerdesk nats issue --dir=DIR --role=ROLE --name=NAME [flags]",
		"issue a new user of --role", "--dir=DIR", "--role=ROLE", "--name=NAME", "--partitions=4", "--out=FILE",
		"($LEDGERDESK_DIR)", "role whose rights the user gets: admin, auditor,"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("nats issue --help lacks %q:\n%s", want, stdout.String())
		}
	}
	stdout.Reset()
	if code := execute([]string{"--help"}, &stdout, io.Discard); code != 0 {
		t.Fatalf("--help: code %d", code)
	}
	for _, want := range []string{"--nats-listen is LEDGERDESK_NATS_LISTEN", "Flags given on the command line win",
		"run [flags]", "serve <service> [flags]", "nats <command>", "token <command>", "completion"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, stdout.String())
		}
	}
}

// TestCompletion answers a shell as bash's `complete -C ledgerdesk ledgerdesk` asks:
// COMP_LINE holds the line up to the cursor, the arguments are the command, the word
// being completed and the word before it.
func TestCompletion(t *testing.T) {
	complete := func(line string) []string {
		t.Helper()
		t.Setenv("COMP_LINE", line)
		t.Setenv("COMP_POINT", "")
		words := strings.Fields(line)
		if strings.HasSuffix(line, " ") {
			words = append(words, "")
		}
		var stdout, stderr strings.Builder
		args := []string{"ledgerdesk", words[len(words)-1], words[len(words)-2]}
		if code := execute(args, &stdout, &stderr); code != 0 {
			t.Fatalf("complete %q: code %d: %s", line, code, stderr.String())
		}
		return strings.Fields(stdout.String())
	}
	if got := complete("ledgerdesk na"); !slices.Equal(got, []string{"nats"}) {
		t.Errorf("ledgerdesk na: %q, want nats", got)
	}
	got := complete("ledgerdesk nats ")
	slices.Sort(got)
	if want := []string{"init", "integration", "issue", "provision"}; !slices.Equal(got, want) {
		t.Errorf("ledgerdesk nats: %q, want %q", got, want)
	}
	got = complete("ledgerdesk serve ")
	slices.Sort(got)
	if want := []string{"escalation", "intake", "reporting", "routing", "sla"}; !slices.Equal(got, want) {
		t.Errorf("ledgerdesk serve: %q, want %q", got, want)
	}
	if got := complete("ledgerdesk nats issue --pa"); !slices.Equal(got, []string{"--partitions"}) {
		t.Errorf("ledgerdesk nats issue --pa: %q, want --partitions", got)
	}
}

// TestCompletionCommand: `ledgerdesk completion` prints the script that has the login
// shell ask ledgerdesk for completions.
func TestCompletionCommand(t *testing.T) {
	var stdout, stderr strings.Builder
	code := execute([]string{"completion"}, &stdout, &stderr)
	if strings.Contains(stderr.String(), "unsupported shell") || strings.Contains(stderr.String(), "couldn't determine user's shell") {
		t.Skipf("kongplete has no completion for this login shell: %s", stderr.String())
	}
	if code != 0 || !strings.Contains(stdout.String(), "complete ") || !strings.Contains(stdout.String(), "ledgerdesk") {
		t.Fatalf("code %d, stdout %q, stderr %q; want a completion script for ledgerdesk", code, stdout.String(), stderr.String())
	}
}
