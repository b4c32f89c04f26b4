package loadgen

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// MailboxOptions configures the large-mailbox measurement.
type MailboxOptions struct {
	Server   Conn
	User     string
	Password string
	Mailbox  string // created if missing
	// Messages is how many messages the mailbox must hold; the missing
	// ones are appended first.
	Messages int
	Size     SizeRange
	// Appenders is how many connections append at once; default 4.
	Appenders int
	// Repeat is how many times each timed command runs; default 3.
	Repeat   int
	Progress io.Writer
}

// MailboxReport is what the large-mailbox measurement found.
type MailboxReport struct {
	Server   string `json:"server"`
	Mailbox  string `json:"mailbox"`
	Messages int    `json:"messages"` // in the mailbox when timed
	Appended int    `json:"appended"`
	// AppendPerSecond is the rate of the appends that filled the mailbox.
	AppendPerSecond float64 `json:"append_per_second,omitempty"`
	// Commands are SELECT, UID FETCH 1:* (FLAGS), UID SEARCH SINCE and,
	// when the server has SORT (RFC 5256), UID SORT (REVERSE DATE).
	Commands []Stat `json:"commands"`
	// Skipped names the commands the server does not have.
	Skipped []string  `json:"skipped,omitempty"`
	Started time.Time `json:"started"`
}

// Timed commands of the large mailbox, as they appear in reports.
const (
	opBigSelect = "SELECT"
	opBigFetch  = "UID FETCH 1:* (FLAGS)"
	opBigSearch = "UID SEARCH SINCE"
	opBigSort   = "UID SORT (REVERSE DATE)"
)

// spread is how far back the internal dates of appended messages go;
// UID SEARCH SINCE asks for the last sinceDays of it.
const (
	spread    = 365 * 24 * time.Hour
	sinceDays = 30
)

func (o *MailboxOptions) check() error {
	switch {
	case o.Server.Addr == "":
		return errors.New("no IMAP server address given")
	case o.User == "":
		return errors.New("no account given")
	case o.Messages < 1:
		return fmt.Errorf("the number of messages must be at least 1, not %d", o.Messages)
	case o.Size.Min < 1:
		return errors.New("no message size given")
	}
	if o.Mailbox == "" {
		o.Mailbox = "INBOX"
	}
	if o.Appenders < 1 {
		o.Appenders = 4
	}
	if o.Repeat < 1 {
		o.Repeat = 3
	}
	return nil
}

// Mailbox fills a mailbox to o.Messages messages, then times the commands
// whose cost grows with the size of a mailbox, each on a new connection so
// that no client-side state helps.
func Mailbox(ctx context.Context, o MailboxOptions) (*MailboxReport, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	r := &MailboxReport{Server: o.Server.Addr, Mailbox: o.Mailbox, Started: time.Now()}
	c, err := login(ctx, o.Server.For(0), o.User, o.Password)
	if err != nil {
		return nil, err
	}
	have, err := count(c, o.Mailbox)
	if err != nil {
		c.Close()
		return nil, err
	}
	hasSort := c.Caps().Has(imap.CapSort)
	c.Logout().Wait()
	c.Close()

	if missing := o.Messages - have; missing > 0 {
		start := time.Now()
		if err := fill(ctx, o, missing); err != nil {
			return nil, err
		}
		r.Appended = missing
		r.AppendPerSecond = float64(missing) / time.Since(start).Seconds()
	}

	rec := newRecorder(opBigSelect, opBigFetch, opBigSearch)
	if hasSort {
		rec.see(opBigSort)
	} else {
		r.Skipped = append(r.Skipped, opBigSort+": the server does not announce SORT")
	}
	since := time.Now().AddDate(0, 0, -sinceDays)
	for i := range o.Repeat {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "mailbox: timing round %d/%d\n", i+1, o.Repeat)
		}
		n, err := timeRound(ctx, o, rec, since, hasSort)
		if err != nil {
			return nil, err
		}
		r.Messages = n
	}
	r.Commands = rec.stats(0)
	return r, nil
}

// count returns the number of messages in mailbox, creating it if it is
// missing.
func count(c *imapclient.Client, mailbox string) (int, error) {
	st, err := c.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
	if err == nil && st.NumMessages != nil {
		return int(*st.NumMessages), nil
	}
	if err := c.Create(mailbox, nil).Wait(); err != nil {
		return 0, fmt.Errorf("creating mailbox %q: %w", mailbox, err)
	}
	return 0, nil
}

// fill appends n messages over o.Appenders connections, with internal
// dates spread over the last year.
func fill(ctx context.Context, o MailboxOptions, n int) error {
	var next, done atomic.Int64
	stop := ticker(ctx, o.Progress, func(el time.Duration) string {
		d := done.Load()
		return fmt.Sprintf("mailbox %4.0fs: appended %d/%d  %.0f msg/s", el.Seconds(), d, n, float64(d)/el.Seconds())
	})
	defer stop()
	run := cryptorand.Text()[:8]
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	now := time.Now()
	var wg sync.WaitGroup
	for w := range o.Appenders {
		wg.Go(func() {
			c, err := login(ctx, o.Server.For(0), o.User, o.Password)
			if err != nil {
				cancel(err)
				return
			}
			defer c.Close()
			rnd := rand.New(rand.NewPCG(uint64(w), uint64(now.UnixNano())))
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					c.Logout().Wait()
					return
				}
				date := now.Add(-time.Duration(rnd.Int64N(int64(spread))))
				msg := compose(rnd, run, i, o.User, o.User, date, o.Size.pick(rnd))
				if err := appendMessage(c, o.Mailbox, msg, date); err != nil {
					cancel(fmt.Errorf("appending message %d to %q: %w", i, o.Mailbox, err))
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

func appendMessage(c *imapclient.Client, mailbox string, msg []byte, date time.Time) error {
	cmd := c.Append(mailbox, int64(len(msg)), &imap.AppendOptions{Time: date})
	if _, err := cmd.Write(msg); err != nil {
		cmd.Close()
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

// timeRound runs each timed command once on a fresh connection and
// returns the number of messages SELECT reported.
func timeRound(ctx context.Context, o MailboxOptions, rec *recorder, since time.Time, hasSort bool) (int, error) {
	c, err := login(ctx, o.Server.For(0), o.User, o.Password)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var n int
	type step struct {
		op  string
		run func() error
	}
	steps := []step{
		{opBigSelect, func() error {
			d, err := c.Select(o.Mailbox, nil).Wait()
			if err == nil {
				n = int(d.NumMessages)
			}
			return err
		}},
		{opBigFetch, func() error {
			// Streamed and dropped: the client's memory must not
			// be what is measured.
			var all imap.UIDSet
			all.AddRange(1, 0) // 1:*
			cmd := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true})
			for cmd.Next() != nil {
			}
			return cmd.Close()
		}},
		{opBigSearch, func() error {
			_, err := c.UIDSearch(&imap.SearchCriteria{Since: since}, nil).Wait()
			return err
		}},
	}
	if hasSort {
		steps = append(steps, step{opBigSort, func() error {
			_, err := c.UIDSort(&imapclient.SortOptions{
				SearchCriteria: &imap.SearchCriteria{},
				SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeyDate, Reverse: true}},
			}).Wait()
			return err
		}})
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.run(); err != nil {
			rec.fail(s.op)
			return 0, fmt.Errorf("%s on mailbox %q: %w", s.op, o.Mailbox, err)
		}
		rec.observe(s.op, time.Since(start))
	}
	c.Logout().Wait()
	return n, nil
}
