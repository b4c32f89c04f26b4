package drill

import (
	"context"
	"fmt"
	"os"
	"time"
)

// progress writes a line about the load and the spool every second until
// ctx is done. On a terminal the line is rewritten in place.
func (d *drill) progress(ctx context.Context, ld *load, start time.Time) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	begin, end := "", "\n"
	if f, ok := d.opts.Progress.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			begin, end = "\r", "\x1b[K"
		}
	}
	line := func(depth int) {
		d.mu.Lock()
		state := d.state
		d.mu.Unlock()
		spool := "?"
		if depth >= 0 {
			spool = fmt.Sprint(depth)
		}
		fmt.Fprintf(d.opts.Progress, "%sdrill %4.0fs: sent %d/%d  accepted %d  4xx %d  5xx %d  interrupted %d  spool %s  [%s]%s",
			begin, time.Since(start).Seconds(), ld.started(), d.opts.Messages,
			ld.outcomes(Accepted), ld.outcomes(Deferred), ld.outcomes(Rejected), ld.outcomes(Interrupted),
			spool, state, end)
	}
	for {
		select {
		case <-ctx.Done():
			// A last line, so that a drill shorter than a tick shows
			// where it ended too.
			if d.opts.Progress != nil {
				line(-1)
				if end != "\n" {
					fmt.Fprint(d.opts.Progress, "\n")
				}
			}
			return
		case <-t.C:
		}
		depth := d.currentDepth(ctx)
		if depth >= 0 {
			d.sawDepth(depth)
		}
		if d.opts.Progress != nil {
			line(depth)
		}
	}
}
