package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Validate checks every setting and returns all problems found, each
// naming its key and what to do.
func (c Config) Validate() error {
	v := &validator{}
	if c.DataDir == "" {
		v.fail("data_dir", "is empty; name a directory, or remove the key to use %q", DefaultDataDir)
	}
	if c.Hostname == "" || strings.ContainsAny(c.Hostname, " \t\r\n/@") {
		v.fail("hostname", "%q is not a host name; give the fully qualified name of this server", c.Hostname)
	}
	v.positive("max_connections", c.MaxConnections)
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")

	v.listen("smtp.listen", c.SMTP.Listen)
	v.listen("smtp.submission", c.SMTP.Submission)
	v.listen("smtp.submissions", c.SMTP.Submissions)
	v.positiveSize("smtp.max_message_size", c.SMTP.MaxMessageSize)
	v.positive("smtp.max_recipients", c.SMTP.MaxRecipients)
	v.positive("smtp.max_connections", c.SMTP.MaxConnections)
	v.positive("smtp.max_connections_per_ip", c.SMTP.MaxConnectionsPerIP)
	v.duration("smtp.command_timeout", c.SMTP.CommandTimeout, time.Second)
	if n := c.SMTP.MaxLineLength; n < 512 || n > 65536 {
		v.fail("smtp.max_line_length", "is %d; RFC 5321 requires at least 512, and more than 65536 only helps abuse", n)
	}
	if c.SMTP.Smarthost != "" {
		v.hostPort("smtp.smarthost", c.SMTP.Smarthost)
	}
	v.oneOf("smtp.smarthost_tls", c.SMTP.SmarthostTLS, "starttls", "tls", "none")
	if (c.SMTP.SmarthostUsername == "") != (c.SMTP.SmarthostPassword == "") {
		v.fail("smtp.smarthost_username", "and smtp.smarthost_password go together; set both or neither")
	}
	for _, r := range c.SMTP.Resolvers {
		v.hostPort("smtp.resolvers", r)
	}
	if p := c.SMTP.DeliveryPort; p < 1 || p > 65535 {
		v.fail("smtp.delivery_port", "is %d; give a TCP port, normally 25", p)
	}
	v.positive("smtp.destination_concurrency", c.SMTP.DestinationConcurrency)
	if c.SMTP.DestinationMessagesPerMinute < 0 {
		v.fail("smtp.destination_messages_per_minute", "is %d; give a limit, or 0 for none", c.SMTP.DestinationMessagesPerMinute)
	}
	if c.SMTP.MessagesPerMinute < 0 || c.SMTP.RecipientsPerHour < 0 {
		v.fail("smtp.messages_per_minute", "and smtp.recipients_per_hour must not be negative; 0 sets no limit")
	}
	v.duration("smtp.retry_min", c.SMTP.RetryMin, time.Second)
	v.duration("smtp.retry_max", c.SMTP.RetryMax, c.SMTP.RetryMin.D())
	v.duration("smtp.queue_lifetime", c.SMTP.QueueLifetime, c.SMTP.RetryMax.D())
	if d := c.SMTP.DelayWarning.D(); d < 0 || d >= c.SMTP.QueueLifetime.D() && d != 0 {
		v.fail("smtp.delay_warning", "is %s; give a time shorter than smtp.queue_lifetime (%s), or 0 for no delay notices", d, c.SMTP.QueueLifetime)
	}
	v.oneOf("smtp.mta_sts_mode", c.SMTP.MTASTSMode, "testing", "enforce", "none")
	v.mxHosts("smtp.mx_hosts", c.SMTP.MXHosts)

	v.listen("imap.listen", c.IMAP.Listen)
	v.listen("imap.tls_listen", c.IMAP.TLSListen)
	v.positive("imap.max_connections", c.IMAP.MaxConnections)
	v.positive("imap.max_connections_per_ip", c.IMAP.MaxConnectionsPerIP)
	v.positive("imap.max_connections_per_user_ip", c.IMAP.MaxConnectionsPerUserIP)
	if c.IMAP.MaxConnectionsPerUserIP > c.IMAP.MaxConnectionsPerIP {
		v.fail("imap.max_connections_per_user_ip", "(%d) is above imap.max_connections_per_ip (%d); one account cannot have more than its address",
			c.IMAP.MaxConnectionsPerUserIP, c.IMAP.MaxConnectionsPerIP)
	}
	v.duration("imap.idle_timeout", c.IMAP.IdleTimeout, time.Second)
	v.duration("imap.login_timeout", c.IMAP.LoginTimeout, time.Second)
	v.duration("imap.command_timeout", c.IMAP.CommandTimeout, time.Second)
	v.positiveSize("imap.max_literal_size", c.IMAP.MaxLiteralSize)
	v.positive("imap.max_mailboxes", c.IMAP.MaxMailboxes)
	v.positive("imap.max_mailbox_depth", c.IMAP.MaxMailboxDepth)
	// The default mailboxes (Archive, Drafts...) must fit.
	if n := c.IMAP.MaxMailboxNameLength; n < 16 {
		v.fail("imap.max_mailbox_name_length", "is %d; give at least 16 bytes", n)
	}

	v.listen("pop3.listen", c.POP3.Listen)
	v.listen("pop3.tls_listen", c.POP3.TLSListen)
	v.positive("pop3.max_connections", c.POP3.MaxConnections)
	v.positive("pop3.max_connections_per_ip", c.POP3.MaxConnectionsPerIP)
	v.listen("managesieve.listen", c.ManageSieve.Listen)
	v.positive("managesieve.max_connections", c.ManageSieve.MaxConnections)
	v.positive("managesieve.max_connections_per_ip", c.ManageSieve.MaxConnectionsPerIP)
	v.positiveSize("managesieve.max_script_size", c.ManageSieve.MaxScriptSize)
	v.positive("managesieve.max_scripts", c.ManageSieve.MaxScripts)
	v.listen("http.listen", c.HTTP.Listen)
	v.listen("http.tls_listen", c.HTTP.TLSListen)
	v.positive("http.max_connections", c.HTTP.MaxConnections)
	v.duration("http.read_header_timeout", c.HTTP.ReadHeaderTimeout, time.Second)
	v.duration("http.read_timeout", c.HTTP.ReadTimeout, time.Second)
	v.duration("http.write_timeout", c.HTTP.WriteTimeout, time.Second)
	v.duration("http.idle_timeout", c.HTTP.IdleTimeout, time.Second)
	if c.HTTP.MaxHeaderBytes < 4<<10 {
		v.fail("http.max_header_bytes", "is %d bytes; browsers send several KiB of headers, give at least \"4KiB\"", int64(c.HTTP.MaxHeaderBytes))
	}
	v.positiveSize("http.max_request_body", c.HTTP.MaxRequestBody)
	if c.JMAP.MaxDelayedSend < 0 || c.JMAP.UndoWindow < 0 || c.JMAP.UndoWindow > c.JMAP.MaxDelayedSend {
		v.fail("jmap.undo_window", "is %s; give a duration from 0 to jmap.max_delayed_send (%s)", c.JMAP.UndoWindow.D(), c.JMAP.MaxDelayedSend.D())
	}
	v.duration("jmap.submission_retention", c.JMAP.SubmissionRetention, time.Hour)

	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		v.fail("tls.cert_file", "and tls.key_file go together; set both, or neither for a self-signed certificate")
	}

	if c.Store.CacheMessages < 0 {
		v.fail("store.cache_messages", "is %d; give a number of messages, or 0 to turn the cache off", c.Store.CacheMessages)
	}
	v.positive("spool.workers", c.Spool.Workers)
	v.positive("spool.batch", c.Spool.Batch)
	v.duration("spool.retry_min", c.Spool.RetryMin, time.Millisecond)
	v.duration("spool.retry_max", c.Spool.RetryMax, time.Millisecond)
	if c.Spool.RetryMax < c.Spool.RetryMin {
		v.fail("spool.retry_max", "(%s) is below spool.retry_min (%s); raise it", c.Spool.RetryMax, c.Spool.RetryMin)
	}
	if r := c.Spool.DrainRate; r < 0 || r != r {
		v.fail("spool.drain_rate", "is %v; give messages per second, or 0 for no limit", r)
	}
	v.positive("spool.breaker_failures", c.Spool.BreakerFailures)
	v.duration("spool.breaker_cooldown", c.Spool.BreakerCooldown, time.Millisecond)
	// An entry whose removal a crash undid comes back at the next start;
	// an hour leaves room for a slow one.
	v.duration("spool.key_retention", c.Spool.KeyRetention, time.Hour)
	v.positive("auth.lock_after", c.Auth.LockAfter)
	v.duration("auth.lock_for", c.Auth.LockFor, time.Second)
	if g := c.Quota.Grace; g < 0 || g > 1 {
		v.fail("quota.grace", "is %v; give a share of the quota from 0 to 1, like 0.1 for 10%%", g)
	}

	v.blob("blob", c.Blob)
	v.acme(c)
	v.cluster(c)
	return errors.Join(v.errs...)
}

// acme checks the [acme] section; when it is off nothing in it matters.
func (v *validator) acme(c Config) {
	a := c.ACME
	if !a.Enabled {
		return
	}
	if u, err := url.Parse(a.DirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" {
		v.fail("acme.directory_url", "%q is not an https URL; give the CA's directory, like https://acme-v02.api.letsencrypt.org/directory", a.DirectoryURL)
	}
	if a.Email != "" && (!strings.Contains(a.Email, "@") || strings.ContainsAny(a.Email, " \t\r\n<>,")) {
		v.fail("acme.email", "%q is not an email address; give the operator's, or remove the key", a.Email)
	}
	if !strings.Contains(c.Hostname, ".") {
		v.fail("hostname", "%q is not a fully qualified name, which an ACME certificate needs; give the name clients connect to, like mail.example.com", c.Hostname)
	}
	v.oneOf("acme.challenge", a.Challenge, "tls-alpn-01", "http-01")
	switch {
	case a.Challenge == "tls-alpn-01" && c.HTTP.TLSListen == "":
		v.fail("acme.challenge", "tls-alpn-01 is answered on http.tls_listen, which is off; set http.tls_listen (reached on port 443) or use http-01")
	case a.Challenge == "http-01" && c.HTTP.Listen == "":
		v.fail("acme.challenge", "http-01 is answered on http.listen, which is off; set http.listen (reached on port 80) or use tls-alpn-01")
	}
	for _, h := range a.DomainHosts {
		if h == "" || strings.ContainsAny(h, " \t\r\n/@*") {
			v.fail("acme.domain_hosts", "%q is not a host label; give names like \"mta-sts\"", h)
		}
	}
	for _, n := range a.Names {
		if !strings.Contains(n, ".") || strings.ContainsAny(n, " \t\r\n/@*") {
			v.fail("acme.names", "%q is not a fully qualified host name (wildcards need dns-01, which Casella does not do)", n)
		}
	}
	if a.CAFile != "" {
		if _, err := os.Stat(a.CAFile); err != nil {
			v.fail("acme.ca_file", "cannot be read: %v", err)
		}
	}
}

// validator collects problems.
type validator struct {
	errs []error
}

func (v *validator) fail(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s %s", key, fmt.Sprintf(format, args...)))
}

func (v *validator) oneOf(key, value string, allowed ...string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	v.fail(key, "is %q; use one of %s", value, strings.Join(allowed, ", "))
}

// listen checks a listen address: "" (disabled) or host:port, where host
// may be empty for every interface.
func (v *validator) listen(key, addr string) {
	if addr != "" {
		v.hostPort(key, addr)
	}
}

func (v *validator) hostPort(key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		v.fail(key, "%q is not host:port; write for example \"127.0.0.1:2525\" or \"[::1]:2525\", or \"\" to disable", addr)
	}
}

// mxHosts checks the MX host names: fully qualified, each once, and at
// least one a name rather than a pattern, for the MX records.
func (v *validator) mxHosts(key string, hosts []string) {
	seen := map[string]bool{}
	names := 0
	for _, h := range hosts {
		name, pattern := strings.CutPrefix(strings.ToLower(strings.TrimSuffix(h, ".")), "*.")
		if !pattern {
			names++
		}
		switch {
		case !hostName(name):
			v.fail(key, "holds %q, which is not a fully qualified host name like mx1.example.net or a pattern like *.example.net", h)
		case seen[name+fmt.Sprint(pattern)]:
			v.fail(key, "holds %q twice", h)
		}
		seen[name+fmt.Sprint(pattern)] = true
	}
	if len(hosts) > 0 && names == 0 {
		v.fail(key, "holds only patterns; name at least one host for the MX records")
	}
}

// hostName reports whether name is a fully qualified host name (RFC 1123
// section 2.1): two labels or more of letters, digits and inner hyphens.
func hostName(name string) bool {
	labels := strings.Split(name, ".")
	if len(name) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' ||
			strings.IndexFunc(l, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') }) >= 0 {
			return false
		}
	}
	return true
}

func (v *validator) positive(key string, n int) {
	if n <= 0 {
		v.fail(key, "is %d; it must be at least 1", n)
	}
}

func (v *validator) positiveSize(key string, s Size) {
	if s <= 0 {
		v.fail(key, "is %d bytes; it must be positive, like \"50MiB\"", int64(s))
	}
}

func (v *validator) duration(key string, d Duration, least time.Duration) {
	if d.D() < least {
		v.fail(key, "is %s, less than %s; write a duration with a unit, like \"30s\"", d, least)
	}
}

// blob checks a blob configuration whose keys start with prefix: "blob",
// or a cell's "cell.a.blob".
func (v *validator) blob(prefix string, b Blob) {
	v.duration(prefix+".gc_grace", b.GCGrace, time.Second)
	v.duration(prefix+".gc_interval", b.GCInterval, time.Second)
	v.oneOf(prefix+".backend", b.Backend, "fs", "s3", "replicated")
	usesS3 := b.Backend == "s3"
	if b.Backend == "replicated" {
		r := b.Replicated
		seen := map[string]bool{}
		for _, c := range r.Children {
			if c != "fs" && c != "s3" {
				v.fail(prefix+".replicated.children", "names %q; use \"fs\" and \"s3\" (configured in [%s.fs] and [%s.s3])", c, prefix, prefix)
			}
			if seen[c] {
				v.fail(prefix+".replicated.children", "names %q twice; each backend holds one copy", c)
			}
			seen[c] = true
		}
		if len(r.Children) < 2 {
			v.fail(prefix+".replicated.children", "has %d entries; replication needs two, like [\"fs\", \"s3\"]", len(r.Children))
		}
		if r.WriteQuorum < 0 || r.WriteQuorum > len(r.Children) {
			v.fail(prefix+".replicated.write_quorum", "is %d; use 1 to %d, or 0 for all children", r.WriteQuorum, len(r.Children))
		}
		v.duration(prefix+".replicated.hedge_delay", r.HedgeDelay, time.Millisecond)
		v.duration(prefix+".replicated.replay_interval", r.ReplayInterval, time.Second)
		if b.Scrub.Rate < 0 {
			v.fail(prefix+".scrub.rate", "is %d bytes per second; give a rate like \"10MiB\", or 0 to turn scrubbing off", int64(b.Scrub.Rate))
		}
		v.duration(prefix+".scrub.interval", b.Scrub.Interval, time.Second)
		usesS3 = seen["s3"]
	}
	if !usesS3 {
		return
	}
	s := b.S3
	if s.Bucket == "" {
		v.fail(prefix+".s3.bucket", "is empty; name the bucket that holds the blobs")
	}
	if s.Endpoint != "" {
		if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail(prefix+".s3.endpoint", "%q is not a URL; write for example \"https://s3.example.net\", or \"\" for Amazon S3", s.Endpoint)
		}
	}
	if (s.AccessKey == "") != (s.SecretKey == "") {
		v.fail(prefix+".s3.access_key", "and %s.s3.secret_key go together; set both, or neither for anonymous access", prefix)
	}
	v.duration(prefix+".s3.timeout", s.Timeout, time.Second)
	v.positive(prefix+".s3.max_attempts", s.MaxAttempts)
	if s.PartSize < 5<<20 {
		v.fail(prefix+".s3.part_size", "is %d bytes; S3 needs parts of at least \"5MiB\"", int64(s.PartSize))
	}
}
