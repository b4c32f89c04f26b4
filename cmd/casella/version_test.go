package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := run(t, "", nil, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "casella ") || !strings.Contains(r.stdout, "commit ") || !strings.Contains(r.stdout, "go1") {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	// The Makefile stamps version and commit.
	stamped := filepath.Join(t.TempDir(), "casella")
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v1.2.3 -X main.commit=0123abcd", "-o", stamped, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err = exec.Command(stamped, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "casella v1.2.3 (commit 0123abcd") {
		t.Fatalf("stamped --version: %q, %v", out, err)
	}
}
