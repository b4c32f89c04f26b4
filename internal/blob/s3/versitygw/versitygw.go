// Package versitygw finds the binary of the versitygw S3 server, which the
// S3 tests and the local cluster run as their object store.
package versitygw

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Path returns the versitygw binary: on PATH, then where go install puts
// it. It returns "" when there is none.
func Path() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
		p := filepath.Join(dir, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
