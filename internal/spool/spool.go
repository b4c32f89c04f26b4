// Package spool is the durable intake spool and its delivery loop, and the
// same mechanism serves as the outbound queue.
//
// On disk a spool is one directory:
//
//	queue/<id>.msg    the entry: a header line, the envelope as JSON, the message
//	queue/<id>.state  retry state (attempts, next attempt, per-recipient results)
//	tmp/              temporary files where the file system cannot write unnamed ones
//	poke/<id>         "look at this entry again now", left by Retry and Remove
//	corrupt/          entries that failed their checksum, kept for the operator
//	sent/<id>         keyed entries that left the queue, emptied (keyed.go)
//	lock              held (flock) by the process running the delivery loop
//
// Implementation notes:
//   - Enqueue returns only after the message and its envelope are on stable
//     storage: written, linked into place, and then, name and bytes, synced
//     (DESIGN.md invariant 1). The sync is a round of syncfs that
//     concurrent Enqueues, removals and the blob store's Puts share
//     (durable.Syncer, group commit); none skips one.
//   - An entry leaves the spool only after its handler succeeded for every
//     recipient. A crash between the handler's commit and the removal
//     replays the entry; handlers are idempotent by (entry id, recipient
//     index), which makes delivery exactly once. Where replays cost
//     nothing (Options.ReplaySafe), a delivered entry's removal does not
//     wait for a sync of its own (removeFiles).
//   - A failing handler never drops an entry: it is retried with
//     exponential backoff and jitter, and a circuit breaker pauses the
//     deliveries while the target keeps failing. There is one breaker per
//     cell (Recipient.Cell), and batches never mix cells: a cell whose
//     store fails pauses only its own recipients, and a cell whose calls
//     hang holds at most all workers but one.
//   - Entries are handled oldest first, and entries for one account in
//     arrival order: an account has at most one delivery in flight, and it
//     is the oldest unfinished one for that account.
//   - The message file is written once and never rewritten; retry state
//     lives in the side file, replaced atomically (package durable). A
//     lost or unreadable side file only means recipients are tried again,
//     which idempotent handlers absorb.
//   - The spool directory is the only truth: the admin CLI may list, retry
//     and remove entries while a server runs on the same directory. Its
//     changes reach the running loop through poke files.
//   - EnqueueKeyed makes a sender's own replays idempotent: an entry
//     enqueued under a key is named by it, and its name stays in sent/
//     after it left, so the key enqueues nothing twice (keyed.go).
//   - Bytes read from disk are checked: an entry whose checksum fails is
//     moved to corrupt/, never delivered damaged and never deleted. The
//     entry is named before its round, so after a power loss an Enqueue
//     that had not returned may have left one torn; it lands there too, and
//     its sender, never answered, sends the message again.
package spool

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Recipient is one forward path of an entry.
type Recipient struct {
	// Address is the recipient as given in RCPT TO.
	Address string `json:"address"`
	// Account is the resolved local account, 0 for a remote recipient.
	Account int64 `json:"account,omitempty"`
	// Tag is the subaddress tag (RFC 5233) naming a target mailbox, or "".
	Tag string `json:"tag,omitempty"`
	// Junk files the message to the recipient's Junk mailbox: the
	// author domain's DMARC policy asked for quarantine.
	Junk bool `json:"junk,omitempty"`
	// Cell is the cell that stored the account when intake accepted the
	// message, "" in embedded mode. The loop keeps a circuit breaker per
	// cell and batches recipients of one cell only; the handler still
	// routes by where the account is when it delivers.
	Cell string `json:"cell,omitempty"`
	// Forward, if not "", is the outside address an alias sends the
	// message on to (directory.Recipient.Forward); Account is then 0.
	Forward string `json:"forward,omitempty"`
	// Done is set once the handler succeeded for this recipient.
	Done bool `json:"done,omitempty"`
	// Warned is set once OnDelay told the sender the recipient is late.
	Warned bool `json:"warned,omitempty"`
	// Failed is the permanent error that finished this recipient, or "".
	Failed string `json:"failed,omitempty"`
}

// finished reports whether the loop is done with the recipient.
func (r Recipient) finished() bool { return r.Done || r.Failed != "" }

// Envelope is the SMTP envelope of an entry.
type Envelope struct {
	From       string      `json:"from"` // reverse path; "" for the null sender
	Recipients []Recipient `json:"recipients"`
	Received   time.Time   `json:"received"` // when intake accepted it
	// Auth is the authenticated submitter's address, "" for inbound mail.
	Auth string `json:"auth,omitempty"`
	// HoldUntil, when set, keeps the entry from delivery until then, so
	// that its sender may still take it back (Unsend): JMAP's sendAt and
	// undo (RFC 8621 section 7), SMTP's FUTURERELEASE (RFC 4865).
	HoldUntil time.Time `json:"holdUntil,omitzero"`
	// RequireTLS is the sender's REQUIRETLS (RFC 8689): the message
	// leaves only over TLS verified by DANE or MTA-STS, to a server
	// that takes REQUIRETLS in turn.
	RequireTLS bool `json:"requireTLS,omitempty"`
	// Submission, when set, is the JMAP EmailSubmission (RFC 8621
	// section 7) that queued the entry, whose deliveryStatus follows
	// its recipients (Options.OnStatus).
	Submission *SubmissionRef `json:"submission,omitempty"`
}

// SubmissionRef names a submission record: its account and its id.
type SubmissionRef struct {
	Account int64  `json:"account"`
	ID      string `json:"id"`
}

// due returns when the entry became due for delivery: when intake
// accepted it, or when its hold ended. Its lifetime and delay notices
// count from then, not from the time it waited by its sender's wish.
func (env Envelope) due() time.Time {
	if env.HoldUntil.After(env.Received) {
		return env.HoldUntil
	}
	return env.Received
}

// Entry is a spooled message.
type Entry struct {
	ID       string // unique, sorts by arrival time
	Envelope Envelope
	Size     int64 // of the message data

	Attempts    int
	NextAttempt time.Time // zero: due now
	LastError   string
}

// clone returns a copy of e that shares nothing mutable with it.
func (e *Entry) clone() *Entry {
	c := *e
	c.Envelope.Recipients = append([]Recipient(nil), e.Envelope.Recipients...)
	return &c
}

// Errors returned by the spool.
var (
	// ErrFull is returned by Enqueue when Options.MaxEntries or MaxBytes
	// would be exceeded; SMTP answers 452 4.3.1.
	ErrFull = errors.New("spool is full")
	// ErrNotFound is returned for an entry id that is not in the spool.
	ErrNotFound = errors.New("spool entry not found")
	// ErrPermanent, wrapped in a Handler's error, marks the recipient as
	// failed for good (a remote's 5xx). Internal failures must never wrap
	// it (DESIGN.md invariant 2).
	ErrPermanent = errors.New("permanent delivery failure")
	// ErrExpired, beside ErrPermanent, marks a recipient given up because
	// it still failed temporarily at the end of Options.Lifetime.
	ErrExpired = errors.New("retried for too long")
	// ErrDeferred, wrapped in a Handler's error, says the recipient cannot
	// take the message yet (its mailbox is over quota): the entry is
	// retried with the usual backoff, and the circuit breaker, which is
	// for failures of our storage, does not count it.
	ErrDeferred = errors.New("delivery deferred")
	// ErrReleased is returned by Unsend for an entry whose hold has
	// ended, or is too close to its end to be taken back safely.
	ErrReleased = errors.New("spool entry is no longer held")
	// ErrRunning is returned by Run when another loop already runs on the
	// directory, in this process or another.
	ErrRunning = errors.New("delivery loop already running on this spool")
)

// Handler delivers one recipient of an entry.
type Handler interface {
	// Handle delivers e to recipient index rcpt. It is called once per
	// unfinished recipient and again after a failure or a crash, so it must
	// be idempotent by (e.ID, rcpt). e and data must not be modified.
	// Several recipients of one entry may be handled concurrently.
	Handle(ctx context.Context, e *Entry, data []byte, rcpt int) error
}

// A ReplyHandler is a Handler that also tells what the receiving server
// replied when it took the recipient (RFC 5321 section 4.2), for
// Options.OnStatus; the loop calls HandleReply instead of Handle.
type ReplyHandler interface {
	Handler
	HandleReply(ctx context.Context, e *Entry, data []byte, rcpt int) (reply string, err error)
}

// A BatchHandler can also take several tasks at once, so that it can
// store them with one commit: due recipients of one account or of
// several, each account's in arrival order. Each task must stay idempotent
// by (entry id, recipient); after an error every task of the batch is
// retried, alone.
type BatchHandler interface {
	Handler
	HandleBatch(ctx context.Context, batch []Task) error
}

// Task is one recipient of one entry, handed to a BatchHandler. Entry and
// Data must not be modified.
type Task struct {
	Entry *Entry
	Data  []byte
	Rcpt  int
}

// Options configures a spool. Zero values take the documented defaults.
type Options struct {
	// MaxEntries and MaxBytes bound the spool; 0 is unlimited. MaxBytes
	// counts the entry files on disk.
	MaxEntries int
	MaxBytes   int64

	// Workers is the number of concurrent Handle calls; default 4.
	Workers int
	// Batch is the most tasks given to a BatchHandler at once; default 64.
	Batch int
	// RetryMin and RetryMax bound the exponential backoff after a failed
	// attempt; defaults 1 s and 5 min.
	RetryMin, RetryMax time.Duration
	// BreakerFailures consecutive failed attempts (of any entries) open the
	// circuit breaker for BreakerCooldown; defaults 10 and 10 s.
	BreakerFailures int
	BreakerCooldown time.Duration
	// DrainRate limits handled recipients per second; 0 is unlimited.
	DrainRate float64
	// PollInterval is how often the loop looks for Retry and Remove done by
	// another process; default 2 s. RescanInterval is how often it lists the
	// whole directory to find entries other processes added; default 1 min.
	PollInterval, RescanInterval time.Duration

	// OnPermanent, if set, is called when a Handler's error wraps
	// ErrPermanent, before the recipient is recorded as failed (so a crash
	// may call it twice, never zero times). The outbound queue sends a DSN
	// from it. If it returns an error the recipient stays unfinished and is
	// tried again later.
	OnPermanent func(e *Entry, rcpt int, err error) error
	// Lifetime, if not 0, is how long an entry is retried: a temporary
	// failure after it is permanent ("gave up after ..."). Only a queue
	// whose handler talks to other servers sets it; mail accepted for our
	// own mailboxes is never given up (DESIGN.md invariant 2).
	Lifetime time.Duration
	// WarnAfter, if not 0, is the age after which a temporary failure of a
	// recipient calls OnDelay, once per recipient. The outbound queue
	// sends a delay notice from it (RFC 3464 Action: delayed). An error
	// from OnDelay is logged and it is called again at the next failure.
	WarnAfter time.Duration
	OnDelay   func(e *Entry, rcpt int, err error) error
	// OnDelivered, if set, is called after each successful Handle with the
	// time since the entry was received.
	OnDelivered func(e *Entry, latency time.Duration)
	// OnStatus, if set, is called after each attempt of a recipient
	// whose outcome the loop recorded: err nil and the receiving
	// server's reply ("" unless the handler is a ReplyHandler) once it
	// took the message, the temporary error after a failure that is
	// retried, the permanent one once the recipient failed for good. It
	// is not called for an attempt the loop's stop interrupted. JMAP's
	// deliveryStatus follows it; it must not block for long.
	OnStatus func(e *Entry, rcpt int, reply string, err error)
	// ReplaySafe says the handler absorbs a replay at no cost, as the
	// mailbox store does by its delivery key: a delivered entry then
	// leaves without waiting for a sync of its own, and a crash that undoes
	// the removal only replays it. A queue whose handler talks to another
	// server, where a replay sends the message twice, leaves it false.
	ReplaySafe bool

	// KeyRetention is how long EnqueueKeyed remembers the key of an
	// entry that has left the queue; default 30 days.
	KeyRetention time.Duration

	// Logger receives the loop's logs; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Batch <= 0 {
		o.Batch = 64
	}
	if o.RetryMin <= 0 {
		o.RetryMin = time.Second
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(5*time.Minute, o.RetryMin)
	}
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = 10
	}
	if o.BreakerCooldown <= 0 {
		o.BreakerCooldown = 10 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.RescanInterval <= 0 {
		o.RescanInterval = time.Minute
	}
	if o.KeyRetention <= 0 {
		o.KeyRetention = 30 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Stats summarizes the spool's content, for metrics and readiness.
type Stats struct {
	Depth     int           // entries
	Bytes     int64         // size of the entry files
	OldestAge time.Duration // age of the oldest entry, 0 when empty
}

// Breaker is the state of the loop's circuit breaker.
type Breaker int

// Breaker states.
const (
	BreakerClosed   Breaker = iota // delivering
	BreakerOpen                    // paused after consecutive failures
	BreakerHalfOpen                // letting one probe through
)

func (b Breaker) String() string {
	switch b {
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "closed"
}

// worse returns the state that pauses more: open, then half-open.
func worse(a, b Breaker) Breaker {
	if a == BreakerOpen || b == BreakerOpen {
		return BreakerOpen
	}
	return max(a, b)
}

// LoopState is the delivery loop's state, for status pages and metrics.
// Breaker, ConsecutiveFailures and LastError sum up the cells': the
// worst breaker, the longest run of failures, the latest error.
type LoopState struct {
	Running             bool
	Breaker             Breaker
	ConsecutiveFailures int
	LastError           string
	LastErrorAt         time.Time
	Pending             int    // unfinished recipients known to the loop
	InFlight            int    // batches running
	Delivered           uint64 // successful Handle calls
	FailedAttempts      uint64 // Handle calls that failed temporarily
	Permanent           uint64 // recipients failed permanently
	Corrupt             uint64 // entries moved to corrupt/
	// Cells is the state of each cell the loop has seen recipients of,
	// by name ("" for recipients without a cell).
	Cells map[string]CellState
}

// CellState is the delivery loop's state for the recipients of one cell.
type CellState struct {
	Breaker             Breaker
	ConsecutiveFailures int
	LastError           string
	LastErrorAt         time.Time
	Pending             int // unfinished recipients
	InFlight            int // batches running
}
