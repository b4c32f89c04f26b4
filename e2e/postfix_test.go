package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"casella/internal/tlsconf"
)

// postfix is a private instance of Debian's Postfix: its configuration,
// queue, logs and mail in a temporary directory, smtpd on a random
// loopback port. Its master must start as root; its daemons run as the
// postfix user.
type postfix struct {
	t    *testing.T
	dir  string
	port string
}

// postfixOptions say what the instance does with mail.
type postfixOptions struct {
	hostname string
	// domain is delivered into one Maildir, dir/mail/maildir, whatever
	// the local part.
	domain string
	// relayhost, host:port, takes all other mail.
	relayhost string
	// milter is a milter every message passes, "inet:host:port".
	milter string
}

// startPostfix starts a private Postfix, with a self-signed certificate
// for STARTTLS.
func startPostfix(t *testing.T, o postfixOptions) *postfix {
	t.Helper()
	need(t, "postfix")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("Postfix's master must start as root; run the end-to-end tests as root")
		}
		t.Skip("Postfix's master must start as root")
	}
	pu, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("the postfix package's user: %v", err)
	}
	uid, _ := strconv.Atoi(pu.Uid)
	gid, _ := strconv.Atoi(pu.Gid)
	// Postfix's daemons, as the postfix user, must reach the queue and
	// the mail: t.TempDir's directories are root's alone.
	dir, err := os.MkdirTemp("", "casella-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, sub := range []string{"etc", "queue", "data", "mail"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(dir, 0o755)
	for _, sub := range []string{"data", "mail"} {
		if err := os.Chown(filepath.Join(dir, sub), uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	// tlsconf's self-signed certificate, made in etc/tls.
	if _, err := tlsconf.Load("", "", filepath.Join(dir, "etc"), o.hostname); err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "etc", "tls", "cert.pem"), filepath.Join(dir, "etc", "tls", "key.pem")
	p := &postfix{t: t, dir: dir, port: freePort(t)}
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
myhostname = %[2]s
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
biff = no
maillog_file_prefixes = %[1]s
maillog_file = %[1]s/maillog
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_cert_file = %[3]s
smtpd_tls_key_file = %[4]s
smtp_tls_security_level = may
`, dir, o.hostname, cert, key)
	if o.domain != "" {
		main += fmt.Sprintf(`virtual_mailbox_domains = %s
virtual_mailbox_base = %s/mail
virtual_mailbox_maps = static:maildir/
virtual_uid_maps = static:%d
virtual_gid_maps = static:%d
virtual_minimum_uid = 1
`, o.domain, dir, uid, gid)
	}
	if o.relayhost != "" {
		host, port, _ := net.SplitHostPort(o.relayhost)
		main += fmt.Sprintf("relayhost = [%s]:%s\n", host, port)
	}
	if o.milter != "" {
		main += fmt.Sprintf("smtpd_milters = %s\nmilter_default_action = tempfail\n", o.milter)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "main.cf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "master.cf"), []byte(postfixMaster(t, p.port)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("postfix", "-c", filepath.Join(dir, "etc"), "start").CombinedOutput(); err != nil {
		t.Fatalf("postfix start: %v\n%s%s", err, out, p.log())
	}
	t.Cleanup(p.stop)
	waitFor(t, 30*time.Second, "Postfix's smtpd", func() bool {
		c, err := net.Dial("tcp", p.addr())
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return p
}

// postfixMaster returns Debian's master.cf with smtpd on port and no
// daemon chrooted (the queue directory holds no copy of /etc).
func postfixMaster(t *testing.T, port string) string {
	t.Helper()
	raw, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Fatalf("Debian's master.cf: %v", err)
	}
	service := regexp.MustCompile(`^([a-z0-9]+)\s+(unix|inet|fifo|pass|unix-dgram)\s`)
	var b strings.Builder
	postlog := false
	for _, line := range strings.Split(string(raw), "\n") {
		if m := service.FindStringSubmatch(line); m != nil {
			f := strings.Fields(line)
			if f[0] == "smtp" && f[1] == "inet" {
				f[0] = "127.0.0.1:" + port
			}
			postlog = postlog || f[0] == "postlog"
			f[4] = "n"
			line = strings.Join(f, " ")
		}
		b.WriteString(line + "\n")
	}
	if !postlog {
		b.WriteString("postlog unix-dgram n - n - 1 postlogd\n")
	}
	return b.String()
}

func (p *postfix) addr() string { return "127.0.0.1:" + p.port }

func (p *postfix) log() string {
	raw, _ := os.ReadFile(filepath.Join(p.dir, "maillog"))
	return string(raw)
}

// stop stops the instance, and its master by its pid should the command
// fail, so that no daemon outlives the test.
func (p *postfix) stop() {
	out, err := exec.Command("postfix", "-c", filepath.Join(p.dir, "etc"), "stop").CombinedOutput()
	if err != nil {
		p.t.Logf("postfix stop: %v\n%s", err, out)
		if raw, err := os.ReadFile(filepath.Join(p.dir, "queue", "pid", "master.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil {
				if proc, err := os.FindProcess(pid); err == nil {
					proc.Kill()
				}
			}
		}
	}
}

// delivered returns the messages Postfix delivered into its Maildir.
func (p *postfix) delivered() [][]byte {
	p.t.Helper()
	files, _ := filepath.Glob(filepath.Join(p.dir, "mail", "maildir", "new", "*"))
	var out [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			p.t.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}
