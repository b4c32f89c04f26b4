package drill

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"casella/internal/faults"
)

// pollInterval is how often the drill looks at the load and the spool.
const pollInterval = 20 * time.Millisecond

// drill is one run in progress.
type drill struct {
	opts   Options
	log    *slog.Logger
	run    string
	target Remote
	admin  *Admin
	local  *Local // nil when driving a given server

	mu       sync.Mutex
	state    string // the fault in force, or what the kill loop does
	depth    int    // last spool depth seen, -1 when the server did not answer
	peak     int
	kills    int
	killsErr error
}

// drive sends the load, applies the fault schedule, waits for the spool to
// drain and verifies the mailbox, filling in r.
func (d *drill) drive(ctx context.Context, r *Report) error {
	fault := faults.None
	switch d.opts.Fault {
	case FaultError:
		fault = faults.Error
	case FaultHang:
		fault = faults.Hang
	}
	if fault != faults.None {
		// Fail early, with the server's answer, when it does not allow
		// fault injection; and start from a server without faults.
		if _, err := d.admin.Clear(ctx, faults.TargetStore); err != nil {
			return err
		}
	}
	seed := rand.Uint64()
	ld := newLoad(loadSpec{
		Addr:        d.target.SMTP,
		From:        sender,
		To:          d.target.Account,
		Messages:    d.opts.Messages,
		Connections: d.opts.Connections,
		Compose:     newComposer(d.run, seed, sender, d.target.Account, time.Now()),
	})
	d.setState("no fault")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	loadDone := make(chan error, 1)
	go func() { loadDone <- ld.run(ctx) }()
	progressDone := make(chan struct{})
	go func() { d.progress(ctx, ld, start); close(progressDone) }()
	defer func() { cancel(); <-progressDone }()

	var killsDone chan struct{}
	if d.opts.Fault == FaultKill {
		killsDone = make(chan struct{})
		go func() { d.killLoop(ctx, ld, loadDone); close(killsDone) }()
	}

	var loadErr error
	if fault != faults.None {
		var err error
		loadErr, err = d.schedule(ctx, r, ld, loadDone, fault, start)
		if err != nil {
			return err
		}
	} else {
		loadErr = <-loadDone
	}
	if loadErr != nil {
		return fmt.Errorf("the load stopped: %w", loadErr)
	}
	loadEnd := time.Now()
	r.IngestSeconds = loadEnd.Sub(start).Seconds()
	r.IngestRate = float64(ld.outcomes(Accepted)) / r.IngestSeconds

	backlog, err := d.waitDepth(ctx, -1, time.Minute)
	if err != nil {
		return err
	}
	r.Backlog = backlog
	if killsDone != nil {
		select {
		case <-killsDone:
		case <-ctx.Done():
			return ctx.Err()
		}
		d.mu.Lock()
		r.Kills, err = d.kills, d.killsErr
		d.mu.Unlock()
		if err != nil {
			return err
		}
	}
	d.setState("draining")
	if _, err := d.waitDepth(ctx, 0, d.opts.DrainTimeout); err != nil {
		return err
	}
	r.DrainSeconds = time.Since(loadEnd).Seconds()
	if r.Backlog > 0 {
		r.DrainRate = float64(r.Backlog) / r.DrainSeconds
	}
	d.setState("verifying")

	found, others, err := fetchRun(ctx, d.target.IMAP, d.target.Account, d.target.Password, d.run)
	if err != nil {
		return err
	}
	r.Counts = Tally(ld.results(), found)
	r.OtherMessages = others
	r.Problems = r.Counts.Problems()
	if r.Problems == nil {
		r.Problems = []string{}
	}
	d.mu.Lock()
	r.PeakDepth = d.peak
	d.mu.Unlock()
	r.Passed = len(r.Problems) == 0
	return nil
}

// schedule injects fault into the mailbox store when FaultStart of the
// messages have been sent and clears it at FaultEnd, or after the load. It
// returns the load's error once the load is over and the fault cleared.
func (d *drill) schedule(ctx context.Context, r *Report, ld *load, loadDone <-chan error, fault faults.Fault, start time.Time) (loadErr error, err error) {
	n := d.opts.Messages
	injectAt := int(math.Ceil(d.opts.FaultStart * float64(n)))
	clearAt := int(math.Ceil(d.opts.FaultEnd * float64(n)))
	finished := false
	reached := func(count int) bool {
		t := time.NewTicker(pollInterval)
		defer t.Stop()
		for !finished && ld.started() < count {
			select {
			case loadErr = <-loadDone:
				finished = true
			case <-t.C:
			case <-ctx.Done():
				return false
			}
		}
		return true
	}
	if !reached(injectAt) {
		return nil, ctx.Err()
	}
	if _, err := d.admin.Inject(ctx, faults.TargetStore, fault); err != nil {
		return nil, fmt.Errorf("injecting the fault: %w", err)
	}
	r.FaultInjectedAt = time.Since(start).Seconds()
	d.setState("store " + fault.String())
	d.log.Info("fault injected", "fault", fault, "sent", ld.started())
	if d.opts.FaultEnd >= 1 {
		clearAt = math.MaxInt
	}
	if !reached(clearAt) {
		return nil, ctx.Err()
	}
	if _, err := d.admin.Clear(ctx, faults.TargetStore); err != nil {
		return nil, fmt.Errorf("clearing the fault: %w", err)
	}
	r.FaultClearedAt = time.Since(start).Seconds()
	d.setState("fault cleared")
	d.log.Info("fault cleared", "sent", ld.started())
	if !finished {
		select {
		case loadErr = <-loadDone:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return loadErr, nil
}

// killLoop kills the server at random moments 200 ms to 1 s apart and
// starts it again, Kills times, during the load and the drain. It stops
// early once the load is over and the spool is empty.
func (d *drill) killLoop(ctx context.Context, ld *load, loadDone <-chan error) {
	for k := 0; k < d.opts.Kills; k++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(200+rand.IntN(800)) * time.Millisecond):
		}
		if ld.started() >= d.opts.Messages && d.currentDepth(ctx) == 0 {
			return
		}
		d.local.Kill()
		d.setState(fmt.Sprintf("killed %d/%d", k+1, d.opts.Kills))
		d.log.Info("server killed", "kill", k+1, "sent", ld.started())
		err := d.local.Start(ctx)
		d.mu.Lock()
		d.kills++
		d.killsErr = err
		d.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// currentDepth returns the spool depth, or -1 when the server does not
// answer.
func (d *drill) currentDepth(ctx context.Context) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	depth, err := d.admin.InboundDepth(ctx)
	if err != nil {
		return -1
	}
	return depth
}

// waitDepth polls the spool until its depth is want, or until the server
// answers at all when want is negative, and returns the depth.
func (d *drill) waitDepth(ctx context.Context, want int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		depth, err := d.admin.InboundDepth(ctx)
		if err == nil {
			d.sawDepth(depth)
			if want < 0 || depth == want {
				return depth, nil
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return 0, fmt.Errorf("the server's status did not answer for %v: %w", timeout, err)
			}
			return 0, fmt.Errorf("the spool still holds %d messages after %v; see the server's log", depth, timeout)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(pollInterval * 5):
		}
	}
}

func (d *drill) setState(s string) {
	d.mu.Lock()
	d.state = s
	d.mu.Unlock()
}

func (d *drill) sawDepth(depth int) {
	d.mu.Lock()
	d.depth = depth
	d.peak = max(d.peak, depth)
	d.mu.Unlock()
}
