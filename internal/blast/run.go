package blast

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

	"casella/internal/drill"
	"casella/internal/localcluster"
)

// sender is the envelope and header sender of the load.
const sender = "load@remote.test"

// Options configures a cluster drill. Zero values take the defaults.
type Options struct {
	Exe         string // the casella binary that runs the nodes
	Messages    int    // default 10000
	Connections int    // default 20, spread over the nodes
	// Rounds is the least number of probing rounds during the outage;
	// each round runs an IMAP and a POP3 session for the account of each
	// cell on each node. Default 3.
	Rounds int
	// Keep keeps the cluster's directory; it is also kept when the drill
	// fails.
	Keep         bool
	DrainTimeout time.Duration // default 10 min
	// Progress receives a line at every step; nil for none.
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
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Exe == "" {
		return errors.New("no casella binary to run the nodes")
	}
	return nil
}

// Report is the result of a cluster drill.
type Report struct {
	Run         string `json:"run"` // in every Message-ID
	Messages    int    `json:"messages"`
	Connections int    `json:"connections"`
	Nodes       int    `json:"nodes"`
	FailedCell  string `json:"failedCell"` // the cell whose PostgreSQL was stopped

	Sent        int `json:"sent"`
	Accepted    int `json:"accepted"`    // 250
	Deferred    int `json:"deferred"`    // 4xx
	Rejected    int `json:"rejected"`    // 5xx; must be 0
	Interrupted int `json:"interrupted"` // connection lost before the reply

	Cells map[string]Tally `json:"cells"` // by cell
	Tally                  // all cells

	// Commands of the other cells' sessions during the outage: every one
	// must be answered OK.
	HealthyOK     int `json:"healthyCommandsOK"`
	HealthyFailed int `json:"healthyCommandsFailed"`
	// Sessions of the failed cell during the outage: each must end in a
	// temporary error.
	FailedTemporary int `json:"failedCellTemporaryErrors"`
	FailedOther     int `json:"failedCellOtherAnswers"`

	OutageAt      float64 `json:"outageAt"`      // seconds into the load
	OutageSeconds float64 `json:"outageSeconds"` // from the stop to the restart
	DrainSeconds  float64 `json:"drainSeconds"`  // from the restart to empty spools

	Passed   bool     `json:"passed"`
	Problems []string `json:"problems"`
	DataDir  string   `json:"dataDir,omitempty"`
}

// Run starts a local cluster in a new directory, runs the blast-radius
// drill on it and stops it. An error means the drill could not be carried
// out; a drill that ran returns its report, whose Passed says whether the
// cluster kept its promise.
func Run(ctx context.Context, opts Options) (_ *Report, err error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "casella-drill-cluster-")
	if err != nil {
		return nil, fmt.Errorf("making the cluster's directory: %w", err)
	}
	r := &Report{Run: strings.ToLower(rand.Text()[:10]), Messages: opts.Messages, Connections: opts.Connections}
	defer func() {
		switch {
		case err != nil:
			err = fmt.Errorf("%w; the cluster's data and logs are kept in %s", err, dir)
		case opts.Keep || !r.Passed:
			r.DataDir = dir
		default:
			os.RemoveAll(dir)
		}
	}()
	cl, err := localcluster.Start(ctx, opts.Exe, dir, 2, opts.Progress)
	if err != nil {
		return nil, err
	}
	defer cl.Stop()
	if err := drive(ctx, opts, cl, r); err != nil {
		return nil, err
	}
	return r, cl.Stop()
}

// node is what the drill uses of a node.
type node struct {
	smtp, imap, pop3 string
	admin            *drill.Admin
}

func nodesOf(cl *localcluster.Cluster) ([]node, error) {
	var ns []node
	for i, l := range cl.Nodes {
		var n node
		var http string
		for _, a := range []struct {
			name string
			to   *string
		}{{"smtp", &n.smtp}, {"imap", &n.imap}, {"pop3", &n.pop3}, {"http", &http}} {
			addr, err := l.Addr(a.name)
			if err != nil {
				return nil, fmt.Errorf("node %d: %w", i+1, err)
			}
			*a.to = addr
		}
		admin, err := drill.NewAdmin(http)
		if err != nil {
			return nil, err
		}
		n.admin = admin
		ns = append(ns, n)
	}
	return ns, nil
}

// drive runs the load, stops the failed cell's PostgreSQL when a third of
// it is sent, probes the sessions of every cell until two thirds are sent
// and Rounds rounds are done, starts the PostgreSQL again, waits for the
// spools to drain and checks every mailbox.
func drive(ctx context.Context, opts Options, cl *localcluster.Cluster, r *Report) error {
	out := opts.Progress
	nodes, err := nodesOf(cl)
	if err != nil {
		return err
	}
	r.Nodes = len(nodes)
	r.FailedCell = localcluster.Cells[0]
	pg := cl.PG[r.FailedCell]
	spec := LoadSpec{From: sender, Connections: opts.Connections, Max: int64(opts.Messages)}
	for _, n := range nodes {
		spec.SMTP = append(spec.SMTP, n.smtp)
	}
	for _, a := range cl.Accounts {
		spec.Rcpts = append(spec.Rcpts, a.Address)
	}
	spec.Compose = func(i int64, rcpt string) (string, []byte) {
		id := fmt.Sprintf("%s.%d", r.Run, i)
		return id, compose(id, rcpt, i)
	}
	load := NewLoad(spec)
	stop := make(chan struct{})
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()
	results := make(chan []Result, 1)
	start := time.Now()
	go func() { results <- load.Run(stop) }()
	fmt.Fprintf(out, "sending %d messages to %d accounts over %d connections through %d nodes\n", opts.Messages, len(spec.Rcpts), opts.Connections, len(nodes))

	sent := func(fraction float64) bool { return load.Started() >= int64(fraction*float64(opts.Messages)) }
	for !sent(1.0 / 3) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := pg.Stop("immediate"); err != nil {
		return fmt.Errorf("stopping cell %s's PostgreSQL: %w", r.FailedCell, err)
	}
	down := time.Now()
	r.OutageAt = down.Sub(start).Seconds()
	fmt.Fprintf(out, "cell %s's PostgreSQL stopped (immediate) after %d messages\n", r.FailedCell, load.Started())
	for round := 0; round < opts.Rounds || !sent(2.0/3); round++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		probe(opts, cl, nodes, r, round)
	}
	if err := pg.Restart(); err != nil {
		return fmt.Errorf("starting cell %s's PostgreSQL again: %w", r.FailedCell, err)
	}
	up := time.Now()
	r.OutageSeconds = up.Sub(down).Seconds()
	fmt.Fprintf(out, "cell %s's PostgreSQL started again after %.1f s; cell %s sessions: %d commands OK, %d failed; cell %s: %d temporary errors\n",
		r.FailedCell, r.OutageSeconds, strings.Join(localcluster.Cells[1:], ", "), r.HealthyOK, r.HealthyFailed, r.FailedCell, r.FailedTemporary)

	var rs []Result
	select {
	case rs = <-results:
	case <-ctx.Done():
		return ctx.Err()
	}
	for i, n := range nodes {
		if err := drain(ctx, n.admin, opts.DrainTimeout); err != nil {
			return fmt.Errorf("node %d: %w", i+1, err)
		}
	}
	r.DrainSeconds = time.Since(up).Seconds()
	fmt.Fprintf(out, "spools drained %.1f s after the restart; reading every mailbox\n", r.DrainSeconds)

	for _, res := range rs {
		r.Sent++
		switch {
		case res.Code == 250:
			r.Accepted++
		case res.Code == 0:
			r.Interrupted++
		case res.Code >= 500:
			r.Rejected++
			r.Problems = append(r.Problems, fmt.Sprintf("message %s to %s refused: %v", res.ID, res.Rcpt, res.Err))
		default:
			r.Deferred++
		}
	}
	r.Cells = map[string]Tally{}
	for _, a := range cl.Accounts {
		t, err := Check(ctx, nodes[0].imap, a.Address, a.Password, rs)
		if err != nil {
			return err
		}
		ct := r.Cells[a.Cell]
		ct.Add(t)
		r.Cells[a.Cell] = ct
		r.Tally.Add(t)
	}
	if r.Rejected > 0 {
		r.Problems = append([]string{fmt.Sprintf("%d rejected with 5xx", r.Rejected)}, r.Problems...)
	}
	r.Problems = append(r.Problems, r.Tally.Problems()...)
	if r.Problems == nil {
		r.Problems = []string{}
	}
	r.Passed = len(r.Problems) == 0
	return nil
}

// probe runs one round of sessions on every node during the outage: those
// of the healthy cells must work, those of the failed cell must get
// temporary errors.
func probe(opts Options, cl *localcluster.Cluster, nodes []node, r *Report, round int) {
	for i, n := range nodes {
		for _, a := range cl.Accounts {
			ok, err := SessionCheck(n.imap, n.pop3, a.Address, a.Password)
			switch {
			case a.Cell != r.FailedCell:
				r.HealthyOK += ok
				if err != nil {
					r.HealthyFailed++
					r.Problems = append(r.Problems, fmt.Sprintf("round %d: cell %s's session on node %d failed during the outage: %v", round+1, a.Cell, i+1, err))
				}
			case err == nil:
				r.FailedOther++
				r.Problems = append(r.Problems, fmt.Sprintf("round %d: cell %s's session on node %d worked though its PostgreSQL was down", round+1, a.Cell, i+1))
			case Temporary(err):
				r.FailedTemporary++
			default:
				r.FailedOther++
				r.Problems = append(r.Problems, fmt.Sprintf("round %d: cell %s's session on node %d failed without a temporary error: %v", round+1, a.Cell, i+1, err))
			}
			opts.Logger.Info("probe", "round", round+1, "node", i+1, "cell", a.Cell, "ok", ok, "err", err)
		}
	}
}

// drain waits until the node's intake spool is empty.
func drain(ctx context.Context, admin *drill.Admin, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		depth, err := admin.InboundDepth(ctx)
		if err == nil && depth == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("the status did not answer for %v: %w", timeout, err)
			}
			return fmt.Errorf("the spool still holds %d messages after %v; see the node's log", depth, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// compose makes message i of the load: a plain text message whose body
// is 1 to 70 lines naming it, so that sizes vary.
func compose(id, rcpt string, i int64) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Casella drill <%s>\r\nTo: <%s>\r\nSubject: Cluster drill, message %d\r\n", sender, rcpt, i)
	fmt.Fprintf(&b, "Message-ID: <%s@drill.test>\r\nDate: %s\r\n", id, time.Now().UTC().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	for line := range 1 + i%70 {
		fmt.Fprintf(&b, "Message %s, line %d: the blast radius of a failed cell is that cell.\r\n", id, line)
	}
	return []byte(b.String())
}
