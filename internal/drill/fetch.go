package drill

import (
	"context"
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// fetchBatch is the number of messages fetched by one FETCH command, which
// keeps each answer a few megabytes.
const fetchBatch = 500

// fetchRun reads every message of the account's INBOX over IMAP and returns
// those of the drill run, identified by their Message-ID, with the checksum
// of their bytes behind the trace headers. Messages of other runs or from
// elsewhere are counted in others.
func fetchRun(ctx context.Context, addr, user, password, run string) (found []Found, others int, err error) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("connecting to the IMAP listener %s: %w", addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	if err := c.Login(user, password).Wait(); err != nil {
		return nil, 0, fmt.Errorf("IMAP login as %s: %w", user, err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, 0, fmt.Errorf("IMAP SELECT INBOX: %w", err)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	for first := uint32(1); first <= sel.NumMessages; first += fetchBatch {
		var seq imap.SeqSet
		seq.AddRange(first, min(first+fetchBatch-1, sel.NumMessages))
		cmd := c.Fetch(seq, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}})
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			raw, err := bodyOf(msg)
			if err != nil {
				cmd.Close()
				return nil, 0, fmt.Errorf("IMAP FETCH of message %d: %w", msg.SeqNum, err)
			}
			original := StripTrace(raw)
			r, i, ok := parseMessageID(original)
			if !ok || r != run {
				others++
				continue
			}
			found = append(found, Found{Index: i, Sum: sumOf(original)})
		}
		if err := cmd.Close(); err != nil {
			return nil, 0, fmt.Errorf("IMAP FETCH %v: %w", seq, err)
		}
	}
	if err := c.Logout().Wait(); err != nil {
		return nil, 0, fmt.Errorf("IMAP LOGOUT: %w", err)
	}
	return found, others, nil
}

// bodyOf reads the BODY[] item of one fetched message.
func bodyOf(msg *imapclient.FetchMessageData) ([]byte, error) {
	for item := msg.Next(); item != nil; item = msg.Next() {
		if b, ok := item.(imapclient.FetchItemDataBodySection); ok {
			return io.ReadAll(b.Literal)
		}
	}
	return nil, fmt.Errorf("the answer has no BODY[]")
}
