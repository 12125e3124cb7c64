package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/ledgerdesk/ledgerdesk/services/app"
)

func TestTokenCommands(t *testing.T) {
	sys, err := app.Start(context.Background(), app.RunConfig{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0",
		NATSListen: "127.0.0.1:-1", AdminToken: "cli-admin", Services: []string{}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Stop(context.Background()) })
	t.Setenv("LEDGERDESK_URL", "http://"+sys.HTTPAddr.String())
	t.Setenv("LEDGERDESK_TOKEN", "cli-admin")
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := tokenCmd(args, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, out, errOut := run("create", "--name", "bob", "--role", "agent", "--tenant", "acme", "--tenant", "globex")
	token := regexp.MustCompile(`token: (ldk_\S+)`).FindStringSubmatch(out)
	id := regexp.MustCompile(`(?m)^(\S+)\s+bob\s+agent\s+acme,globex\s`).FindStringSubmatch(out)
	if code != 0 || token == nil || id == nil || !strings.Contains(out, "admin:admin") {
		t.Fatalf("create: exit %d\n%s%s\nwant the token and the principal", code, out, errOut)
	}
	code, out, _ = run("list")
	if code != 0 || !strings.Contains(out, id[1]) || strings.Contains(out, token[1]) {
		t.Fatalf("list: exit %d\n%s\nwant bob without his token", code, out)
	}
	if code, out, _ = run("revoke", id[1]); code != 0 || !strings.Contains(out, "revoked "+id[1]) {
		t.Fatalf("revoke: exit %d %s", code, out)
	}
	code, _, errOut = run("revoke", id[1])
	if code != 1 || !strings.Contains(errOut, "Not found (HTTP 404, not-found): no active token with that id") {
		t.Fatalf("second revoke: exit %d %q, want the problem printed readably", code, errOut)
	}
	code, _, errOut = run("create", "--name", "eve", "--role", "agent", "--tenant", "acme", "--token", token[1])
	if code != 1 || !strings.Contains(errOut, "Unauthorized (HTTP 401, unauthorized)") {
		t.Fatalf("create with a revoked token: exit %d %q", code, errOut)
	}
	code, _, errOut = run("create", "--name", "eve bad", "--role", "agent", "--tenant", "acme")
	if code != 1 || !strings.Contains(errOut, "validation") || !strings.Contains(errOut, "name") {
		t.Fatalf("create with a bad name: exit %d %q", code, errOut)
	}
	if code, _, _ = run("create", "--name", "eve", "--role", "root"); code != 2 {
		t.Fatalf("unknown role: exit %d, want 2", code)
	}
}
