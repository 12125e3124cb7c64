package natsauth_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/eventstest"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
)

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "credentials")
	first, err := natsauth.LoadOrCreate(dir, events.DefaultPartitions)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir: %v, %v; want mode 0700", fi.Mode().Perm(), err)
	}
	files := []string{natsauth.OperatorSeedFile, natsauth.SystemSeedFile, natsauth.AccountSeedFile, natsauth.ServerConfigFile}
	for _, r := range natsauth.Roles() {
		files = append(files, natsauth.CredsFile(r))
	}
	for _, f := range files {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v; want mode 0600", f, err)
		}
	}
	second, err := natsauth.LoadOrCreate(dir, events.DefaultPartitions)
	if err != nil {
		t.Fatal(err)
	}
	if first.AccountPublicKey() != second.AccountPublicKey() {
		t.Fatalf("reload made a new account key")
	}
	a, _ := first.Creds(natsauth.RoleAuditor)
	b, _ := second.Creds(natsauth.RoleAuditor)
	if string(a) != string(b) {
		t.Fatal("reload issued a new auditor user; want the one in auditor.creds")
	}

	// A user whose rights are not the table's (an older table's, or edited) is replaced.
	wide, err := first.IssueUser(string(natsauth.RoleAuditor), natsauth.Permissions{PublishAllow: []string{">"}, SubscribeAllow: []string{">"}})
	if err != nil {
		t.Fatal(err)
	}
	auditorFile := filepath.Join(dir, natsauth.CredsFile(natsauth.RoleAuditor))
	if err := os.WriteFile(auditorFile, wide, 0o600); err != nil {
		t.Fatal(err)
	}
	third, err := natsauth.LoadOrCreate(dir, events.DefaultPartitions)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(auditorFile)
	if c, _ := third.Creds(natsauth.RoleAuditor); string(got) == string(wide) || string(c) != string(got) {
		t.Fatal("auditor.creds with rights beyond the table's was kept")
	}

	// A role whose creds file is gone gets a new user.
	if err := os.Remove(filepath.Join(dir, natsauth.CredsFile(natsauth.RoleSLA))); err != nil {
		t.Fatal(err)
	}
	if _, err := natsauth.LoadOrCreate(dir, events.DefaultPartitions); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, natsauth.CredsFile(natsauth.RoleSLA))); err != nil {
		t.Fatal(err)
	}

	// Creds issued for another partition count are issued anew; a role whose rights do
	// not depend on it keeps its user.
	routingFile, intakeFile := filepath.Join(dir, natsauth.CredsFile(natsauth.RoleRouting)), filepath.Join(dir, natsauth.CredsFile(natsauth.RoleIntake))
	routing16, _ := os.ReadFile(routingFile)
	intake16, _ := os.ReadFile(intakeFile)
	k32, err := natsauth.LoadOrCreate(dir, 32)
	if err != nil {
		t.Fatal(err)
	}
	routing32, _ := os.ReadFile(routingFile)
	intake32, _ := os.ReadFile(intakeFile)
	if string(routing32) == string(routing16) || natsauth.CheckRoleCreds(natsauth.RoleRouting, routing32, 32) != nil || k32.Partitions() != 32 {
		t.Fatal("routing.creds of 16 partitions kept for a log of 32")
	}
	if string(intake32) != string(intake16) {
		t.Fatal("intake.creds issued anew, though intake's rights do not depend on the partition count")
	}
}

// TestTrustBeforeRoles: the trust and admin's creds come before the log's partition
// count is known; IssueRoles then issues the rest for it; CheckRoleCreds names creds of
// another partition count.
func TestTrustBeforeRoles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "credentials")
	k, err := natsauth.LoadOrCreateTrust(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{natsauth.CredsFile(natsauth.RoleAdmin), natsauth.AccountSeedFile, natsauth.ServerConfigFile, natsauth.OperatorSeedFile, natsauth.SystemSeedFile}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("trust files %v, want %v", names, want)
	}
	if _, err := k.Connect(natsauth.RoleAdmin); err != nil {
		t.Fatalf("admin before the partition count: %v", err)
	}
	if _, err := k.Connect(natsauth.RoleRouting); err == nil || !strings.Contains(err.Error(), "IssueRoles") {
		t.Fatalf("routing before the partition count: %v", err)
	}
	conf, err := os.ReadFile(filepath.Join(dir, natsauth.ServerConfigFile))
	if err != nil || !strings.Contains(string(conf), fmt.Sprintf("max_control_line: %d", natsauth.MaxControlLine)) {
		t.Fatalf("auth.conf without max_control_line: %v\n%s", err, conf)
	}
	if err := k.IssueRoles(dir, 0); err == nil {
		t.Fatal("creds issued for 0 partitions")
	}
	if err := k.IssueRoles(dir, 16); err != nil {
		t.Fatal(err)
	}
	c, err := k.Creds(natsauth.RoleRouting)
	if err != nil {
		t.Fatal(err)
	}
	if err := natsauth.CheckRoleCreds(natsauth.RoleRouting, c, 16); err != nil {
		t.Fatalf("routing's creds for its log: %v", err)
	}
	err = natsauth.CheckRoleCreds(natsauth.RoleRouting, c, 32)
	if !errors.Is(err, natsauth.ErrStaleCreds) || !strings.Contains(err.Error(), "on a log of 32 partitions (it was issued for 16 partitions") {
		t.Fatalf("routing's creds of 16 partitions on a log of 32: %v", err)
	}
	if err := natsauth.CheckRoleCreds(natsauth.RoleSLA, c, 16); !errors.Is(err, natsauth.ErrStaleCreds) {
		t.Fatalf("routing's creds as sla's: %v", err)
	}
}

func TestLoadOrCreateRefuses(t *testing.T) {
	setup := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "credentials")
		if _, err := natsauth.LoadOrCreate(dir, events.DefaultPartitions); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	other, err := natsauth.Generate(events.DefaultPartitions)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.Creds(natsauth.RoleAuditor)
	for _, tc := range []struct {
		name   string
		break_ func(dir string) error
		want   error
	}{
		{"a missing seed", func(dir string) error { return os.Remove(filepath.Join(dir, natsauth.AccountSeedFile)) }, natsauth.ErrIncomplete},
		{"a world-readable seed", func(dir string) error { return os.Chmod(filepath.Join(dir, natsauth.OperatorSeedFile), 0o644) }, natsauth.ErrInsecure},
		{"a group-readable dir", func(dir string) error { return os.Chmod(dir, 0o750) }, natsauth.ErrInsecure},
		{"an account seed where the operator's belongs", func(dir string) error {
			b, err := os.ReadFile(filepath.Join(dir, natsauth.AccountSeedFile))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, natsauth.OperatorSeedFile), b, 0o600)
		}, natsauth.ErrBadCreds},
		{"creds of another account", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, natsauth.CredsFile(natsauth.RoleAuditor)), foreign, 0o600)
		}, natsauth.ErrBadCreds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := setup(t)
			if err := tc.break_(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := natsauth.LoadOrCreate(dir, events.DefaultPartitions); !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got %v", tc.want, err)
			}
		})
	}
}

// TestExternalServerConfig starts a real nats-server from a config file that includes
// the rendered auth snippet, as deploy/ does, and uses a role's creds file on it.
func TestExternalServerConfig(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "credentials")
	k, err := natsauth.Generate(events.DefaultPartitions)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Write(dir); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(root, "nats.conf") // include is relative to the including file
	body := "host: 127.0.0.1\nport: -1\njetstream {\n  store_dir: " + t.TempDir() + "\n  sync_interval: always\n}\ninclude credentials/" +
		natsauth.ServerConfigFile + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := eventstest.RunConfigFile(t, conf, nil)
	if nc, err := nats.Connect(s.ClientURL()); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("anonymous connect: want %v, got %v", nats.ErrAuthorization, err)
	}
	connect := func(role natsauth.Role, opts ...nats.Option) jetstream.JetStream {
		nc, err := nats.Connect(s.ClientURL(), append(opts, nats.UserCredentials(filepath.Join(dir, natsauth.CredsFile(role))))...)
		if err != nil {
			t.Fatalf("connect as %s with %s: %v", role, natsauth.CredsFile(role), err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := connect(natsauth.RoleAdmin).CreateStream(ctx, jetstream.StreamConfig{Name: natsauth.StreamTickets,
		Subjects: []string{natsauth.SubjectTickets}, AllowDirect: true}); err != nil {
		t.Fatalf("admin creates the ticket stream: %v", err)
	}
	refused := make(chan error, 1)
	auditor := connect(natsauth.RoleAuditor, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case refused <- err:
		default:
		}
	}))
	if _, err := auditor.Stream(ctx, natsauth.StreamTickets); err != nil { // a JWT beyond the default max_control_line
		t.Fatalf("auditor reads the stream info: %v", err)
	}
	go func() { _ = auditor.DeleteStream(ctx, natsauth.StreamTickets) }()
	select {
	case err := <-refused:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("auditor deletes the stream: want a permissions violation, got %v", err)
		}
	case <-ctx.Done():
		t.Fatal("auditor deletes the stream: not refused")
	}
}
