package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "casella.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.SMTP.MaxMessageSize != 50<<20 || c.SMTP.CommandTimeout.D() != 5*time.Minute || c.SMTP.MaxLineLength != 1000 ||
		c.IMAP.Listen != "127.0.0.1:2143" || !c.IMAP.AllowPlainLoopback || c.Spool.Workers != 4 ||
		c.Blob.GCGrace.D() != 24*time.Hour || !c.Demo.Enabled || c.Hostname == "" || c.DataDir != DefaultDataDir {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	// Many users share one address behind carrier NAT: the per-address
	// ceiling leaves room for them, and one user is held by the cap per
	// account and address (issue 18, item 12).
	if c.IMAP.MaxConnectionsPerIP < 1000 || c.POP3.MaxConnectionsPerIP < 1000 || c.IMAP.MaxConnectionsPerUserIP != 20 ||
		c.MaxConnections < c.IMAP.MaxConnections {
		t.Fatalf("connection caps: total %d, imap %+v, pop3 %+v", c.MaxConnections, c.IMAP, c.POP3)
	}
	// An empty file is the defaults too.
	e, err := Load(writeFile(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e, c) {
		t.Fatalf("empty file = %+v, want defaults %+v", e, c)
	}
}

func TestFullFile(t *testing.T) {
	p := writeFile(t, `
data_dir = "/var/lib/casella"
hostname = "mx.example.com"
max_connections = 500

[log]
level = "debug"
format = "json"

[smtp]
listen = ":25"
submission = ""
submissions = "[::1]:465"
max_message_size = 1048576
max_recipients = 10
max_connections = 50
max_connections_per_ip = 5
command_timeout = "90s"
max_line_length = 2000
smarthost = "relay.example.net:587"
smarthost_username = "u"
smarthost_password = "p"
smarthost_tls = "tls"
resolvers = ["127.0.0.1:53"]
delivery_port = 2525
destination_concurrency = 5
check_senders = false
messages_per_minute = 30
recipients_per_hour = 0
retry_min = "1m"
retry_max = "2h"
delay_warning = "0s"
queue_lifetime = "72h"
mta_sts_mode = "enforce"
check_header_from = false

[imap]
listen = ":143"
tls_listen = ":993"
max_connections = 300
max_connections_per_ip = 7
max_connections_per_user_ip = 5
idle_timeout = "31m"
login_timeout = "45s"
command_timeout = "2m"
max_literal_size = "10 MB"
max_mailboxes = 50
max_mailbox_depth = 4
max_mailbox_name_length = 100
allow_plain_loopback = false

[pop3]
listen = ""
tls_listen = ":995"
max_connections = 40
max_connections_per_ip = 6
allow_plain_loopback = false

[managesieve]
listen = ":4190"
max_connections = 30
max_connections_per_ip = 3
allow_plain_loopback = false
max_script_size = "64KiB"
max_scripts = 5

[http]
listen = ":80"
tls_listen = ":443"
max_connections = 20
read_header_timeout = "5s"
read_timeout = "20s"
write_timeout = "40s"
idle_timeout = "30s"
max_header_bytes = "8KiB"
max_request_body = "1MiB"

[jmap]
max_delayed_send = "48h"
undo_window = "30s"
submission_retention = "240h"

[tls]
cert_file = "/etc/casella/cert.pem"
key_file = "/etc/casella/key.pem"

[store]
cache_messages = 0

[spool]
workers = 16
batch = 8
retry_min = "500ms"
retry_max = "10m"
drain_rate = 250.5
breaker_failures = 3
breaker_cooldown = "1m"
key_retention = "720h"

[blob]
gc_grace = "48h"
gc_interval = "30m"

[demo]
enabled = false

[acme]
enabled = true
email = "postmaster@example.com"
challenge = "http-01"
names = ["mail.example.com"]

[auth]
lock_after = 50
lock_for = "1h"
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DataDir:        "/var/lib/casella",
		Hostname:       "mx.example.com",
		MaxConnections: 500,
		Log:            Log{Level: "debug", Format: "json"},
		SMTP: SMTP{Listen: ":25", Submissions: "[::1]:465", MaxMessageSize: 1 << 20, MaxRecipients: 10,
			MaxConnections: 50, MaxConnectionsPerIP: 5, CommandTimeout: Duration(90 * time.Second), MaxLineLength: 2000,
			Smarthost: "relay.example.net:587", SmarthostUsername: "u", SmarthostPassword: "p", SmarthostTLS: "tls",
			Resolvers: []string{"127.0.0.1:53"}, DeliveryPort: 2525, DestinationConcurrency: 5, MessagesPerMinute: 30,
			RetryMin: Duration(time.Minute), RetryMax: Duration(2 * time.Hour), QueueLifetime: Duration(72 * time.Hour), MTASTSMode: "enforce"},
		IMAP: IMAP{Listen: ":143", TLSListen: ":993", MaxConnections: 300, MaxConnectionsPerIP: 7, MaxConnectionsPerUserIP: 5, IdleTimeout: Duration(31 * time.Minute), LoginTimeout: Duration(45 * time.Second),
			CommandTimeout: Duration(2 * time.Minute), MaxLiteralSize: 10_000_000,
			MaxMailboxes: 50, MaxMailboxDepth: 4, MaxMailboxNameLength: 100},
		POP3:        POP3{TLSListen: ":995", MaxConnections: 40, MaxConnectionsPerIP: 6},
		ManageSieve: ManageSieve{Listen: ":4190", MaxConnections: 30, MaxConnectionsPerIP: 3, MaxScriptSize: 64 << 10, MaxScripts: 5},
		HTTP: HTTP{Listen: ":80", TLSListen: ":443", MaxConnections: 20, ReadHeaderTimeout: Duration(5 * time.Second), ReadTimeout: Duration(20 * time.Second),
			WriteTimeout: Duration(40 * time.Second), IdleTimeout: Duration(30 * time.Second), MaxHeaderBytes: 8 << 10, MaxRequestBody: 1 << 20},
		JMAP:  JMAP{MaxDelayedSend: Duration(48 * time.Hour), UndoWindow: Duration(30 * time.Second), SubmissionRetention: Duration(10 * 24 * time.Hour)},
		TLS:   TLS{CertFile: "/etc/casella/cert.pem", KeyFile: "/etc/casella/key.pem"},
		Auth:  Auth{LockAfter: 50, LockFor: Duration(time.Hour)},
		Quota: Quota{Grace: 0.10},
		Spool: Spool{Workers: 16, Batch: 8, RetryMin: Duration(500 * time.Millisecond), RetryMax: Duration(10 * time.Minute), DrainRate: 250.5, BreakerFailures: 3, BreakerCooldown: Duration(time.Minute), KeyRetention: Duration(30 * 24 * time.Hour)},
	}
	want.Blob = Default().Blob
	want.ACME = ACME{Enabled: true, DirectoryURL: "https://acme-v02.api.letsencrypt.org/directory", Email: "postmaster@example.com", Challenge: "http-01",
		DomainHosts: []string{"mta-sts", "autoconfig", "autodiscover"}, Names: []string{"mail.example.com"}}
	want.Blob.GCGrace, want.Blob.GCInterval = Duration(48*time.Hour), Duration(30*time.Minute)
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}

// wantLoadError loads text and checks that the error contains every part.
func wantLoadError(t *testing.T, text string, parts ...string) {
	t.Helper()
	_, err := Load(writeFile(t, text))
	if err == nil {
		t.Fatalf("loading %q succeeded", text)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestBlobBackends(t *testing.T) {
	c, err := Load(writeFile(t, `
[blob]
backend = "replicated"

[blob.fs]
dir = "/srv/blobs"

[blob.s3]
endpoint = "http://127.0.0.1:7070"
bucket = "mail"
access_key = "a"
secret_key = "s"
path_style = true
timeout = "5s"

[blob.replicated]
children = ["s3", "fs"]
write_quorum = 1
hedge_delay = "200ms"

[blob.scrub]
rate = "1MiB"
interval = "12h"
`))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Blob
	if b.Backend != "replicated" || b.FS.Dir != "/srv/blobs" || b.S3.Bucket != "mail" || !b.S3.PathStyle ||
		b.S3.Timeout.D() != 5*time.Second || b.S3.PartSize != 8<<20 ||
		!reflect.DeepEqual(b.Replicated.Children, []string{"s3", "fs"}) || b.Replicated.WriteQuorum != 1 ||
		b.Replicated.HedgeDelay.D() != 200*time.Millisecond || b.Scrub.Rate != 1<<20 || b.Scrub.Interval.D() != 12*time.Hour {
		t.Fatalf("blob section = %+v", b)
	}

	wantLoadError(t, "[blob]\nbackend = \"nfs\"\n", "blob.backend", `"nfs"`)
	wantLoadError(t, "[blob]\nbackend = \"s3\"\n", "blob.s3.bucket")
	wantLoadError(t, "[blob]\nbackend = \"s3\"\n[blob.s3]\nbucket = \"b\"\nendpoint = \"s3.example.net\"\n", "blob.s3.endpoint")
	wantLoadError(t, "[blob]\nbackend = \"replicated\"\n[blob.replicated]\nchildren = [\"fs\"]\n", "blob.replicated.children", "two")
	wantLoadError(t, "[blob]\nbackend = \"replicated\"\n[blob.replicated]\nchildren = [\"fs\", \"fs\"]\n", "twice")
	wantLoadError(t, "[blob]\nbackend = \"replicated\"\n[blob.s3]\nbucket = \"b\"\n[blob.replicated]\nwrite_quorum = 3\n", "blob.replicated.write_quorum")
	wantLoadError(t, "[blob.s3]\nbuckett = \"b\"\n", `"blob.s3.buckett"`, "unknown key")
}

func TestErrors(t *testing.T) {
	wantLoadError(t, "hostname = \"a\"\n\n[smtp]\nlissen = \":25\"\n", "line 4", `"smtp.lissen"`, "unknown key", "casella.toml")
	wantLoadError(t, "[imap]\nlisten = \n", "line 2", "casella.toml")
	wantLoadError(t, "[smtp\n", "line 1")
	wantLoadError(t, "\n[smtp]\ncommand_timeout = \"5 minutes\"\n", "line 3", "invalid duration", `"30s"`)
	wantLoadError(t, "[smtp]\nmax_message_size = \"big\"\n", "line 2", "invalid size", "50MiB")
	wantLoadError(t, "[smtp]\nmax_message_size = 0\n", "smtp.max_message_size", "positive")
	wantLoadError(t, "[smtp]\nmax_recipients = \"ten\"\n", "line 2")
	wantLoadError(t, "[smtp]\ncommand_timeout = 30\n", "smtp.command_timeout", "unit")
	wantLoadError(t, "[imap]\nlisten = \"localhost\"\n", "imap.listen", "host:port")
	wantLoadError(t, "[http]\nlisten = \"127.0.0.1:99999\"\n", "http.listen")
	wantLoadError(t, "[smtp]\nmta_sts_mode = \"strict\"\n", "smtp.mta_sts_mode", "testing, enforce")
	wantLoadError(t, "[smtp]\nmx_hosts = [\"mx1\", \"mx_2.example.net\"]\n", "smtp.mx_hosts", `"mx1"`, `"mx_2.example.net"`)
	wantLoadError(t, "[smtp]\nmx_hosts = [\"mx1.example.net\", \"MX1.example.net.\"]\n", "smtp.mx_hosts", "twice")
	wantLoadError(t, "[smtp]\nmx_hosts = [\"*.example.net\"]\n", "smtp.mx_hosts", "only patterns")
	wantLoadError(t, "[smtp]\nsmarthost_tls = \"maybe\"\n", "smtp.smarthost_tls", "starttls, tls, none")
	wantLoadError(t, "[tls]\ncert_file = \"c.pem\"\n", "tls.key_file", "both")
	wantLoadError(t, "[spool]\nretry_min = \"10m\"\nretry_max = \"1m\"\n", "spool.retry_max")
	wantLoadError(t, "[spool]\nworkers = 0\ndrain_rate = -1\n", "spool.workers", "spool.drain_rate")
	wantLoadError(t, "[spool]\nkey_retention = \"10m\"\n", "spool.key_retention")
	wantLoadError(t, "[jmap]\nsubmission_retention = \"0s\"\n", "jmap.submission_retention")
	wantLoadError(t, "[store]\ncache_messages = -1\n", "store.cache_messages")
	wantLoadError(t, "[log]\nlevel = \"loud\"\n", "log.level")
	wantLoadError(t, "data_dir = \"\"\n", "data_dir")
	wantLoadError(t, "[acme]\nenabled = true\ndirectory_url = \"http://ca.test/dir\"\n", "acme.directory_url", "https")
	wantLoadError(t, "[acme]\nenabled = true\nchallenge = \"dns-01\"\n", "acme.challenge", "tls-alpn-01, http-01")
	wantLoadError(t, "hostname = \"mx\"\n[acme]\nenabled = true\n", "acme.challenge", "http.tls_listen", "fully qualified")
	wantLoadError(t, "[acme]\nenabled = true\nchallenge = \"http-01\"\nemail = \"root\"\nnames = [\"*.example.com\"]\nca_file = \"/nonexistent.pem\"\n", "acme.email", "acme.names", "dns-01", "acme.ca_file")

	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Fatal("loading a missing file succeeded")
	}
}

func TestDataDir(t *testing.T) {
	t.Setenv(DataDirEnv, "")
	c := Default()
	if got := DataDir("", c); got != DefaultDataDir {
		t.Fatalf("default: %q", got)
	}
	c.DataDir = "/from/file"
	if got := DataDir("", c); got != "/from/file" {
		t.Fatalf("file: %q", got)
	}
	t.Setenv(DataDirEnv, "/from/env")
	if got := DataDir("", c); got != "/from/env" {
		t.Fatalf("env over file: %q", got)
	}
	if got := DataDir("/from/flag", c); got != "/from/flag" {
		t.Fatalf("flag over env: %q", got)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
	}{
		{"0", 0}, {"52428800", 52428800}, {"50MiB", 50 << 20}, {"50 mib", 50 << 20}, {"1.5KiB", 1536},
		{"2GB", 2e9}, {"10B", 10}, {"1TiB", 1 << 40}, {" 3 KB ", 3000},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "MiB", "5XB", "abc", "1e30GiB", "NaN", "Inf"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want error", in, got)
		}
	}
	for _, s := range []Size{0, 1, 1024, 50 << 20, 3 << 30, 1000} {
		back, err := ParseSize(s.String())
		if err != nil || back != s {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s.String(), back, err, s)
		}
	}
}

func TestConnectionCapErrors(t *testing.T) {
	wantLoadError(t, "max_connections = 0\n", "max_connections is 0")
	wantLoadError(t, "[imap]\nmax_connections_per_ip = 10\nmax_connections_per_user_ip = 11\n",
		"imap.max_connections_per_user_ip (11) is above imap.max_connections_per_ip (10)")
	wantLoadError(t, "[pop3]\nmax_connections = -1\n", "pop3.max_connections is -1")
	wantLoadError(t, "[imap]\nmax_mailbox_name_length = 8\n", "imap.max_mailbox_name_length is 8")
}

// A cluster lists its MX hosts, names and patterns of one label.
func TestMXHosts(t *testing.T) {
	c, err := Load(writeFile(t, "[smtp]\nmx_hosts = [\"mx1.example.net\", \"mx2.example.net.\", \"*.mx.example.net\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"mx1.example.net", "mx2.example.net.", "*.mx.example.net"}; !reflect.DeepEqual(c.SMTP.MXHosts, want) {
		t.Fatalf("mx_hosts %q, want %q", c.SMTP.MXHosts, want)
	}
}
