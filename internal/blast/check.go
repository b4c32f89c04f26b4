package blast

import (
	"bytes"
	"context"
	"fmt"
	"regexp"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"casella/internal/drill"
)

// fetchBatch is the number of messages one FETCH asks for, which keeps
// each answer a few megabytes.
const fetchBatch = 200

// Tally is what one mailbox holds of what the load sent to it.
type Tally struct {
	Accepted   int `json:"accepted"`   // answered 250
	Delivered  int `json:"delivered"`  // sent messages found, once each
	Lost       int `json:"lost"`       // accepted, not found; must be 0
	Duplicated int `json:"duplicated"` // copies beyond the first; must be 0
	Mismatched int `json:"mismatched"` // found with other bytes than sent; must be 0
	Unexpected int `json:"unexpected"` // found though refused (4xx, 5xx); must be 0
	Others     int `json:"others"`     // found, not sent by this load
}

// Add adds u to t.
func (t *Tally) Add(u Tally) {
	t.Accepted += u.Accepted
	t.Delivered += u.Delivered
	t.Lost += u.Lost
	t.Duplicated += u.Duplicated
	t.Mismatched += u.Mismatched
	t.Unexpected += u.Unexpected
	t.Others += u.Others
}

var messageID = regexp.MustCompile(`(?im)^Message-ID:[ \t]*<([^@>]+)@[^>]*>\r$`)

// Check reads every message of user's INBOX over IMAP on addr and
// compares it with the results of the load for user (see counter).
func Check(ctx context.Context, addr, user, password string, results []Result) (Tally, error) {
	c := newCounter(user, results)
	if err := fetchAll(ctx, addr, user, password, c.add); err != nil {
		return Tally{}, err
	}
	return c.tally(), nil
}

// counter compares the messages of one mailbox with what the load sent
// to it: each accepted message must be there exactly once, byte for byte,
// behind the trace fields the server prepends; one whose reply was lost
// may be there, once; a refused one must not be, since its sender sends
// it again.
type counter struct {
	t      Tally
	sent   map[string]Result
	copies map[string]int
}

func newCounter(user string, results []Result) *counter {
	c := &counter{sent: map[string]Result{}, copies: map[string]int{}}
	for _, r := range results {
		if r.Rcpt != user {
			continue
		}
		c.sent[r.ID] = r
		if r.Code == 250 {
			c.t.Accepted++
		}
	}
	return c
}

// add counts one stored message.
func (c *counter) add(stored []byte) {
	original := drill.StripTrace(stored)
	header := original
	if end := bytes.Index(original, []byte("\r\n\r\n")); end >= 0 {
		header = original[:end+2]
	}
	m := messageID.FindSubmatch(header)
	if m == nil {
		c.t.Others++
		return
	}
	r, ok := c.sent[string(m[1])]
	switch {
	case !ok:
		c.t.Others++
		return
	case r.Code != 250 && r.Code != 0:
		c.t.Unexpected++
		return
	case !bytes.Equal(original, r.Data):
		c.t.Mismatched++
	}
	c.copies[r.ID]++
}

// tally returns the counts once every message is added.
func (c *counter) tally() Tally {
	t := c.t
	for _, n := range c.copies {
		t.Delivered++
		t.Duplicated += n - 1
	}
	for id, r := range c.sent {
		if r.Code == 250 && c.copies[id] == 0 {
			t.Lost++
		}
	}
	return t
}

// fetchAll calls f with every message of user's INBOX.
func fetchAll(ctx context.Context, addr, user, password string, f func([]byte)) error {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return fmt.Errorf("connecting to the IMAP listener %s: %w", addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.Login(user, password).Wait(); err != nil {
		return fmt.Errorf("IMAP login as %s: %w", user, err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return fmt.Errorf("IMAP SELECT INBOX of %s: %w", user, err)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	for first := uint32(1); first <= sel.NumMessages; first += fetchBatch {
		var seq imap.SeqSet
		seq.AddRange(first, min(first+fetchBatch-1, sel.NumMessages))
		msgs, err := c.Fetch(seq, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			return fmt.Errorf("IMAP FETCH %v of %s: %w", seq, user, err)
		}
		for _, m := range msgs {
			f(m.FindBodySection(section))
		}
	}
	return c.Logout().Wait()
}

// Problems lists, in words, every way in which t breaks the promise.
func (t Tally) Problems() []string {
	var p []string
	add := func(n int, what string) {
		if n > 0 {
			p = append(p, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(t.Lost, "accepted but lost")
	add(t.Duplicated, "delivered more than once")
	add(t.Mismatched, "delivered with other bytes than sent")
	add(t.Unexpected, "delivered though refused")
	return p
}
