package app

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAdminTokenGeneratedOnceWithMode0600(t *testing.T) {
	dir := t.TempDir()
	tok, path, err := AdminToken("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "admin.token") || len(tok) != 64 {
		t.Fatalf("token %q at %q", tok, path)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", info.Mode().Perm())
	}
	again, _, err := AdminToken("", dir)
	if err != nil || again != tok {
		t.Fatalf("second start: %q, %v; want the stored token", again, err)
	}
	configured, path, err := AdminToken("from-env", dir)
	if err != nil || configured != "from-env" || path != "" {
		t.Fatalf("configured token: %q %q %v", configured, path, err)
	}
}
