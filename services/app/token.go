package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// adminTokenFile is the name of the generated admin token under the data directory.
const adminTokenFile = "admin.token"

// AdminToken returns the configured token, else the one stored in <dataDir>/admin.token,
// else a new random token written there with mode 0600. path is the file used, "" when
// the token was configured.
func AdminToken(configured, dataDir string) (token, path string, err error) {
	if configured != "" {
		return configured, "", nil
	}
	path = filepath.Join(dataDir, adminTokenFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, path, nil
		}
		return "", path, fmt.Errorf("admin token file %s is empty", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", path, fmt.Errorf("read admin token: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", path, fmt.Errorf("generate admin token: %w", err)
	}
	token = hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", path, fmt.Errorf("write admin token: %w", err)
	}
	return token, path, nil
}
