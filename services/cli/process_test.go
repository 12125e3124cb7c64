package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLogFormat: JSON for a collector, text for a person, auto by whether stderr is a
// terminal; an unknown format is refused naming the choices.
func TestLogFormat(t *testing.T) {
	for _, c := range []struct {
		format   string
		terminal bool
		want     string
	}{
		{"auto", true, "console"},
		{"auto", false, "json"},
		{"json", true, "json"},
		{"console", false, "console"},
	} {
		cfg, err := loggerConfig(c.format, c.terminal)
		if err != nil || cfg.Encoding != c.want {
			t.Errorf("--log-format %s on a terminal %v: %q (%v), want %s", c.format, c.terminal, cfg.Encoding, err, c.want)
		}
	}
	if _, err := loggerConfig("xml", false); err == nil || !strings.Contains(err.Error(), "one of auto, json, console") {
		t.Errorf("--log-format xml: %v", err)
	}
}

// TestServeStopsWithinItsShutdownTimeout: a service whose NATS server is gone cannot
// finish what it has in hand; SIGTERM still ends it within --shutdown-timeout (and a
// moment for the log line), leaving the rest to be delivered again.
func TestServeStopsWithinItsShutdownTimeout(t *testing.T) {
	d := deployment(t)
	routing := startServe(t, "routing", "--nats", d.srv.ClientURL(), "--creds", filepath.Join(d.creds, "routing.creds"),
		"--metrics-listen", "127.0.0.1:0", "--shutdown-timeout", "2s")
	d.srv.Shutdown()
	d.srv.WaitForShutdown()
	start := time.Now()
	routing.stop()
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("serve routing took %s to stop after SIGTERM, want within its 2s --shutdown-timeout", took.Round(time.Millisecond))
	}
}
