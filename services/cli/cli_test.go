package cli

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestEnvFillsFlagsNotGiven(t *testing.T) {
	t.Setenv("LEDGERDESK_DATA", "/from/env")
	t.Setenv("LEDGERDESK_NATS_LISTEN", "127.0.0.1:5222")
	t.Setenv("LEDGERDESK_HTTP", "127.0.0.1:9999")
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	data := fs.String("data", "./data", "")
	natsListen := fs.String("nats-listen", "127.0.0.1:4222", "")
	httpAddr := fs.String("http", "127.0.0.1:8080", "")
	if err := parse(fs, []string{"--http", "127.0.0.1:1234"}); err != nil {
		t.Fatal(err)
	}
	if *data != "/from/env" || *natsListen != "127.0.0.1:5222" {
		t.Fatalf("env not applied: data=%q nats-listen=%q", *data, *natsListen)
	}
	if *httpAddr != "127.0.0.1:1234" {
		t.Fatalf("command line must win over env: http=%q", *httpAddr)
	}
}

func TestBadEnvValueIsNamed(t *testing.T) {
	t.Setenv("LEDGERDESK_COMMIT_WORKERS", "many")
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.Int("commit-workers", 1, "")
	err := parse(fs, nil)
	if err == nil || !strings.Contains(err.Error(), "LEDGERDESK_COMMIT_WORKERS") {
		t.Fatalf("err = %v, want it to name LEDGERDESK_COMMIT_WORKERS", err)
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
