package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/app"
)

var natsUsage = fmt.Sprintf(`ledgerdesk nats: usage:
  ledgerdesk nats init --out DIR [--partitions N]    generate (or load) the NATS keys in DIR: seeds, one
                                                     <role>.creds per role for a ticket log of N
                                                     partitions (default %[1]d), auth.conf for nats-server
  ledgerdesk nats provision --nats URL --creds FILE [--partitions N]
                                                     create or update the streams (admin creds); N
                                                     counts for a new log only (default %[1]d)
  ledgerdesk nats issue --dir DIR --role ROLE --name NAME [--partitions N] [--out FILE]
                                                     issue a new user of ROLE, signed by DIR's account
                                                     key; the running server accepts it at once
  ledgerdesk nats integration --dir DIR --name NAME --tenant T [--tenant T2 ...] [--out FILE]
                                                     issue an integration's user: it may publish to
                                                     inbox.<T>.<NAME> and read outcomes.<T>.<NAME>.>
                                                     (--tenant '*': every tenant); prints its .creds
The role creds hold rights on every partition's durable consumers: issue them for the
log's partition count (nats provision prints it; it never changes for a log).
`, events.DefaultPartitions)

// partitionsUsage is the --partitions flag's usage wherever it creates a log.
var partitionsUsage = fmt.Sprintf("partitions of a new ticket log, fixed for good (at least the most replicas of one service, "+
	"times a few; 1 to %d; 0: the log's own, or %d for a new one)", events.MaxPartitions, events.DefaultPartitions)

// natsCmd runs `ledgerdesk nats ...`: the NATS trust of an external deployment.
func natsCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, natsUsage)
		return 2
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("nats "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var run func() error
	switch cmd {
	case "init":
		out := fs.String("out", "", "credentials directory to create or complete (required; 0700)")
		partitions := fs.Int("partitions", events.DefaultPartitions, rolePartitionsUsage)
		run = func() error { return natsInit(*out, *partitions, stdout) }
	case "provision":
		url := fs.String("nats", nats.DefaultURL, "NATS server URL")
		creds := fs.String("creds", "", "the admin role's creds file (required)")
		partitions := fs.Int("partitions", 0, partitionsUsage)
		run = func() error { return natsProvision(*url, *creds, *partitions, stdout) }
	case "issue":
		dir := fs.String("dir", "", "credentials directory made by init (required)")
		role := fs.String("role", "", "role whose rights the user gets: "+roleNames())
		name := fs.String("name", "", "user name, e.g. the integration's (required)")
		partitions := fs.Int("partitions", events.DefaultPartitions, rolePartitionsUsage)
		out := fs.String("out", "", "write the creds file here (0600) instead of to stdout")
		run = func() error { return natsIssue(*dir, natsauth.Role(*role), *name, *partitions, *out, stdout) }
	case "integration":
		dir := fs.String("dir", "", "credentials directory made by init, or <data>/credentials of ledgerdesk run (required)")
		name := fs.String("name", "", "the integration's name: its inbox subject token and actor integration:<name> (required)")
		var tenants stringList
		fs.Var(&tenants, "tenant", "a tenant it may publish for (repeat, or comma-separated; '*' for all)")
		out := fs.String("out", "", "write the creds file here (0600) instead of to stdout")
		run = func() error { return natsIntegration(*dir, *name, tenants, *out, stdout, stderr) }
	default:
		fmt.Fprint(stderr, natsUsage)
		return 2
	}
	if err := parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "ledgerdesk nats %s: %v\n", cmd, err)
		return 2
	}
	if err := run(); err != nil {
		fmt.Fprintf(stderr, "ledgerdesk nats %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func roleNames() string {
	var names []string
	for _, r := range natsauth.Roles() {
		names = append(names, string(r))
	}
	return strings.Join(names, ", ")
}

// rolePartitionsUsage is the --partitions flag's usage where creds are issued.
const rolePartitionsUsage = "the ticket log's partition count, which the role's rights name every durable consumer of (see nats provision)"

func natsInit(dir string, partitions int, stdout io.Writer) error {
	if dir == "" {
		return errors.New("--out is required")
	}
	k, err := natsauth.LoadOrCreate(dir, partitions) // creds of another partition count are issued anew
	if err != nil {
		return err
	}
	if err := k.Write(dir); err != nil { // (re)renders auth.conf beside the loaded keys
		return err
	}
	fmt.Fprintf(stdout, "NATS credentials in %s for a ticket log of %d partitions (keep them secret; the seeds *.nk sign every user):\n", dir, partitions)
	fmt.Fprintf(stdout, "  %s  include from nats-server.conf\n", filepath.Join(dir, natsauth.ServerConfigFile))
	for _, r := range natsauth.Roles() {
		fmt.Fprintf(stdout, "  %s\n", filepath.Join(dir, natsauth.CredsFile(r)))
	}
	return nil
}

func natsProvision(url, creds string, partitions int, stdout io.Writer) error {
	if creds == "" {
		return errors.New("--creds is required (the admin role's creds file)")
	}
	nc, err := connectNATS(url, creds, natsauth.RoleAdmin, nats.Name("ledgerdesk-provision"))
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := app.Provision(ctx, nc, partitions)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "streams provisioned on %s; the ticket log has %d partitions: the role creds must be issued for them "+
		"(ledgerdesk nats init --out DIR --partitions %d)\n", url, n, n)
	return nil
}

func natsIssue(dir string, role natsauth.Role, name string, partitions int, out string, stdout io.Writer) error {
	var errs []error
	if dir == "" {
		errs = append(errs, errors.New("--dir is required"))
	}
	if !role.Valid() {
		errs = append(errs, fmt.Errorf("--role %q: one of %s", role, roleNames()))
	}
	if name == "" {
		errs = append(errs, errors.New("--name is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	k, err := natsauth.LoadTrust(dir)
	if err != nil {
		return err
	}
	perms, err := natsauth.RolePermissions(role, partitions)
	if err != nil {
		return err
	}
	creds, err := k.IssueUser(name, perms)
	if err != nil {
		return err
	}
	return writeCreds(out, creds, stdout)
}

// writeCreds writes a creds file to out (0600), or to stdout when out is "".
func writeCreds(out string, creds []byte, stdout io.Writer) error {
	if out == "" {
		_, err := stdout.Write(creds)
		return err
	}
	return natsauth.WritePrivate(out, creds)
}

func natsIntegration(dir, name string, tenants []string, out string, stdout, stderr io.Writer) error {
	if dir == "" {
		return errors.New("--dir is required")
	}
	k, err := natsauth.LoadTrust(dir)
	if err != nil {
		return err
	}
	creds, err := k.IssueIntegration(name, tenants)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "integration %s may publish to %s; its client needs the inbox prefix %s "+
		"(nats --inbox-prefix %[3]s) for the inbox's acks\n", name, strings.Join(integrationSubjects(name, tenants), ", "),
		natsauth.IntegrationInboxPrefix(name))
	return writeCreds(out, creds, stdout)
}

func integrationSubjects(name string, tenants []string) []string {
	out := make([]string, len(tenants))
	for i, t := range tenants {
		out[i] = "inbox." + t + "." + name
	}
	return out
}

// connectNATS connects to url as role with the creds file (none when empty) and the
// role's inbox prefix, with a clear error when the server wants credentials.
func connectNATS(url, creds string, role natsauth.Role, opts ...nats.Option) (*nats.Conn, error) {
	if creds != "" {
		b, err := os.ReadFile(creds)
		if err != nil {
			return nil, fmt.Errorf("--creds: %w", err)
		}
		if got, err := natsauth.CredsUser(b); err != nil {
			return nil, fmt.Errorf("--creds %s: %w", creds, err)
		} else if got != string(role) {
			return nil, fmt.Errorf("--creds %s: holds user %q, want the %s role's creds (%s)", creds, got, role, natsauth.CredsFile(role))
		}
		opts = append(opts, nats.UserCredentials(creds))
		if p := natsauth.InboxPrefix(role); p != "" {
			opts = append(opts, nats.CustomInboxPrefix(p))
		}
	}
	nc, err := nats.Connect(url, opts...)
	if errors.Is(err, nats.ErrAuthorization) && creds == "" {
		return nil, fmt.Errorf("connect to %s: the server requires credentials: give --creds with the %s role's creds file, %s "+
			"(ledgerdesk run writes them to <data>/credentials/, ledgerdesk nats init --out DIR for an external server): %w",
			url, role, natsauth.CredsFile(role), err)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s as %s: %w", url, role, err)
	}
	return nc, nil
}
