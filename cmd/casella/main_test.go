package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"casella/internal/directory"
	"casella/internal/directory/sqlitedir"
	"casella/internal/server"
)

// binary is the casella binary the tests run, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "casella-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "casella")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		os.RemoveAll(dir)
		panic("building casella: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what a run of the binary produced.
type result struct {
	stdout, stderr string
	code           int
}

// run runs casella with args and stdin, without CASELLA_DATA in its
// environment unless env sets it.
func run(t *testing.T, stdin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "CASELLA_DATA=")
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		r.code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("running casella %v: %v", args, err)
	}
	return r
}

// admin runs a command on data directory dir.
type admin struct {
	t   *testing.T
	dir string
}

func (a admin) run(stdin string, args ...string) result {
	a.t.Helper()
	return run(a.t, stdin, nil, append(args, "--data", a.dir)...)
}

// ok runs a command that must succeed and returns its standard output.
func (a admin) ok(args ...string) string {
	a.t.Helper()
	r := a.run("", args...)
	if r.code != 0 {
		a.t.Fatalf("casella %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// fail runs a command that must exit with code and an error on standard
// error that contains every part.
func (a admin) fail(code int, args []string, parts ...string) {
	a.t.Helper()
	r := a.run("", args...)
	checkFail(a.t, r, code, args, parts...)
}

func checkFail(t *testing.T, r result, code int, args []string, parts ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("casella %s: exit %d, want %d; stderr %q", strings.Join(args, " "), r.code, code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "casella: ") {
		t.Errorf("casella %s: stderr %q does not end with a line \"casella: ...\"", strings.Join(args, " "), r.stderr)
	}
	for _, p := range parts {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("casella %s: stderr %q does not contain %q", strings.Join(args, " "), r.stderr, p)
		}
	}
}

// authenticate checks a login against the directory in dir directly.
func authenticate(t *testing.T, dir, addr, pw string) error {
	t.Helper()
	d, err := sqlitedir.Open(filepath.Join(dir, server.DirectoryFile))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.Authenticate(context.Background(), addr, pw)
	return err
}

func TestHelp(t *testing.T) {
	r := run(t, "", nil)
	if r.code != 2 || !strings.Contains(r.stderr, "account add") {
		t.Fatalf("no arguments: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, args := range [][]string{{"--help"}, {"help"}} {
		r = run(t, "", nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "domain catchall") || !strings.Contains(r.stdout, "alias remove") {
			t.Fatalf("%v: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
	for _, args := range [][]string{{"help", "account", "add"}, {"account", "add", "--help"}, {"account", "add", "-h"}} {
		r = run(t, "", nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: casella account add") ||
			!strings.Contains(r.stdout, "-password-stdin") || !strings.Contains(r.stdout, "Examples:") {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	for _, name := range []string{"domain add", "domain list", "domain remove", "domain catchall", "account list",
		"account show", "account passwd", "account quota", "account remove", "alias add", "alias list", "alias remove"} {
		r = run(t, "", nil, append(strings.Fields(name), "--help")...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: casella "+name) || !strings.Contains(r.stdout, "-data") {
			t.Errorf("%s --help: exit %d, stdout %q", name, r.code, r.stdout)
		}
	}
	for _, group := range []string{"domain", "account", "alias", "queue", "fault", "bench"} {
		r = run(t, "", nil, group, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Commands of \""+group+"\"") || !strings.Contains(r.stdout, group+" ") {
			t.Errorf("%s --help: exit %d, stdout %q", group, r.code, r.stdout)
		}
	}
	checkFail(t, run(t, "", nil, "frobnicate"), 2, []string{"frobnicate"}, "unknown command")
	checkFail(t, run(t, "", nil, "domain"), 2, []string{"domain"}, "needs a subcommand")
	checkFail(t, run(t, "", nil, "domain", "frob"), 2, []string{"domain", "frob"}, "unknown command \"domain frob\"")
	checkFail(t, run(t, "", nil, "domain", "add"), 2, []string{"domain", "add"}, "wrong number of arguments")
	checkFail(t, run(t, "", nil, "domain", "add", "--bogus", "x"), 2, []string{"domain", "add", "--bogus"}, "-bogus")
}

func TestAdmin(t *testing.T) {
	a := admin{t, filepath.Join(t.TempDir(), "data")}
	if out := a.ok("domain", "add", "Example.COM"); !strings.Contains(out, "added domain example.com") {
		t.Fatalf("domain add: %q", out)
	}
	a.ok("domain", "add", "other.example")

	r := a.run("s3cret pass\n", "account", "add", "--password-stdin", "--quota", "1GiB", "Alice@example.com")
	if r.code != 0 || !strings.Contains(r.stdout, "added account alice@example.com") || strings.Contains(r.stdout, "password:") {
		t.Fatalf("account add --password-stdin: %+v", r)
	}
	if err := authenticate(t, a.dir, "alice@example.com", "s3cret pass"); err != nil {
		t.Fatalf("login with the password from stdin: %v", err)
	}
	out := a.ok("account", "add", "bob@example.com")
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("account add without a password printed none: %q", out)
	}
	if err := authenticate(t, a.dir, "bob@example.com", m[1]); err != nil {
		t.Fatalf("login with the generated password: %v", err)
	}
	a.ok("account", "add", "--password", "x", "carol@other.example")
	a.fail(1, []string{"account", "add", "--password", "x", "ALICE@example.com"}, "already exists", "choose another")

	out = a.ok("account", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ADDRESS") || !strings.HasPrefix(lines[1], "alice@example.com") ||
		!strings.Contains(lines[1], "1GiB") || !strings.Contains(lines[2], "unlimited") {
		t.Fatalf("account list:\n%s", out)
	}
	// Columns are aligned: ID starts at the same offset on every line.
	col := strings.Index(lines[0], "ID")
	for _, l := range lines[1:] {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Fatalf("account list not aligned:\n%s", out)
		}
	}
	if out := a.ok("account", "list", "other.example"); strings.Contains(out, "alice") || !strings.Contains(out, "carol@other.example") {
		t.Fatalf("account list other.example:\n%s", out)
	}

	out = a.ok("account", "show", "alice@EXAMPLE.com")
	for _, want := range []string{"alice@example.com", "quota:", "1GiB", "usage:", "0 messages", "INBOX", "Sent", "Trash"} {
		if !strings.Contains(out, want) {
			t.Errorf("account show lacks %q:\n%s", want, out)
		}
	}

	r = a.run("new pass\n", "account", "passwd", "--password-stdin", "alice@example.com")
	if r.code != 0 {
		t.Fatalf("account passwd: %+v", r)
	}
	if err := authenticate(t, a.dir, "alice@example.com", "new pass"); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	if err := authenticate(t, a.dir, "alice@example.com", "s3cret pass"); !errors.Is(err, directory.ErrBadCredentials) {
		t.Fatalf("login with the old password: %v", err)
	}
	a.ok("account", "quota", "alice@example.com", "0")
	if out := a.ok("account", "show", "alice@example.com"); !strings.Contains(out, "unlimited") {
		t.Fatalf("quota not removed:\n%s", out)
	}

	a.ok("alias", "add", "team@example.com", "alice@example.com", "carol@other.example")
	a.fail(1, []string{"alias", "add", "chain@example.com", "team@example.com"}, "not found")
	out = a.ok("alias", "list")
	if !strings.Contains(out, "team@example.com") || !strings.Contains(out, "alice@example.com, carol@other.example") {
		t.Fatalf("alias list:\n%s", out)
	}
	a.ok("domain", "catchall", "example.com", "bob@example.com")
	if out := a.ok("domain", "list"); !regexp.MustCompile(`example\.com +bob@example\.com`).MatchString(out) {
		t.Fatalf("domain list lacks the catch-all:\n%s", out)
	}
	a.fail(2, []string{"domain", "catchall", "example.com"}, "--off")
	a.ok("domain", "catchall", "--off", "example.com")

	a.fail(1, []string{"domain", "remove", "example.com"}, "still in use", "remove its accounts and aliases first")
	a.fail(2, []string{"account", "remove", "alice@example.com"}, "--yes")
	if out := a.ok("account", "remove", "--yes", "alice@example.com"); !strings.Contains(out, "removed account alice@example.com") {
		t.Fatalf("account remove: %q", out)
	}
	a.fail(1, []string{"account", "show", "alice@example.com"}, "not found")
	if out := a.ok("alias", "list", "example.com"); !strings.Contains(out, "team@example.com") || strings.Contains(out, "alice") {
		t.Fatalf("alias list after removing a target:\n%s", out)
	}
	a.ok("alias", "remove", "team@example.com")
	a.fail(1, []string{"alias", "remove", "team@example.com"}, "not found")
	a.ok("account", "remove", "--yes", "bob@example.com")
	a.ok("domain", "remove", "example.com")
	if out := a.ok("domain", "list"); strings.Contains(out, "example.com\n") || !strings.Contains(out, "other.example") {
		t.Fatalf("domain list after removal:\n%s", out)
	}
}

func TestErrors(t *testing.T) {
	tmp := t.TempDir()
	a := admin{t, filepath.Join(tmp, "data")}
	a.ok("domain", "add", "example.com")
	a.fail(1, []string{"account", "add", "--password", "x", "user@unknown.example"}, "not local", "casella domain add")
	a.fail(1, []string{"account", "add", "--password", "x", "not-an-address"}, "invalid", "check the spelling")
	a.fail(1, []string{"domain", "add", "bad domain!"}, "invalid")
	a.fail(1, []string{"domain", "add", "example.com"}, "already exists")
	a.fail(1, []string{"account", "show", "nobody@example.com"}, "not found")
	a.fail(2, []string{"account", "add", "--quota", "lots", "user@example.com"}, "invalid size")
	a.fail(2, []string{"account", "add", "--password", "x", "--password-stdin", "user@example.com"}, "not both")
	checkFail(t, a.run("", "account", "add", "--password-stdin", "user@example.com"), 1,
		[]string{"account", "add", "--password-stdin"}, "standard input")

	// A data directory that cannot be made: its parent is a file.
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", nil, "domain", "list", "--data", filepath.Join(file, "data"))
	checkFail(t, r, 1, []string{"domain", "list"}, "cannot create data directory", "--data")

	bad := filepath.Join(tmp, "bad.toml")
	if err := os.WriteFile(bad, []byte("hostname = \"x\"\n[smtp\nlisten = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkFail(t, a.run("", "domain", "list", "--config", bad), 1, []string{"domain", "list", "--config"}, "bad.toml", "line 2")
	unknown := filepath.Join(tmp, "unknown.toml")
	if err := os.WriteFile(unknown, []byte("[imap]\nlisen = \":143\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkFail(t, a.run("", "domain", "list", "--config", unknown), 1, []string{"domain", "list", "--config"}, "line 2", "imap.lisen")
	checkFail(t, a.run("", "domain", "list", "--config", filepath.Join(tmp, "missing.toml")), 1,
		[]string{"domain", "list", "--config"}, "missing.toml")
}

// TestDataDirPrecedence checks that --data beats CASELLA_DATA, which beats
// the file's data_dir.
func TestDataDirPrecedence(t *testing.T) {
	tmp := t.TempDir()
	fileDir, envDir, flagDir := filepath.Join(tmp, "file"), filepath.Join(tmp, "env"), filepath.Join(tmp, "flag")
	cfg := filepath.Join(tmp, "casella.toml")
	if err := os.WriteFile(cfg, []byte("data_dir = \""+filepath.ToSlash(fileDir)+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := func(env []string, args ...string) {
		t.Helper()
		if r := run(t, "", env, args...); r.code != 0 {
			t.Fatalf("casella %v: %+v", args, r)
		}
	}
	ok(nil, "domain", "add", "file.example", "--config", cfg)
	ok([]string{"CASELLA_DATA=" + envDir}, "domain", "add", "env.example", "--config", cfg)
	ok([]string{"CASELLA_DATA=" + envDir}, "domain", "add", "flag.example", "--config", cfg, "--data", flagDir)
	for dir, want := range map[string]string{fileDir: "file.example", envDir: "env.example", flagDir: "flag.example"} {
		out := admin{t, dir}.ok("domain", "list")
		if n := strings.Count(out, ".example"); n != 1 || !strings.Contains(out, want) {
			t.Errorf("data directory %s holds:\n%s\nwant only %s", dir, out, want)
		}
	}
}

// TestAccountListCells checks that account list shows each account's cell
// once accounts live in cells.
func TestAccountListCells(t *testing.T) {
	a := admin{t, filepath.Join(t.TempDir(), "data")}
	a.ok("domain", "add", "example.com")
	a.ok("account", "add", "--password", "x", "alice@example.com")
	a.ok("account", "add", "--password", "x", "bob@example.com")
	if out := a.ok("account", "list"); strings.Contains(out, "CELL") {
		t.Fatalf("account list in embedded mode shows cells:\n%s", out)
	}
	d, err := sqlitedir.Open(filepath.Join(a.dir, server.DirectoryFile))
	if err != nil {
		t.Fatal(err)
	}
	err = d.SetCell(t.Context(), "bob@example.com", "cell-b")
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := a.ok("account", "list")
	if !regexp.MustCompile(`(?m)^ADDRESS +ID +QUOTA +CELL +CREATED$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^bob@example\.com +\d+ +unlimited +cell-b +\d{4}-`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^alice@example\.com +\d+ +unlimited +\d{4}-`).MatchString(out) {
		t.Fatalf("account list with cells:\n%s", out)
	}
}

// TestAccountAddCell checks where account add puts accounts: without
// --cell in the configured cell with the fewest accounts, with it in the
// cell named, which must be configured; in embedded mode nowhere but the
// data directory.
func TestAccountAddCell(t *testing.T) {
	tmp := t.TempDir()
	a := admin{t, filepath.Join(tmp, "data")}
	a.ok("domain", "add", "example.com")
	a.fail(2, []string{"account", "add", "--password", "x", "--cell", "a", "user@example.com"}, "--cell needs a cluster configuration")
	a.fail(2, []string{"account", "add", "--password", "x", "--cell", "", "user@example.com"}, "--cell needs the name")

	cfg := filepath.Join(tmp, "cluster.toml")
	conf := "[[cell]]\nname = \"a\"\nstore = \"sqlite:cells/a/mail.db\"\n[[cell]]\nname = \"b\"\nstore = \"sqlite:cells/b/mail.db\"\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	add := func(args ...string) string {
		t.Helper()
		return a.ok(append([]string{"account", "add", "--config", cfg, "--password", "x"}, args...)...)
	}
	// Ties go to the first cell by name, then to the emptier.
	for _, tc := range []struct{ args, want []string }{
		{[]string{"u1@example.com"}, []string{"in cell a"}},
		{[]string{"u2@example.com"}, []string{"in cell b"}},
		{[]string{"--cell", "a", "u3@example.com"}, []string{"in cell a"}},
		{[]string{"u4@example.com"}, []string{"in cell b"}},
		{[]string{"u5@example.com"}, []string{"in cell a"}},
	} {
		out := add(tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Fatalf("account add %v: %q lacks %q", tc.args, out, w)
			}
		}
	}
	a.fail(1, []string{"account", "add", "--config", cfg, "--password", "x", "--cell", "c", "u6@example.com"},
		`no cell "c" in the configuration`)
	if out := a.ok("account", "show", "--config", cfg, "u3@example.com"); !regexp.MustCompile(`cell: +a\n`).MatchString(out) {
		t.Fatalf("account show of an account in cell a:\n%s", out)
	}
}
