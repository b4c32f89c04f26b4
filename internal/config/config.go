// Package config holds Casella's configuration: an optional TOML file
// (https://toml.io/en/v1.0.0) over built-in defaults.
//
// Implementation notes:
//   - Every setting has a default, so a missing file or an empty one gives
//     a working server. Load starts from Default and lets the file
//     override what it names.
//   - Unknown keys are errors, not warnings: a misspelt key silently
//     ignored is a setting the operator believes in and does not have.
//     Errors name the file, the line and the key, and say what to do.
//   - An empty listen address disables that listener.
//   - The data directory is chosen by DataDir: the --data flag, then the
//     CASELLA_DATA environment variable, then data_dir, then "./data".
//   - The package has no global state; callers pass the Config along.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Config is the whole configuration. The toml tags are the keys of the
// file.
type Config struct {
	DataDir  string `toml:"data_dir"`
	Hostname string `toml:"hostname"` // the name this server gives itself in SMTP greetings and Received fields
	// MaxConnections caps the connections of every protocol together;
	// past it a client is told the server is busy.
	MaxConnections int  `toml:"max_connections"`
	Log            Log  `toml:"log"`
	SMTP           SMTP `toml:"smtp"`
	IMAP           IMAP `toml:"imap"`
	POP3           POP3 `toml:"pop3"`
	// ManageSieve is the ManageSieve server (RFC 5804) for Sieve scripts.
	ManageSieve ManageSieve `toml:"managesieve"`
	HTTP        HTTP        `toml:"http"`
	JMAP        JMAP        `toml:"jmap"`
	TLS         TLS         `toml:"tls"`
	ACME        ACME        `toml:"acme"`
	Store       Store       `toml:"store"`
	Spool       Spool       `toml:"spool"`
	Blob        Blob        `toml:"blob"`
	Demo        Demo        `toml:"demo"`
	Auth        Auth        `toml:"auth"`
	Quota       Quota       `toml:"quota"`
	// Directory and Cells make a node of a cluster (cluster.go); with no
	// cells the server is embedded, one cell over the data directory.
	Directory Directory `toml:"directory"`
	Cells     []Cell    `toml:"cell"`
}

// Quota configures how account quotas are enforced (package quota).
type Quota struct {
	// Grace is the share of its quota by which the message that crosses
	// it may pass it; mail beyond that waits in the spool, and senders
	// are told 452 4.2.2.
	Grace float64 `toml:"grace"`
}

// Auth configures the defence against password guessing shared by every
// protocol (package limit): waits before each check grow with the
// failures of the account, the address and its network.
type Auth struct {
	// LockAfter is how many failed logins lock an account; the owner's
	// usual devices still get in, and "casella account unlock" lifts it.
	LockAfter int      `toml:"lock_after"`
	LockFor   Duration `toml:"lock_for"`
}

// Log configures logging.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn or error
	Format string `toml:"format"` // text or json
}

// SMTP configures the SMTP servers and outbound delivery.
type SMTP struct {
	Listen              string   `toml:"listen"`      // inbound MX
	Submission          string   `toml:"submission"`  // RFC 6409 submission with STARTTLS
	Submissions         string   `toml:"submissions"` // RFC 8314 submission over implicit TLS
	MaxMessageSize      Size     `toml:"max_message_size"`
	MaxRecipients       int      `toml:"max_recipients"`
	MaxConnections      int      `toml:"max_connections"`
	MaxConnectionsPerIP int      `toml:"max_connections_per_ip"`
	CommandTimeout      Duration `toml:"command_timeout"`
	// MaxLineLength bounds a command line, CRLF included. RFC 5321 section
	// 4.5.3.1.4 sets 512 octets and lets extensions raise it; parameters
	// of SMTP extensions (SIZE, BODY, SMTPUTF8 addresses) make 1000 a
	// safe default. Text lines have their own limit of 1000 (section
	// 4.5.3.1.6).
	MaxLineLength     int    `toml:"max_line_length"`
	Smarthost         string `toml:"smarthost"` // host:port to relay outbound mail through; "" delivers directly
	SmarthostUsername string `toml:"smarthost_username"`
	SmarthostPassword string `toml:"smarthost_password"`
	SmarthostTLS      string `toml:"smarthost_tls"` // starttls, tls or none
	// CheckHeaderFrom makes submission refuse a message whose From:
	// header names an address that neither is the account's nor delivers
	// to it.
	CheckHeaderFrom bool `toml:"check_header_from"`
	// Resolvers are host:port addresses of the recursive DNS resolvers
	// that direct delivery asks; empty means those of /etc/resolv.conf.
	Resolvers []string `toml:"resolvers"`
	// DeliveryPort is the port of other domains' mail exchangers: 25,
	// except in tests and unusual networks.
	DeliveryPort int `toml:"delivery_port"`
	// DestinationConcurrency bounds concurrent deliveries to one domain.
	DestinationConcurrency int `toml:"destination_concurrency"`
	// DestinationMessagesPerMinute bounds the messages sent to one
	// destination domain per minute; 0 sets no limit. Over it a message
	// waits in the queue for its next retry.
	DestinationMessagesPerMinute int `toml:"destination_messages_per_minute"`
	// CheckSenders checks SPF, DKIM and DMARC of mail arriving on the MX
	// listener: a DMARC reject policy that fails is answered 550, a
	// quarantine one files the message to Junk.
	CheckSenders bool `toml:"check_senders"`
	// Blocklists are DNS blocklist zones (RFC 5782) asked about each MX
	// client at EHLO; a listed one gets 554. None by default: most lists
	// need an agreement with their operator beyond a small volume.
	Blocklists []string `toml:"blocklists"`
	// ARCTrustedSealers are the domains whose ARC seal (RFC 8617) is
	// taken as proof that a message failing DMARC was authentic before
	// they forwarded it: mailing lists and forwarders the operator
	// knows. None by default.
	ARCTrustedSealers []string `toml:"arc_trusted_sealers"`
	// MessagesPerMinute bounds messages per client address on the MX
	// listener, and RecipientsPerHour recipients in other domains per
	// account on submission; 0 sets no limit. Like Postfix's
	// smtpd_client_message_rate_limit, the MX limit is off by default:
	// one address may be a large provider's outbound relay.
	MessagesPerMinute int `toml:"messages_per_minute"`
	RecipientsPerHour int `toml:"recipients_per_hour"`
	// The outbound queue's schedule: retries back off from RetryMin to
	// RetryMax, a delay notice goes to the sender after DelayWarning (0:
	// never), and a message not delivered within QueueLifetime is returned
	// to its sender, as providers do (Postfix: 5 min, 4000 s, 5 days).
	RetryMin      Duration `toml:"retry_min"`
	RetryMax      Duration `toml:"retry_max"`
	DelayWarning  Duration `toml:"delay_warning"`
	QueueLifetime Duration `toml:"queue_lifetime"`
	// MTASTSMode is the mode of the MTA-STS policy (RFC 8461 section 5)
	// served for the local domains: testing (the default: senders report
	// TLS failures but still deliver) or enforce (they refuse to deliver
	// without a valid certificate for the MX name).
	MTASTSMode string `toml:"mta_sts_mode"`
	// MXHosts are the names other servers deliver the local domains' mail
	// to, when they are several (a cluster, a provider's MX pool): the MX
	// records "casella dns" prints and checks, and the mx lines of the
	// MTA-STS policy (RFC 8461 section 3.2), which may also hold a
	// pattern "*.example.net" matching one label. Empty means hostname
	// alone.
	MXHosts []string `toml:"mx_hosts"`
}

// IMAP configures the IMAP server.
type IMAP struct {
	Listen         string `toml:"listen"`
	TLSListen      string `toml:"tls_listen"`
	MaxConnections int    `toml:"max_connections"`
	// MaxConnectionsPerIP is a high ceiling: many users share one address
	// behind carrier NAT and offices. One user is held by
	// MaxConnectionsPerUserIP (Dovecot's mail_max_userip_connections),
	// checked at login.
	MaxConnectionsPerIP     int      `toml:"max_connections_per_ip"`
	MaxConnectionsPerUserIP int      `toml:"max_connections_per_user_ip"`
	IdleTimeout             Duration `toml:"idle_timeout"`
	LoginTimeout            Duration `toml:"login_timeout"` // autologout before login; RFC 9051 section 5.4 wants it short
	CommandTimeout          Duration `toml:"command_timeout"`
	MaxLiteralSize          Size     `toml:"max_literal_size"`
	// Limits on an account's mailboxes, answered NO [LIMIT].
	MaxMailboxes         int `toml:"max_mailboxes"`           // per account
	MaxMailboxDepth      int `toml:"max_mailbox_depth"`       // levels of a name
	MaxMailboxNameLength int `toml:"max_mailbox_name_length"` // bytes of a name, UTF-8
	// AllowPlainLoopback allows LOGIN and AUTHENTICATE without TLS from
	// loopback addresses, for development.
	AllowPlainLoopback bool `toml:"allow_plain_loopback"`
}

// POP3 configures the POP3 server.
type POP3 struct {
	Listen              string `toml:"listen"`
	TLSListen           string `toml:"tls_listen"`
	MaxConnections      int    `toml:"max_connections"`
	MaxConnectionsPerIP int    `toml:"max_connections_per_ip"`
	AllowPlainLoopback  bool   `toml:"allow_plain_loopback"`
}

// ManageSieve configures the ManageSieve server (RFC 5804), where users
// manage their Sieve scripts. Listen "" disables it.
type ManageSieve struct {
	Listen              string `toml:"listen"`
	MaxConnections      int    `toml:"max_connections"`
	MaxConnectionsPerIP int    `toml:"max_connections_per_ip"`
	AllowPlainLoopback  bool   `toml:"allow_plain_loopback"`
	MaxScriptSize       Size   `toml:"max_script_size"`
	MaxScripts          int    `toml:"max_scripts"` // per account
	// GlobalScript is the administrator's Sieve script, run at delivery
	// before each account's own; include :global reads its directory.
	// "": none.
	GlobalScript string `toml:"global_script"`
}

// HTTP configures the HTTP server (webmail, JMAP, admin, metrics).
type HTTP struct {
	Listen string `toml:"listen"`
	// TLSListen serves the same over HTTPS with the [tls] certificate:
	// what JMAP clients, MTA-STS senders, autoconfig and autodiscover
	// reach, on port 443 in production. Empty (the default) means a
	// proxy in front of Listen ends TLS on port 443.
	TLSListen string `toml:"tls_listen"`
	// Limits on clients: connections, the time to send a request's
	// header and whole request, to take a response, to stay idle between
	// requests, and the size of a request's header and body.
	MaxConnections    int      `toml:"max_connections"`
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	ReadTimeout       Duration `toml:"read_timeout"`
	WriteTimeout      Duration `toml:"write_timeout"`
	IdleTimeout       Duration `toml:"idle_timeout"`
	MaxHeaderBytes    Size     `toml:"max_header_bytes"`
	MaxRequestBody    Size     `toml:"max_request_body"`
	// Pprof serves Go's profiles under /debug/pprof/ on this listener,
	// with one lock wait in ten sampled for /debug/pprof/mutex. They show
	// internals and cost CPU while taken: for operators on a trusted
	// network only.
	Pprof bool `toml:"pprof"`
}

// JMAP configures JMAP's EmailSubmission holds (RFC 8621 section 7).
type JMAP struct {
	// MaxDelayedSend is the longest a client may have a message held
	// before it leaves (FUTURERELEASE); 0 turns holds, and undo, off.
	MaxDelayedSend Duration `toml:"max_delayed_send"`
	// UndoWindow is the hold of a client that asks for the undo window
	// (HOLDFOR with no value): how long "undo send" stays possible.
	UndoWindow Duration `toml:"undo_window"`
	// SubmissionRetention is how long the record of a finished
	// EmailSubmission (sent or canceled) is kept after its sendAt; its
	// tombstone, which /changes reports, is kept as long again.
	SubmissionRetention Duration `toml:"submission_retention"`
}

// TLS names the certificate. Both empty means a self-signed certificate
// made at first start in the data directory.
type TLS struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// ACME configures certificates obtained from an ACME CA (RFC 8555), such
// as Let's Encrypt, for the hostname and the mta-sts, autoconfig and
// autodiscover hosts of every local domain. The [tls] certificate (or the
// self-signed one) is kept for the names without one yet.
type ACME struct {
	Enabled bool `toml:"enabled"`
	// DirectoryURL is the CA's directory (RFC 8555 section 7.1.1).
	DirectoryURL string `toml:"directory_url"`
	// Email is the account's contact, which the CA warns of expiries and
	// problems; "" registers without one.
	Email string `toml:"email"`
	// Challenge is how the CA checks that we serve a name: tls-alpn-01
	// (RFC 8737) on http.tls_listen, reached on port 443, or http-01
	// (RFC 8555 section 8.3) on http.listen, reached on port 80.
	Challenge string `toml:"challenge"`
	// DomainHosts are the hosts under every local domain that get a
	// certificate, besides the hostname.
	DomainHosts []string `toml:"domain_hosts"`
	// Names are more names to get certificates for.
	Names []string `toml:"names"`
	// CAFile is a PEM file of roots trusted for the CA's own HTTPS, for a
	// private or test CA; "" trusts the system's roots.
	CAFile string `toml:"ca_file"`
}

// Store configures the mailbox store.
type Store struct {
	// CacheMessages bounds the messages of large mailboxes kept in memory
	// for the commands that read a whole mailbox (FETCH FLAGS, SORT,
	// SEARCH); each takes about 450 bytes (cache BenchmarkFill). 0 turns the
	// cache off.
	CacheMessages int `toml:"cache_messages"`
}

// Spool configures the intake spool's delivery loop.
type Spool struct {
	Workers int `toml:"workers"`
	// Batch is the most messages stored in one commit; batches let a
	// backlog drain faster than one fsync per message.
	Batch    int      `toml:"batch"`
	RetryMin Duration `toml:"retry_min"`
	RetryMax Duration `toml:"retry_max"`
	// DrainRate bounds deliveries per second after an outage; 0 means no
	// limit.
	DrainRate       float64  `toml:"drain_rate"`
	BreakerFailures int      `toml:"breaker_failures"`
	BreakerCooldown Duration `toml:"breaker_cooldown"`
	// KeyRetention is how long the mailbox store remembers which spool
	// entries it delivered, so that a replay stores nothing twice. Keys of
	// entries still in the spool are kept however old they are.
	// The spools remember the keys of the mail deliveries sent (a Sieve
	// redirect, say) as long (spool.Options.KeyRetention).
	KeyRetention Duration `toml:"key_retention"`
}

// Blob configures the blob store: its backend and garbage collector.
type Blob struct {
	// Backend is fs (a directory), s3 (an S3-compatible bucket) or
	// replicated (every blob on each of Replicated.Children).
	Backend    string         `toml:"backend"`
	GCGrace    Duration       `toml:"gc_grace"` // how old an unreferenced blob must be before it is removed
	GCInterval Duration       `toml:"gc_interval"`
	FS         BlobFS         `toml:"fs"`
	S3         BlobS3         `toml:"s3"`
	Replicated BlobReplicated `toml:"replicated"`
	Scrub      BlobScrub      `toml:"scrub"`
}

// BlobFS configures the filesystem blob backend.
type BlobFS struct {
	Dir string `toml:"dir"` // "" means the data directory's blobs/
}

// BlobS3 configures the S3 blob backend.
type BlobS3 struct {
	Endpoint    string   `toml:"endpoint"` // base URL; "" means Amazon S3
	Bucket      string   `toml:"bucket"`
	Region      string   `toml:"region"`
	AccessKey   string   `toml:"access_key"`
	SecretKey   string   `toml:"secret_key"`
	PathStyle   bool     `toml:"path_style"` // endpoint/bucket/key rather than bucket.endpoint/key
	Timeout     Duration `toml:"timeout"`    // one call, retries included
	MaxAttempts int      `toml:"max_attempts"`
	PartSize    Size     `toml:"part_size"` // blobs larger than this are uploaded in parts of this size
}

// BlobReplicated configures the replicated blob backend.
type BlobReplicated struct {
	// Children names the backends that each hold a copy, preferred first:
	// "fs" ([blob.fs]) and "s3" ([blob.s3]).
	Children []string `toml:"children"`
	// WriteQuorum is how many children must store a blob before a write
	// succeeds; 0 means all. Children that miss a write get a hint and
	// the blob when they return.
	WriteQuorum int `toml:"write_quorum"`
	// HedgeDelay is how long a slow child is waited for before a read
	// also asks the next one, and a write that has its quorum stops
	// waiting for the rest.
	HedgeDelay     Duration `toml:"hedge_delay"`
	ReplayInterval Duration `toml:"replay_interval"` // how often hinted writes are retried
}

// BlobScrub configures the background scrubber of the replicated backend.
type BlobScrub struct {
	// Rate bounds what the scrubber reads per second, every copy
	// counted; 0 turns the scrubber off.
	Rate     Size     `toml:"rate"`
	Interval Duration `toml:"interval"` // pause between two passes
}

// Demo configures the demonstration data made on first start.
type Demo struct {
	// Enabled creates domain example.test and account demo@example.test,
	// with a generated password printed once, when the directory is empty
	// at start.
	Enabled bool `toml:"enabled"`
}

// DefaultDataDir is the data directory when nothing else names one.
const DefaultDataDir = "./data"

// DataDirEnv is the environment variable that names the data directory.
const DataDirEnv = "CASELLA_DATA"

// Default returns the configuration used when no file overrides it.
func Default() Config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	const mib = 1 << 20
	return Config{
		DataDir:        DefaultDataDir,
		Hostname:       host,
		MaxConnections: 25_000,
		Log:            Log{Level: "info", Format: "text"},
		SMTP: SMTP{
			Listen:                 "127.0.0.1:2525",
			Submission:             "127.0.0.1:2587",
			Submissions:            "127.0.0.1:2465",
			MaxMessageSize:         50 * mib,
			MaxRecipients:          100,
			MaxConnections:         2000,
			MaxConnectionsPerIP:    100,
			CommandTimeout:         Duration(5 * time.Minute),
			MaxLineLength:          1000,
			SmarthostTLS:           "starttls",
			DeliveryPort:           25,
			DestinationConcurrency: 20,
			CheckSenders:           true,
			RecipientsPerHour:      1000,
			RetryMin:               Duration(5 * time.Minute),
			RetryMax:               Duration(time.Hour),
			DelayWarning:           Duration(4 * time.Hour),
			QueueLifetime:          Duration(5 * 24 * time.Hour),
			CheckHeaderFrom:        true,
			MTASTSMode:             "testing",
		},
		IMAP: IMAP{
			Listen:                  "127.0.0.1:2143",
			TLSListen:               "127.0.0.1:2993",
			MaxConnections:          20_000,
			MaxConnectionsPerIP:     1000,
			MaxConnectionsPerUserIP: 20,
			IdleTimeout:             Duration(30 * time.Minute),
			LoginTimeout:            Duration(time.Minute),
			CommandTimeout:          Duration(60 * time.Second),
			MaxLiteralSize:          50 * mib,
			MaxMailboxes:            1000,
			MaxMailboxDepth:         20,
			MaxMailboxNameLength:    512,
			AllowPlainLoopback:      true,
		},
		POP3: POP3{
			Listen:              "127.0.0.1:2110",
			TLSListen:           "127.0.0.1:2995",
			MaxConnections:      2000,
			MaxConnectionsPerIP: 1000,
			AllowPlainLoopback:  true,
		},
		HTTP: HTTP{
			Listen:            "127.0.0.1:8080",
			MaxConnections:    1000,
			ReadHeaderTimeout: Duration(10 * time.Second),
			// Room for a JMAP upload or download of max_request_body
			// over a slow link; a silent client is cut off by the
			// header and idle timeouts, long before.
			ReadTimeout:    Duration(10 * time.Minute),
			WriteTimeout:   Duration(10 * time.Minute),
			IdleTimeout:    Duration(2 * time.Minute),
			MaxHeaderBytes: 64 << 10,
			MaxRequestBody: 50 * mib, // a JMAP upload, as large as smtp.max_message_size
		},
		JMAP: JMAP{MaxDelayedSend: Duration(7 * 24 * time.Hour), UndoWindow: Duration(10 * time.Second), SubmissionRetention: Duration(30 * 24 * time.Hour)},
		ManageSieve: ManageSieve{
			Listen:              "127.0.0.1:4190",
			MaxConnections:      1000,
			MaxConnectionsPerIP: 20,
			AllowPlainLoopback:  true,
			MaxScriptSize:       mib / 4,
			MaxScripts:          20,
		},
		Store: Store{CacheMessages: 250_000},
		Spool: Spool{
			Workers:         4,
			Batch:           64,
			RetryMin:        Duration(time.Second),
			RetryMax:        Duration(5 * time.Minute),
			BreakerFailures: 5,
			BreakerCooldown: Duration(10 * time.Second),
			KeyRetention:    Duration(7 * 24 * time.Hour),
		},
		Blob: Blob{
			Backend:    "fs",
			GCGrace:    Duration(24 * time.Hour),
			GCInterval: Duration(time.Hour),
			S3: BlobS3{
				Region:      "us-east-1",
				Timeout:     Duration(30 * time.Second),
				MaxAttempts: 3,
				PartSize:    8 * mib,
			},
			Replicated: BlobReplicated{
				Children:       []string{"fs", "s3"},
				HedgeDelay:     Duration(500 * time.Millisecond),
				ReplayInterval: Duration(30 * time.Second),
			},
			Scrub: BlobScrub{
				Rate:     10 * mib,
				Interval: Duration(24 * time.Hour),
			},
		},
		ACME: ACME{
			DirectoryURL: "https://acme-v02.api.letsencrypt.org/directory",
			Challenge:    "tls-alpn-01",
			DomainHosts:  []string{"mta-sts", "autoconfig", "autodiscover"},
		},
		Demo:  Demo{Enabled: true},
		Auth:  Auth{LockAfter: 20, LockFor: Duration(15 * time.Minute)},
		Quota: Quota{Grace: 0.10},
	}
}

// Load reads the configuration file at path over the defaults and
// validates the result. Path "" means defaults only.
func Load(path string) (Config, error) {
	if path == "" {
		c := Default()
		return c, c.Validate()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading config file: %w", err)
	}
	c, err := Parse(data, path)
	if err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a TOML document over the defaults, without validating
// the result. Name is the file name used in error messages.
func Parse(data []byte, name string) (Config, error) {
	c := Default()
	dec := toml.NewDecoder(strings.NewReader(string(data))).DisallowUnknownFields()
	err := dec.Decode(&c)
	var strict *toml.StrictMissingError
	var derr *toml.DecodeError
	switch {
	case err == nil:
		return c, cellBlobDefaults(&c, data, name)
	case errors.As(err, &strict):
		var msgs []string
		for _, e := range strict.Errors {
			line, _ := e.Position()
			msgs = append(msgs, fmt.Sprintf("config file %s, line %d: unknown key %q; remove it or check its spelling",
				name, line, strings.Join(e.Key(), ".")))
		}
		return Config{}, errors.New(strings.Join(msgs, "\n"))
	case errors.As(err, &derr):
		line, col := derr.Position()
		key := ""
		if k := derr.Key(); len(k) > 0 {
			key = fmt.Sprintf(" (key %q)", strings.Join(k, "."))
		}
		return Config{}, fmt.Errorf("config file %s, line %d, column %d%s: %s", name, line, col, key,
			strings.TrimPrefix(derr.Error(), "toml: "))
	default:
		return Config{}, fmt.Errorf("config file %s: %w", name, err)
	}
}

// DataDir returns the data directory: flagValue when it is not empty, else
// the CASELLA_DATA environment variable, else the file's data_dir, else
// DefaultDataDir.
func DataDir(flagValue string, cfg Config) string {
	if flagValue != "" {
		return flagValue
	}
	if v := os.Getenv(DataDirEnv); v != "" {
		return v
	}
	if cfg.DataDir != "" {
		return cfg.DataDir
	}
	return DefaultDataDir
}
