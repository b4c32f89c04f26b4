package srs

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadSecrets reads the secrets in the file at path, one a line, the one
// that makes hashes first; blank lines and lines starting with '#' are
// skipped. A missing file is made with one new random secret: every node
// of a cluster must then be given the same file, or a bounce reaching
// another node's MX is refused as forged. To rotate, put a new secret on
// the first line and keep the old one below it for DefaultMaxAge.
func LoadSecrets(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b, err = create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("srs: secret: %w", err)
	}
	var secrets [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		secrets = append(secrets, bytes.Clone(line))
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("srs: secret file %s holds no secret; remove it to have one made, or write one on a line", path)
	}
	return secrets, nil
}

// create writes a new secret file at path, unless another process just
// did, and returns its content.
func create(path string) ([]byte, error) {
	var key [24]byte
	rand.Read(key[:])
	content := []byte(base64.RawURLEncoding.EncodeToString(key[:]) + "\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	_, err = f.Write(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return content, nil
}
