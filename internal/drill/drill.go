// Package drill implements Casella's fault drill: it sends a load of
// checksummed messages to a server over SMTP while the server's mailbox
// store fails (errors, hangs) or the server process is killed, waits for
// the intake spool to drain, reads every message back over IMAP and reports
// whether the promise held: nothing accepted is lost, duplicated or
// altered, and no sender was refused with a 5xx for the server's own
// failure (DESIGN.md invariants 1-3).
//
// Implementation notes:
//   - The drill is a client: it reaches the server only through SMTP, IMAP
//     and the HTTP listener (/admin/faults, /api/status), so the same drill
//     runs against a server it starts itself or one an operator points it
//     to.
//   - Messages are made again from (seed, index) when needed; the load
//     keeps only a checksum and an outcome per message, so a drill of a
//     million messages needs a few tens of megabytes.
//   - Every message has a unique Message-ID naming the run, so several runs
//     can share a mailbox; messages of other runs are counted, not judged.
//   - A message whose connection broke before the reply (a kill) may or may
//     not have been accepted; it may be delivered, but at most once.
//   - The verdict is a pure function of what was sent and what was found
//     (Tally), tested on its own.
package drill

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Schedules of a drill.
const (
	FaultNone  = "none"  // load only
	FaultError = "error" // the mailbox store fails every call for a while
	FaultHang  = "hang"  // the mailbox store hangs every call for a while
	FaultKill  = "kill"  // the server is killed with SIGKILL and restarted, again and again
)

// The account the drill creates on a server it starts itself.
const (
	LocalDomain  = "drill.test"
	LocalAccount = "drill@drill.test"
)

// sender is the envelope and header sender of the load.
const sender = "load@remote.test"

// Remote is a running server the drill drives; it must allow fault
// injection for the error and hang schedules.
type Remote struct {
	SMTP     string // host:port of the inbound SMTP listener
	IMAP     string // host:port of the plain IMAP listener
	HTTP     string // base URL of the HTTP listener
	Account  string // an existing account, which receives the load
	Password string
}

// Options configures a drill. Zero values take the documented defaults.
type Options struct {
	Messages    int    // default 10000
	Connections int    // default 20
	Fault       string // FaultError (default), FaultHang, FaultKill or FaultNone
	// FaultStart and FaultEnd are the fractions of the messages sent at
	// which the fault is injected and cleared; defaults 1/3 and 2/3. A
	// FaultEnd of 1 or more clears it only after the load, which leaves the
	// whole load as a backlog to drain.
	FaultStart, FaultEnd float64
	Kills                int // for FaultKill; default 20

	// Server is the server to drive; nil starts one from Exe.
	Server *Remote
	// Exe is the casella binary for a self-contained drill.
	Exe string
	// Keep keeps a self-contained drill's data directory; it is also kept
	// when the drill fails.
	Keep bool

	// DrainTimeout bounds the wait for the spool to drain; default 10 min.
	DrainTimeout time.Duration
	// Progress receives a progress line every second; nil for none.
	Progress io.Writer
	Logger   *slog.Logger
}

func (o *Options) setDefaults() error {
	if o.Messages <= 0 {
		o.Messages = 10000
	}
	if o.Connections <= 0 {
		o.Connections = 20
	}
	if o.Fault == "" {
		o.Fault = FaultError
	}
	if o.FaultStart == 0 && o.FaultEnd == 0 {
		o.FaultStart, o.FaultEnd = 1.0/3, 2.0/3
	}
	if o.Kills <= 0 {
		o.Kills = 20
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch o.Fault {
	case FaultNone, FaultError, FaultHang:
	case FaultKill:
		if o.Server != nil {
			return errors.New("the kill schedule needs a server the drill starts itself; drop the --server-* options")
		}
	default:
		return fmt.Errorf("unknown fault schedule %q: want error, hang, kill or none", o.Fault)
	}
	if o.FaultStart < 0 || o.FaultStart > o.FaultEnd {
		return fmt.Errorf("the fault starts at %.2f and ends at %.2f of the load: want 0 <= start <= end", o.FaultStart, o.FaultEnd)
	}
	if o.Server == nil && o.Exe == "" {
		return errors.New("no server to drive and no casella binary to start one")
	}
	return nil
}

// Report is the result of a drill.
type Report struct {
	Run         string `json:"run"`  // the run's id, in every Message-ID
	Mode        string `json:"mode"` // "self-contained" or "server"
	Fault       string `json:"fault"`
	Messages    int    `json:"messages"`
	Connections int    `json:"connections"`
	Counts
	// OtherMessages were in the mailbox but not sent by this run.
	OtherMessages int `json:"otherMessages"`

	// Seconds since the load started at which the fault was injected and
	// cleared; Kills is the number of SIGKILLs.
	FaultInjectedAt float64 `json:"faultInjectedAt,omitempty"`
	FaultClearedAt  float64 `json:"faultClearedAt,omitempty"`
	Kills           int     `json:"kills,omitempty"`

	IngestSeconds float64 `json:"ingestSeconds"` // the load, first message to last reply
	IngestRate    float64 `json:"ingestRate"`    // accepted messages per second
	PeakDepth     int     `json:"peakSpoolDepth"`
	Backlog       int     `json:"backlog"`      // spool depth when the load ended
	DrainSeconds  float64 `json:"drainSeconds"` // from the end of the load to an empty spool
	DrainRate     float64 `json:"drainRate"`    // backlog per drain second

	Passed   bool     `json:"passed"`
	Problems []string `json:"problems"`
	DataDir  string   `json:"dataDir,omitempty"` // a self-contained drill's directory, when kept
}

// newRunID returns a short random id, in lowercase letters and digits.
func newRunID() string {
	return strings.ToLower(rand.Text()[:10])
}

// Run carries out a drill. An error means the drill could not be carried
// out; a drill that ran returns its report, whose Passed says whether the
// server kept its promise.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	d := &drill{opts: opts, log: opts.Logger, run: newRunID()}
	r := &Report{Run: d.run, Fault: opts.Fault, Messages: opts.Messages, Connections: opts.Connections}
	if opts.Server == nil {
		r.Mode = "self-contained"
		return d.selfContained(ctx, r)
	}
	r.Mode = "server"
	admin, err := NewAdmin(opts.Server.HTTP)
	if err != nil {
		return nil, err
	}
	d.admin, d.target = admin, *opts.Server
	if err := d.drive(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// selfContained starts a server on a fresh data directory, drives it and
// removes the directory unless the drill failed or Keep is set.
func (d *drill) selfContained(ctx context.Context, r *Report) (_ *Report, err error) {
	dir, err := os.MkdirTemp("", "casella-drill-")
	if err != nil {
		return nil, fmt.Errorf("making the drill's data directory: %w", err)
	}
	keep := d.opts.Keep
	defer func() {
		switch {
		case err != nil:
			err = fmt.Errorf("%w; the server's data and log are kept in %s", err, dir)
		case keep || !r.Passed:
			r.DataDir = dir
		default:
			os.RemoveAll(dir)
		}
	}()
	local, err := NewLocal(d.opts.Exe, dir, d.opts.Connections)
	if err != nil {
		return nil, err
	}
	d.local = local
	defer local.Kill()
	if err := local.Start(ctx); err != nil {
		return nil, err
	}
	password := rand.Text()
	if err := local.Casella(ctx, "domain", "add", LocalDomain); err != nil {
		return nil, err
	}
	if err := local.Casella(ctx, "account", "add", LocalAccount, "--password", password); err != nil {
		return nil, err
	}
	d.target = Remote{Account: LocalAccount, Password: password}
	for _, a := range []struct {
		name string
		to   *string
	}{{"smtp", &d.target.SMTP}, {"imap", &d.target.IMAP}, {"http", &d.target.HTTP}} {
		if *a.to, err = local.Addr(a.name); err != nil {
			return nil, err
		}
	}
	if d.admin, err = NewAdmin(d.target.HTTP); err != nil {
		return nil, err
	}
	if err := d.drive(ctx, r); err != nil {
		return nil, err
	}
	if err := local.Stop(); err != nil {
		return nil, err
	}
	return r, nil
}
