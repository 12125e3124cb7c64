package audit_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/events/audit"
)

func TestCheckpointSignAndOpen(t *testing.T) {
	dir := t.TempDir()
	key, err := audit.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, audit.SigningKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signing key file: %v %v, want mode 0600", fi.Mode(), err)
	}
	again, err := audit.LoadOrCreateKey(dir)
	if err != nil || again.VKey != key.VKey {
		t.Fatalf("a second start must load the same key: %v", err)
	}
	if !strings.HasPrefix(key.Origin(), "ledgerdesk.") || !strings.HasPrefix(key.VKey, key.Origin()+"+") {
		t.Fatalf("origin %q, vkey %q", key.Origin(), key.VKey)
	}
	root := bytes.Repeat([]byte{7}, 32)
	cp, err := key.Sign(42, root)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(cp.Note), "\n")
	if lines[0] != key.Origin() || lines[1] != "42" || lines[3] != "" || !strings.HasPrefix(lines[4], "— "+key.Origin()+" ") {
		t.Fatalf("not a C2SP tlog-checkpoint note:\n%s", cp.Note)
	}
	v, err := audit.ParseVerifierKey(key.VKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := audit.OpenCheckpoint(cp.Note, v)
	if err != nil || got.Size != 42 || !bytes.Equal(got.Root, root) || got.Origin != key.Origin() {
		t.Fatalf("open: %+v %v", got, err)
	}

	other, err := audit.LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Sign(42, root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.OpenCheckpoint(forged.Note, v); !errors.Is(err, audit.ErrSignature) {
		t.Fatalf("another key's checkpoint: %v, want ErrSignature", err)
	}
	altered := bytes.Replace(cp.Note, []byte("\n42\n"), []byte("\n43\n"), 1)
	if _, err := audit.OpenCheckpoint(altered, v); !errors.Is(err, audit.ErrSignature) {
		t.Fatalf("an altered checkpoint: %v, want ErrSignature", err)
	}
}

func TestLoadKeyRefusesAMismatchedVerifier(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if _, err := audit.LoadOrCreateKey(a); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.LoadOrCreateKey(b); err != nil {
		t.Fatal(err)
	}
	vb, _ := os.ReadFile(filepath.Join(b, audit.VerifierKeyFile))
	if err := os.WriteFile(filepath.Join(a, audit.VerifierKeyFile), vb, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.LoadKey(a); err == nil {
		t.Fatal("a verifier key of another signer was accepted")
	}
}
