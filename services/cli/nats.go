package cli

import (
	"context"
	"errors"
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

// natsGroup is `ledgerdesk nats`: the NATS trust of an external deployment.
type natsGroup struct {
	Init        natsInitCmd        `cmd:"" help:"generate (or load) the NATS keys in --out: seeds, one <role>.creds per role for a ticket log of --partitions partitions, auth.conf for nats-server"`
	Provision   natsProvisionCmd   `cmd:"" help:"create or update the streams (admin creds); --partitions counts for a new log only"`
	Issue       natsIssueCmd       `cmd:"" help:"issue a new user of --role, signed by the account key in --dir; the running server accepts it at once"`
	Integration natsIntegrationCmd `cmd:"" help:"issue an integration's user: it may publish to inbox.<tenant>.<name> and read outcomes.<tenant>.<name>.> (--tenant '*': every tenant); prints its .creds"`
}

func (natsGroup) Help() string {
	return "The role creds hold rights on every partition's durable consumers: issue them for the log's partition count " +
		"(nats provision prints it; it never changes for a log)."
}

// natsConn is the flags of a command that connects to a NATS server. The command
// embedding it sets (kong's set tag) nats_default, the default of --nats, and nats_help
// and creds_help, the help of --nats and --creds, which name the role it connects as.
type natsConn struct {
	URL   string `name:"nats" default:"${nats_default}" help:"${nats_help}"`
	Creds string `placeholder:"FILE" predictor:"file" help:"${creds_help}"`
}

// logPartitions is --partitions where a command may create the ticket log.
type logPartitions struct {
	Partitions int `default:"0" help:"${partitions_help}"`
}

// rolePartitions is --partitions where a command issues role creds.
type rolePartitions struct {
	Partitions int `default:"${default_partitions}" help:"${role_partitions_help}"`
}

// credsIssuer is the flags of a command that issues a user: the account key's directory
// and where the creds file goes.
type credsIssuer struct {
	Dir string `required:"" placeholder:"DIR" predictor:"dir" help:"credentials directory made by nats init, or <data>/credentials of ledgerdesk run"`
	Out string `placeholder:"FILE" predictor:"file" help:"write the creds file here (0600) instead of to stdout"`
}

type natsInitCmd struct {
	Out            string `required:"" placeholder:"DIR" predictor:"dir" help:"credentials directory to create or complete (0700)"`
	rolePartitions `embed:""`
}

func (c *natsInitCmd) Run(s *streams) error { return natsInit(c.Out, c.Partitions, s.out) }

type natsProvisionCmd struct {
	natsConn      `embed:"" set:"nats_default=${nats_url}" set:"nats_help=NATS server URL" set:"creds_help=the admin role's creds file, admin.creds (required)"`
	logPartitions `embed:""`
	Replicas      int `default:"0" help:"servers that keep each stream and bucket: 0 keeps an existing log's, else 3 on a cluster and 1 on a single server; an existing stream is scaled up to it, never down"`
}

// Validate makes --creds, optional where natsConn is embedded elsewhere, required.
func (c *natsProvisionCmd) Validate() error {
	if c.Creds == "" {
		return errors.New("--creds is required (the admin role's creds file)")
	}
	return nil
}

func (c *natsProvisionCmd) Run(s *streams) error {
	return natsProvision(c.URL, c.Creds, app.ProvisionConfig{Partitions: c.Partitions, Replicas: c.Replicas}, s.out)
}

type natsIssueCmd struct {
	credsIssuer    `embed:""`
	Role           string `required:"" placeholder:"ROLE" help:"role whose rights the user gets: ${nats_roles}"`
	Name           string `required:"" placeholder:"NAME" help:"user name, e.g. the integration's"`
	rolePartitions `embed:""`
}

func (c *natsIssueCmd) Run(s *streams) error {
	return natsIssue(c.Dir, natsauth.Role(c.Role), c.Name, c.Partitions, c.Out, s.out)
}

type natsIntegrationCmd struct {
	credsIssuer `embed:""`
	Name        string   `required:"" placeholder:"NAME" help:"the integration's name: its inbox subject token and actor integration:<name>"`
	Tenant      []string `required:"" help:"a tenant it may publish for (repeat, or comma-separated; '*' for all)"`
}

func (c *natsIntegrationCmd) Run(s *streams) error {
	return natsIntegration(c.Dir, c.Name, c.Tenant, c.Out, s.out, s.err)
}

// partitionsUsage is the --partitions flag's usage wherever it creates a log.
var partitionsUsage = fmt.Sprintf("partitions of a new ticket log, fixed for good (at least the most replicas of one service, "+
	"times a few; 1 to %d; 0: the log's own, or %d for a new one)", events.MaxPartitions, events.DefaultPartitions)

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

func natsProvision(url, creds string, cfg app.ProvisionConfig, stdout io.Writer) error {
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
	p, err := app.Provision(ctx, nc, cfg)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: JetStream did not answer (a cluster answers once it has elected its meta leader, a few seconds after its nodes start: try again)", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "streams provisioned on %s (replicas: %d); the ticket log has %d partitions: the role creds must be issued for them "+
		"(ledgerdesk nats init --out DIR --partitions %d)\n", url, p.Replicas, p.Partitions, p.Partitions)
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
