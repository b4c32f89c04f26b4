package delivery

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"casella/internal/directory"
	"casella/internal/message"
	"casella/internal/spool"
	"casella/internal/store"
)

// failure is a script's run-time failure.
type failure struct {
	script string   // the active script's name; "" when only the global script ran
	sum    [32]byte // the digest of its source: the version that failed
	err    error
}

// failureNotice counts a failure, records it for ManageSieve and JMAP to
// show, and returns the message that tells the account's owner about it,
// or nil when the administrator's script failed. The owner is told once per version of the script per day: the
// notice's delivery key names both, and the store files a key once, so
// other deliveries of the day, a replay or another node add nothing.
func (d *Deliverer) failureNotice(ctx context.Context, t spool.Task, f *failure) (*store.Delivery, error) {
	if d.Filters.Failed != nil {
		d.Filters.Failed()
	}
	if f.script == "" {
		return nil, nil
	}
	r := t.Entry.Envelope.Recipients[t.Rcpt]
	now := d.received(t).UTC()
	if m := d.Filters.Memory; m != nil {
		if err := directory.RecordSieveFailure(ctx, m, store.Account(r.Account), f.script, f.sum, f.err.Error(), now); err != nil {
			d.logger().Warn("sieve: recording the script's failure for ManageSieve and JMAP", "account", r.Account, "err", err)
		}
	}
	key := fmt.Sprintf("sieve-failure/%d/%s/%s", r.Account, hex.EncodeToString(f.sum[:8]), now.Format(time.DateOnly))
	_, domain, _ := strings.Cut(r.Address, "@")
	raw := []byte(crlf(fmt.Sprintf(`From: Mail system <postmaster@%s>
To: <%s>
Subject: Your Sieve filter %q failed
Date: %s
Message-ID: <%s@%s>
Auto-Submitted: auto-generated
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Your active Sieve filter %q stopped with an error while it sorted a
message that arrived at %s:

    %s

The message was kept in your INBOX, as is every message the filter
fails on, so no mail is lost. Fix the filter with your ManageSieve or
JMAP client (the error names the line and column); you get this notice
at most once a day for each version of the filter.
`, domain, oneLine(r.Address), f.script, now.Format(time.RFC1123Z), hex.EncodeToString(f.sum[:12])+"."+now.Format("20060102"), domain,
		f.script, now.Format(time.RFC1123Z), oneLine(f.err.Error()))))
	k, err := d.Blobs.Put(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("delivery: entry %s: store the sieve failure notice: %w", t.Entry.ID, err)
	}
	return &store.Delivery{Key: key, Account: store.Account(r.Account),
		Message: store.NewMessage{Blob: k, Size: int64(len(raw)), Internal: now, Meta: message.Parse(raw)}}, nil
}
