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

	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/app"
)

const natsUsage = `ledgerdesk nats: usage:
  ledgerdesk nats init --out DIR                     generate (or load) the NATS keys in DIR: seeds, one
                                                     <role>.creds per role, auth.conf for nats-server
  ledgerdesk nats provision --nats URL --creds FILE  create or update the streams (admin creds)
  ledgerdesk nats issue --dir DIR --role ROLE --name NAME [--out FILE]
                                                     issue a new user of ROLE, signed by DIR's account
                                                     key; the running server accepts it at once
`

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
		run = func() error { return natsInit(*out, stdout) }
	case "provision":
		url := fs.String("nats", nats.DefaultURL, "NATS server URL")
		creds := fs.String("creds", "", "the admin role's creds file (required)")
		run = func() error { return natsProvision(*url, *creds, stdout) }
	case "issue":
		dir := fs.String("dir", "", "credentials directory made by init (required)")
		role := fs.String("role", "", "role whose rights the user gets: "+roleNames())
		name := fs.String("name", "", "user name, e.g. the integration's (required)")
		out := fs.String("out", "", "write the creds file here (0600) instead of to stdout")
		run = func() error { return natsIssue(*dir, natsauth.Role(*role), *name, *out, stdout) }
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

func natsInit(dir string, stdout io.Writer) error {
	if dir == "" {
		return errors.New("--out is required")
	}
	k, err := natsauth.LoadOrCreate(dir)
	if err != nil {
		return err
	}
	if err := k.Write(dir); err != nil { // (re)renders auth.conf beside the loaded keys
		return err
	}
	fmt.Fprintf(stdout, "NATS credentials in %s (keep them secret; the seeds *.nk sign every user):\n", dir)
	fmt.Fprintf(stdout, "  %s  include from nats-server.conf\n", filepath.Join(dir, natsauth.ServerConfigFile))
	for _, r := range natsauth.Roles() {
		fmt.Fprintf(stdout, "  %s\n", filepath.Join(dir, natsauth.CredsFile(r)))
	}
	return nil
}

func natsProvision(url, creds string, stdout io.Writer) error {
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
	if err := app.ProvisionStreams(ctx, nc); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "streams provisioned on %s\n", url)
	return nil
}

func natsIssue(dir string, role natsauth.Role, name, out string, stdout io.Writer) error {
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
	k, err := natsauth.Load(dir)
	if err != nil {
		return err
	}
	perms, err := natsauth.RolePermissions(role)
	if err != nil {
		return err
	}
	creds, err := k.IssueUser(name, perms)
	if err != nil {
		return err
	}
	if out == "" {
		_, err = stdout.Write(creds)
		return err
	}
	return natsauth.WritePrivate(out, creds)
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
