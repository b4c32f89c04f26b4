package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"casella/internal/directory"
	"casella/internal/limit"
	"casella/internal/spool"
	"casella/internal/store"
)

// KeyedQueue is a spool taking mail under a key that makes it enqueue
// once (spool.Spool.EnqueueKeyed).
type KeyedQueue interface {
	EnqueueKeyed(ctx context.Context, key string, env spool.Envelope, data []byte) (id string, dup bool, err error)
	KeyUsed(ctx context.Context, key string, received time.Time) (id string, used bool, err error)
}

// Resolver finds the accounts of a local address and the address of an
// account; the directory.
type Resolver interface {
	Resolve(ctx context.Context, address string) ([]directory.Recipient, error)
	AccountByID(ctx context.Context, id store.Account) (directory.Account, error)
}

// ErrSendLimit is returned by Send when the account has used up its
// sending limit: nothing was sent.
var ErrSendLimit = errors.New("the account's sending limit is reached")

// Sender sends the mail a delivery causes: a redirected copy, a vacation
// reply, a rejection notice, a notification. Recipients in local domains
// go into the intake spool, others into the outbound queue.
//
// The delivery of a message to a recipient may run again after a crash,
// and must then send nothing twice (RFC 5228 section 2.10.6 asks the
// same of redirect). So each message is enqueued under a key made of the
// spool entry, the recipient and the action (Mail.Action), with the
// entry's receive time, which a replay repeats; the spools remember the
// key after the message left them.
type Sender struct {
	Directory Resolver
	Intake    KeyedQueue // the intake spool
	Outbound  KeyedQueue // the outbound queue, which DKIM-signs
	// Forwarder prepares the remote copies of forwarded mail (Mail.Forward).
	Forwarder *Forwarder
	// SendRate bounds recipients in other domains per account, the limit
	// submission applies ([smtp] recipients_per_hour); nil is unlimited.
	SendRate *limit.Rate
	// Hostname names this server in the messages it writes.
	Hostname string
	// Refused, if set, counts a Sieve send not performed, by reason
	// ("loop", "send_limit", "unknown_recipient", "null_sender",
	// "automatic"), for the refusal metrics.
	Refused func(reason string)
}

// Mail is one message sent by a delivery.
type Mail struct {
	// Action names the message among those of one delivery, and must be
	// the same when the delivery is replayed: "redirect/ADDRESS",
	// "vacation", "reject", "notify/URI".
	Action string
	From   string   // the envelope sender; "" is the null sender
	To     []string // envelope recipients
	Data   []byte
	// Forward marks a message passed on by Domain, one of ours: its
	// remote copy is SRS-rewritten, DKIM-signed and ARC-sealed
	// (Forwarder); local copies keep the sender.
	Forward bool
	Domain  string
	// Report marks a report about the delivered message, a DSN: it is
	// sent with that message's REQUIRETLS (RFC 8689 section 5).
	Report bool
	// Account, if not 0, is whose sending limit the remote recipients
	// count against.
	Account store.Account
}

// Sent says where a Mail went.
type Sent struct {
	IDs        []string // spool entries
	Duplicate  bool     // a replay: it was enqueued before and not again
	Unknown    []string // local recipients nobody receives; dropped
	Recipients int      // enqueued recipients, local and remote
}

// Send enqueues m as part of delivering task t. Calling it again for the
// same task and action, in this process or after a restart, enqueues
// nothing. An error is temporary: the delivery fails and is retried.
func (s *Sender) Send(ctx context.Context, t spool.Task, m Mail) (Sent, error) {
	e := t.Entry
	if m.Action == "" {
		return Sent{}, errors.New("delivery: send: mail without an action name")
	}
	var local, remote []spool.Recipient
	var sent Sent
	for _, to := range m.To {
		rs, err := s.Directory.Resolve(ctx, to)
		switch {
		case errors.Is(err, directory.ErrNotLocal):
			remote = append(remote, spool.Recipient{Address: to})
			continue
		case errors.Is(err, directory.ErrNoSuchUser), errors.Is(err, directory.ErrInvalid):
			sent.Unknown = append(sent.Unknown, to)
			continue
		case err != nil:
			return Sent{}, fmt.Errorf("delivery: entry %s: resolving %s: %w", e.ID, to, err)
		}
		for _, r := range rs {
			local = append(local, spool.Recipient{Address: to, Account: int64(r.Account.ID), Tag: r.Tag, Cell: r.Account.Cell, Forward: r.Forward})
		}
	}
	// A replay finds its keys used. Asking before the remote copy is
	// charged against the sending limit and prepared (signed, sealed)
	// makes a replay cost neither, and keeps it from failing on a limit
	// the first run used up.
	base := Key(e.ID, t.Rcpt) + "/" + m.Action
	sides := []struct {
		key   string
		to    KeyedQueue
		rcpts []spool.Recipient
		from  string
		data  []byte
		id    string
		used  bool
	}{{key: base + "/local", to: s.Intake, rcpts: local, from: m.From, data: m.Data},
		{key: base + "/remote", to: s.Outbound, rcpts: remote, from: m.From, data: m.Data}}
	for i := range sides {
		q := &sides[i]
		if len(q.rcpts) == 0 {
			continue
		}
		var err error
		if q.id, q.used, err = q.to.KeyUsed(ctx, q.key, e.Envelope.Received); err != nil {
			return Sent{}, fmt.Errorf("delivery: entry %s: sending %s: %w", e.ID, m.Action, err)
		}
	}
	if r := &sides[1]; len(r.rcpts) > 0 && !r.used {
		if err := s.allow(ctx, m.Account, len(r.rcpts)); err != nil {
			return Sent{}, err
		}
		if m.Forward {
			var err error
			if r.from, r.data, err = s.Forwarder.Forward(ctx, m.From, m.Domain, m.Data); err != nil {
				return Sent{}, fmt.Errorf("delivery: entry %s: %w", e.ID, err)
			}
		}
	}
	for _, q := range sides {
		if len(q.rcpts) == 0 {
			continue
		}
		if !q.used {
			// A forwarded copy keeps the sender's REQUIRETLS: the
			// message was tagged when it was taken (RFC 8689 section
			// 4.1), and a tagged message goes on only so (section
			// 4.2.1); a DSN about it carries its header and must be
			// as protected (section 5); our other messages are new ones.
			env := spool.Envelope{From: q.from, Recipients: q.rcpts, Received: e.Envelope.Received,
				RequireTLS: (m.Forward || m.Report) && e.Envelope.RequireTLS}
			var err error
			if q.id, q.used, err = q.to.EnqueueKeyed(ctx, q.key, env, q.data); err != nil {
				return Sent{}, fmt.Errorf("delivery: entry %s: sending %s to %s: %w", e.ID, m.Action, addresses(q.rcpts), err)
			}
		}
		sent.IDs = append(sent.IDs, q.id)
		sent.Duplicate = sent.Duplicate || q.used
		sent.Recipients += len(q.rcpts)
	}
	return sent, nil
}

// refused counts a send not performed.
func (s *Sender) refused(reason string) {
	if s.Refused != nil {
		s.Refused(reason)
	}
}

// allow takes n recipients from the account's sending limit, or
// returns ErrSendLimit.
func (s *Sender) allow(ctx context.Context, acct store.Account, n int) error {
	if acct == 0 || n == 0 || s.SendRate == nil {
		return nil
	}
	a, err := s.Directory.AccountByID(ctx, acct)
	if err != nil {
		return fmt.Errorf("delivery: account %d: %w", acct, err)
	}
	for range n {
		if !s.SendRate.Allow(a.Address) {
			return fmt.Errorf("%w (%s)", ErrSendLimit, a.Address)
		}
	}
	return nil
}

func addresses(rs []spool.Recipient) string {
	as := make([]string, len(rs))
	for i, r := range rs {
		as[i] = r.Address
	}
	return strings.Join(as, ", ")
}
