// Package gobin finds the binaries of independent servers that tests run
// (versitygw, pebble), which .ci/run installs with `go install`.
package gobin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Path returns the binary called name: on PATH, then where go install
// puts it ($(go env GOPATH)/bin). It returns "" when there is none.
func Path(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
		p := filepath.Join(dir, "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
