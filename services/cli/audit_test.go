package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events/audit"
)

// TestAuditUsage: what an audit command cannot start with is named, as a usage error (2)
// when the command line is wrong, as a failure (1) when what it names cannot be read.
func TestAuditUsage(t *testing.T) {
	dir := t.TempDir()
	key, err := audit.LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"audit", "export", "--data", dir, "--tenant", "acme", "--from", "November", "--to", "2026-12-01"}, 2,
			`ledgerdesk audit export: --from "November": want a day YYYY-MM-DD or an RFC 3339 time`},
		{[]string{"audit", "sla", "--data", dir, "--tenant", "acme", "--from", "2026-12-01", "--to", "2026-11-01"}, 2,
			"ledgerdesk audit sla: --from 2026-12-01 is not before --to 2026-11-01"},
		{[]string{"audit", "replay", "--data", dir, "--tenant", "acme", "--report", "queues", "--as-of", "yesterday"}, 2,
			`ledgerdesk audit replay: --as-of "yesterday": want an RFC 3339 time`},
		{[]string{"audit", "replay", "--data", dir, "--tenant", "acme", "--report", "queues", "--as-of", "2026-12-01T00:00:00Z", "--format", "html"}, 2,
			"--format html is for --report summary"},
		{[]string{"audit", "replay", "--data", dir, "--tenant", "acme", "--report", "board", "--as-of", "2026-12-01T00:00:00Z"}, 2,
			`--report must be one of "summary","queues" but got "board"`},
		{[]string{"audit", "verify"}, 1, "ledgerdesk audit verify: --key is required"},
		{[]string{"audit", "verify", "--key", key.VKey, "--nats", "nats://127.0.0.1:1", "--data", dir}, 1, "give --nats (a live system) or --data"},
		{[]string{"audit", "verify", "--export", "x.jsonl"}, 1, "--key is required"},
		{[]string{"audit", "verify", "--data", dir}, 1, "read the checkpoint verifier key"},
		{[]string{"audit", "key"}, 1, "give --nats URL --creds auditor.creds (a live system) or --data DIR"},
		{[]string{"audit", "verify", "--key", "not-a-key+x", "--export", "x.jsonl"}, 1, "verifier key"},
	} {
		var stderr strings.Builder
		code := execute(tc.args, io.Discard, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: code %d, stderr %q; want %d and %q", tc.args[1:], code, stderr.String(), tc.code, tc.want)
		}
	}
}
