package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"

	"github.com/ledgerdesk/ledgerdesk/events"
	"github.com/ledgerdesk/ledgerdesk/events/audit"
	"github.com/ledgerdesk/ledgerdesk/events/embedded"
	"github.com/ledgerdesk/ledgerdesk/events/natsauth"
	"github.com/ledgerdesk/ledgerdesk/services/inbox"
)

// jetStreamDir is the embedded server's directory under a data directory (nats-server's
// own name: StoreDir/jetstream).
const jetStreamDir = "jetstream"

// auditedStreams are the streams a copy of a data directory holds (OpenDataCopy): the log
// streams, the checkpoints and the evidence. Not SLA_TIMERS: its message schedules would
// fire in the copy, for nothing.
var auditedStreams = []string{events.StreamName, events.ConfigStreamName, events.AccessStreamName, audit.StreamName, inbox.EvidenceStream}

// OpenDataCopy opens a copy of a data directory's log for reading: it copies the JetStream
// files of dir's audited streams into a temporary directory, starts the embedded server
// there with dir's NATS keys (its account owns the streams) and connects in-process as
// the auditor, whose creds are issued in memory. Nothing under dir is written, and the
// server listens on loopback only. close stops it and removes the copy.
func OpenDataCopy(dir string) (nc *nats.Conn, close func(), err error) {
	src := filepath.Join(dir, jetStreamDir)
	if _, err := os.Stat(src); err != nil {
		return nil, nil, fmt.Errorf("--data %s: no JetStream files (%s): %w", dir, src, err)
	}
	keys, err := natsauth.LoadTrust(filepath.Join(dir, CredentialsDir))
	if err != nil {
		return nil, nil, fmt.Errorf("--data %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp("", "ledgerdesk-audit-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { _ = os.RemoveAll(tmp) }
	// The server rewrites its indexes as it opens a store: it must never open the original.
	for _, name := range auditedStreams {
		dirs, err := filepath.Glob(filepath.Join(src, "*", "streams", name))
		for _, d := range dirs {
			rel, _ := filepath.Rel(src, d)
			if err == nil {
				err = os.CopyFS(filepath.Join(tmp, jetStreamDir, rel), os.DirFS(d))
			}
		}
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("copy %s of %s: %w", name, src, err)
		}
	}
	srv, err := embedded.Start(embedded.Config{StoreDir: tmp, Auth: keys})
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("open the copy of %s: %w", dir, err)
	}
	stop := func() { srv.Shutdown(); srv.WaitForShutdown(); cleanup() }
	// The auditor reads only; its rights name no durable of its own, so the partition
	// count they are issued for denies others' durables by name (of a copy) and no more.
	perms, err := natsauth.RolePermissions(natsauth.RoleAuditor, events.MaxPartitions)
	var creds []byte
	if err == nil {
		creds, err = keys.IssueUser(string(natsauth.RoleAuditor), perms)
	}
	var opts []nats.Option
	if err == nil {
		opts, err = natsauth.ConnectOptions(natsauth.RoleAuditor, creds)
	}
	if err == nil {
		nc, err = nats.Connect("", append(opts, nats.InProcessServer(srv), nats.Name("ledgerdesk-audit"))...)
	}
	if err != nil {
		stop()
		return nil, nil, errors.Join(fmt.Errorf("connect to the copy of %s as the auditor", dir), err)
	}
	return nc, func() { nc.Close(); stop() }, nil
}
