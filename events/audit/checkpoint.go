package audit

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a signed checkpoint of the log's tree: the C2SP tlog-checkpoint body
// (origin, tree size, base64 root hash) in a signed note.
type Checkpoint struct {
	Origin string // the log's name: the signing key's name
	Size   uint64 // leaves, that is messages of the log from sequence 1
	Root   []byte // the tree's root hash
	Note   []byte // the signed note as published, byte for byte
}

// Key file names in a credentials directory. NB: operators back them up; never rename.
const (
	SigningKeyFile  = "checkpoint.key"  // the note signer key (0600): whoever holds it can sign checkpoints
	VerifierKeyFile = "checkpoint.vkey" // its verifier key: what a customer keeps to check checkpoints
)

// Key is the log's checkpoint signing key with its verifier.
type Key struct {
	Signer   note.Signer
	Verifier note.Verifier
	VKey     string // the verifier key in the note format, name+hash+key
}

// Origin is the log's name in its checkpoints: the key's name.
func (k *Key) Origin() string { return k.Signer.Name() }

// LoadOrCreateKey reads the checkpoint key from dir, or generates one there (the signer
// 0600, the verifier beside it): a log named ledgerdesk.<12 random hex digits>/tickets,
// unique to the deployment.
func LoadOrCreateKey(dir string) (*Key, error) {
	k, err := LoadKey(dir)
	if !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "ledgerdesk."+hex.EncodeToString(id[:])+"/tickets")
	if err != nil {
		return nil, fmt.Errorf("generate the checkpoint key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// The verifier first: a signer without its verifier would be refused at the next start.
	if err := os.WriteFile(filepath.Join(dir, VerifierKeyFile), []byte(vkey+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write the checkpoint verifier key: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, SigningKeyFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write the checkpoint key: %w", err)
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write the checkpoint key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return LoadKey(dir)
}

// LoadKey reads the checkpoint key from dir (an error wrapping os.ErrNotExist when there
// is none).
func LoadKey(dir string) (*Key, error) {
	skey, err := os.ReadFile(filepath.Join(dir, SigningKeyFile))
	if err != nil {
		return nil, fmt.Errorf("read the checkpoint key: %w", err)
	}
	signer, verifier, err := fnote.NewEd25519SignerVerifier(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, SigningKeyFile), err)
	}
	vkey, err := ReadVerifierKey(filepath.Join(dir, VerifierKeyFile))
	if err != nil {
		return nil, err
	}
	if v, err := ParseVerifierKey(vkey); err != nil || v.Name() != verifier.Name() || v.KeyHash() != verifier.KeyHash() {
		return nil, fmt.Errorf("%s is not the verifier key of %s", VerifierKeyFile, SigningKeyFile)
	}
	return &Key{Signer: signer, Verifier: verifier, VKey: vkey}, nil
}

// ReadVerifierKey reads a verifier key from a file (its first line).
func ReadVerifierKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the checkpoint verifier key: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// ParseVerifierKey parses a verifier key in the note format (name+hash+base64 key), as
// `ledgerdesk audit key` prints it.
func ParseVerifierKey(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("audit: verifier key %q: %w", vkey, err)
	}
	return v, nil
}

// Sign signs the checkpoint of the tree of size with the root.
func (k *Key) Sign(size uint64, root []byte) (Checkpoint, error) {
	body := log.Checkpoint{Origin: k.Origin(), Size: size, Hash: root}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(body)}, k.Signer)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("sign checkpoint %d: %w", size, err)
	}
	return Checkpoint{Origin: k.Origin(), Size: size, Root: root, Note: signed}, nil
}

// ErrSignature is returned (wrapped) for a checkpoint that the verifier key did not sign.
var ErrSignature = errors.New("audit: checkpoint signature does not verify")

// OpenCheckpoint parses a signed checkpoint and checks its signature with v: its origin
// must be v's name.
func OpenCheckpoint(signed []byte, v note.Verifier) (Checkpoint, error) {
	cp, _, _, err := log.ParseCheckpoint(signed, v.Name(), v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w with %s: %v", ErrSignature, v.Name(), err)
	}
	return Checkpoint{Origin: cp.Origin, Size: cp.Size, Root: cp.Hash, Note: bytes.Clone(signed)}, nil
}
