package directory

import (
	"context"
	"errors"
	"time"

	"casella/internal/store"
)

// Undo statuses of a submission (RFC 8621 section 7).
const (
	UndoPending  = "pending"  // held in a queue until SendAt; may be canceled
	UndoFinal    = "final"    // left, or about to leave: no longer canceled
	UndoCanceled = "canceled" // taken back before it left
)

// Submission is the durable record of an email sent over JMAP
// (EmailSubmission, RFC 8621 section 7), kept so that its sender can see
// it, and cancel it while it is held.
type Submission struct {
	ID         string
	IdentityID string
	EmailID    string
	ThreadID   string
	// Envelope is the JMAP Envelope sent with, as JSON.
	Envelope   []byte
	SendAt     time.Time
	UndoStatus string
	// Queued names the queue entries that hold the message, "queue/id",
	// so that a cancel can take them back.
	Queued []string
	// DeliveryStatus is where the message stands for each recipient
	// address, nil for a record made before it was kept.
	DeliveryStatus map[string]DeliveryStatus
	// ModSeq is the account's submission state when the record last
	// changed; Created when it was made.
	ModSeq, Created int64
}

// Delivered values of a DeliveryStatus (RFC 8621 section 7).
const (
	DeliveredQueued = "queued" // in a queue of ours; may still change
	DeliveredYes    = "yes"    // taken by the recipient's server or mailbox
	DeliveredNo     = "no"     // failed for good; the sender had a DSN
)

// DeliveryStatus is where a submitted message stands for one recipient
// (EmailSubmission's deliveryStatus, RFC 8621 section 7): Delivered is
// one of the Delivered constants, SMTPReply the last reply of the
// server that took or refused it, or ours while it waits.
type DeliveryStatus struct {
	Delivered string `json:"delivered"`
	SMTPReply string `json:"smtpReply"`
}

// ErrChangesExpired is returned by SubmissionChanges for a state older
// than a tombstone that ExpireSubmissions removed: the changes since then
// can no longer be told, and the client reads the records afresh.
var ErrChangesExpired = errors.New("the changes since that state have expired")

// Change is one entry of a change log of records the directory keeps
// for JMAP: Submissions.SubmissionChanges, SieveScripts.SieveChanges.
type Change struct {
	ID        string
	ModSeq    int64
	Created   bool // made after the given state
	Destroyed bool
}

// Submissions keeps submission records. Directories that keep them
// implement it beside Directory. Each account has a state, a counter that
// every change of its records raises; records destroyed leave a
// tombstone so that changes since an earlier state can be told. Errors
// wrap ErrNotFound for an unknown or destroyed record.
type Submissions interface {
	// AddSubmission stores a new record and returns it with its ModSeq.
	AddSubmission(ctx context.Context, acct store.Account, s Submission) (Submission, error)
	// SetUndoStatus changes a record's undo status from one value to
	// another; it fails with ErrInUse when the status is not from.
	SetUndoStatus(ctx context.Context, acct store.Account, id, from, to string) error
	// SetDeliveryStatus sets a record's delivery status for recipient
	// address rcpt, raising its ModSeq when that changes it; an address
	// the record does not list is added.
	SetDeliveryStatus(ctx context.Context, acct store.Account, id, rcpt string, st DeliveryStatus) error
	// SettleSubmissions makes the pending records whose SendAt is not
	// after now final, and reports whether there were any.
	SettleSubmissions(ctx context.Context, acct store.Account, now time.Time) (bool, error)
	// DestroySubmission removes a record, leaving its tombstone.
	DestroySubmission(ctx context.Context, acct store.Account, id string) error
	// SubmissionState returns the account's state and the earliest
	// SendAt of its pending records (zero: none), without the records.
	SubmissionState(ctx context.Context, acct store.Account) (int64, time.Time, error)
	// Submissions returns the account's records and its state.
	Submissions(ctx context.Context, acct store.Account) ([]Submission, int64, error)
	// SubmissionChanges returns the records changed after state since,
	// by ModSeq, and the account's state; ErrChangesExpired when a
	// tombstone they need was removed.
	SubmissionChanges(ctx context.Context, acct store.Account, since int64) ([]Change, int64, error)
	// ExpireSubmissions ages the records of every account: it removes
	// the tombstones of records destroyed before before, then destroys,
	// as DestroySubmission does, the records whose SendAt is before
	// before, which are finished: canceled, or final, settled or not (a
	// record is pending only until its SendAt). The account's state
	// never goes back. It returns how many records it destroyed and how
	// many tombstones it removed.
	ExpireSubmissions(ctx context.Context, before time.Time) (destroyed, removed int, err error)
}
