// Package store defines the mailbox store: accounts' mailboxes, the messages
// in them with their UIDs, flags and MODSEQs, and a change log. Protocol
// servers (IMAP, POP3, JMAP, webmail) and the delivery loop talk only to this
// interface; they never touch SQL or files. Message bytes live in a blob
// store (package blob); the store keeps each message's blob key and the
// metadata parsed at delivery (package message).
//
// Implementation notes:
//   - MODSEQ is a per-account counter (RFC 7162 allows any counter that only
//     grows per mailbox). Every change to a message or a mailbox takes the
//     next value, so one number is also the account's JMAP state
//     (RFC 8620 section 1.6.4).
//   - Expunged messages leave a row in the change log with the MODSEQ of
//     their expunge, so QRESYNC (RFC 7162 section 3.2.5) and JMAP
//     Email/changes can report them.
//   - UIDs are never reused within a UIDVALIDITY; UIDNEXT only grows.
//   - Deliveries are idempotent by their key: delivering the same key twice
//     stores the message once and returns the first result. The intake
//     spool relies on this for exactly-once delivery across crashes.
//   - Quota usage counters change in the same transaction as the messages
//     they count, so they are always exact.
//   - A change is committed before watchers are notified.
//   - Every implementation passes the conformance suite in storetest.
package store

import (
	"context"
	"errors"
	"time"

	"casella/internal/blob"
	"casella/internal/message"
)

// Errors returned by stores; implementations wrap them with context.
var (
	ErrNotFound     = errors.New("not found")
	ErrExists       = errors.New("already exists")
	ErrInvalidName  = errors.New("invalid mailbox name")
	ErrNotPermitted = errors.New("operation not permitted") // e.g. deleting INBOX
	ErrHasChildren  = errors.New("mailbox has children")
	ErrUnavailable  = errors.New("mailbox store unavailable") // internal failure; callers answer with a temporary error
	// ErrTooManyKeywords refuses a flag update or an append that would
	// bring more than MaxMailboxKeywords keywords into use in a mailbox.
	ErrTooManyKeywords = errors.New("too many keywords in the mailbox")
)

// MaxMailboxKeywords bounds the keywords in use in one mailbox, which
// every SELECT lists in its FLAGS response. Deliveries, copies and moves
// are never refused for it: only a client's STORE and APPEND are.
const MaxMailboxKeywords = 1000

// Separator is the hierarchy delimiter of mailbox names.
const Separator = "/"

// Inbox is the name of every account's inbox. Lookups of it are
// case-insensitive (RFC 9051 section 5.1).
const Inbox = "INBOX"

// Special-use attributes (RFC 6154).
const (
	UseAll     = `\All`
	UseArchive = `\Archive`
	UseDrafts  = `\Drafts`
	UseFlagged = `\Flagged`
	UseJunk    = `\Junk`
	UseSent    = `\Sent`
	UseTrash   = `\Trash`
)

// DefaultMailboxes are created with every account, with their special use.
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{Inbox, ""},
	{"Sent", UseSent},
	{"Drafts", UseDrafts},
	{"Trash", UseTrash},
	{"Junk", UseJunk},
	{"Archive", UseArchive},
}

// System flags (RFC 9051 section 2.3.2). Flags are stored and compared with
// this exact spelling; keywords are stored as given and compared without
// regard to ASCII case.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// Account identifies an account; the directory assigns it.
type Account int64

// Mailbox is a mailbox and its counters.
type Mailbox struct {
	ID            int64
	Account       Account
	Name          string // full name, levels joined by Separator, UTF-8
	SpecialUse    string // one of the Use constants, or ""
	Subscribed    bool   // its name is among the account's subscriptions
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64 // highest MODSEQ of any change in this mailbox
	Messages      int    // number of messages
	Unseen        int    // messages without \Seen
	Deleted       int    // messages with \Deleted
	Size          int64  // sum of message sizes
	// RecentMark is the highest UID whose IMAP4rev1 \Recent flag a
	// session has claimed (RFC 3501 section 2.3.2); see ClaimRecent.
	RecentMark uint32
}

// Message is one message in one mailbox.
type Message struct {
	ID       int64 // unique within the store; changes when a message is copied
	EmailID  int64 // RFC 8474 EMAILID: kept by COPY and MOVE
	ThreadID int64 // RFC 8474 THREADID
	Mailbox  int64
	UID      uint32
	ModSeq   uint64
	Flags    []string // system flags and keywords
	Internal time.Time
	Saved    time.Time // RFC 8514 SAVEDATE
	Size     int64
	Blob     blob.Key

	// Meta is loaded only when the query asks for it. Readers may share
	// it: it is not to be changed.
	Meta *message.Meta
	// SortKeys is loaded only when the query asks for it.
	SortKeys *SortKeys
}

// SortKeys are the values SORT compares (RFC 5256 section 3), kept beside
// the metadata so that sorting a large mailbox does not decode it. They
// are zero for a message stored without metadata.
type SortKeys struct {
	Sent    time.Time // Date header field; zero when absent or unparseable
	Subject string    // base subject (RFC 5256 section 2.1)
	// From, To and Cc are the first address of each field as
	// local@domain in lower case, "" when the field is empty.
	From, To, Cc string
}

// NewMessage is a message to add to a mailbox.
type NewMessage struct {
	Blob     blob.Key
	Size     int64
	Internal time.Time // zero means now
	Flags    []string
	Meta     *message.Meta
}

// UIDRange is an inclusive range of UIDs; Last 0 means "to the end".
type UIDRange struct{ First, Last uint32 }

// Query selects messages of one mailbox.
type Query struct {
	Mailbox  int64
	UIDs     []UIDRange // nil for all
	WithMeta bool       // load Message.Meta
	// WithSortKeys loads Message.SortKeys.
	WithSortKeys bool
	// FlagsOnly loads only UID, ModSeq and Flags, and leaves the other
	// fields zero: what FETCH FLAGS needs, at a fraction of the cost of a
	// whole row. WithMeta and WithSortKeys are ignored with it.
	FlagsOnly bool
}

// FlagOp says how a flag update applies (RFC 9051 section 6.4.6).
type FlagOp int

// Flag operations.
const (
	FlagsReplace FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// FlagUpdate changes the flags of some messages of one mailbox.
type FlagUpdate struct {
	Mailbox int64
	UIDs    []UIDRange
	Op      FlagOp
	Flags   []string
	// UnchangedSince, when non-zero, is the CONDSTORE precondition
	// (RFC 7162 section 3.1.3): messages whose MODSEQ is higher are left
	// alone and reported in FlagResult.Failed.
	UnchangedSince uint64
}

// FlagResult reports a flag update.
type FlagResult struct {
	Changed []Message // messages whose flags changed, with new flags and MODSEQ
	Failed  []uint32  // UIDs that failed the UnchangedSince precondition
	// Prior is the account's highest MODSEQ when the write began, and
	// Last the highest it handed out (Prior when it changed nothing).
	// The change log's entries between them are the write's: those of
	// Changed, and the mailbox's counters moving (MailboxChanged). A
	// session whose view was current at Prior is current at Last without
	// reading the log.
	Prior, Last uint64
}

// UIDPair maps a source UID to the UID of its copy (RFC 4315 COPYUID).
type UIDPair struct{ From, To uint32 }

// Delivery is a message handed over by the intake spool.
type Delivery struct {
	// Key makes the delivery idempotent, for example the spool entry id
	// and the recipient's index.
	Key     string
	Account Account
	Mailbox string // mailbox name; INBOX when empty or missing
	Message NewMessage
}

// Delivered reports where a delivery was stored.
type Delivered struct {
	Mailbox   int64
	UID       uint32
	Duplicate bool // the key had been delivered before; nothing was stored now
}

// Change is one entry of the change log.
type Change struct {
	ModSeq  uint64
	Mailbox int64
	UID     uint32 // 0 for a change to the mailbox itself
	EmailID int64
	Kind    ChangeKind
}

// ChangeKind says what a Change did.
type ChangeKind int

// Change kinds.
const (
	MessageAdded ChangeKind = iota + 1
	MessageFlagsChanged
	MessageExpunged
	MailboxCreated
	MailboxChanged // renamed, subscribed, or its counters moved
	MailboxDeleted
	// MetadataChanged: an annotation of the mailbox, or of the account
	// when Mailbox is 0, was set or removed (RFC 5464). It is not a
	// change of the mailbox's messages: its HIGHESTMODSEQ stays.
	MetadataChanged
)

// Usage is an account's quota usage (RFC 9208): exact, maintained with
// every change.
type Usage struct {
	Messages int64
	Bytes    int64
}

// Store is the mailbox store. Implementations are safe for concurrent use.
// Methods that fail for an internal reason return an error wrapping
// ErrUnavailable or the cause; callers treat any error that is not one of
// the sentinel errors above as temporary.
type Store interface {
	// EnsureAccount creates the account and its DefaultMailboxes if they do
	// not exist yet.
	EnsureAccount(ctx context.Context, acct Account) error
	// DeleteAccount removes the account and everything in it.
	DeleteAccount(ctx context.Context, acct Account) error
	// Usage returns the account's quota usage.
	Usage(ctx context.Context, acct Account) (Usage, error)

	// Mailboxes returns the account's mailboxes, sorted by name.
	Mailboxes(ctx context.Context, acct Account) ([]Mailbox, error)
	// Mailbox returns one mailbox by name.
	Mailbox(ctx context.Context, acct Account, name string) (Mailbox, error)
	// CreateMailbox creates a mailbox, and its missing parents.
	CreateMailbox(ctx context.Context, acct Account, name, specialUse string) (Mailbox, error)
	// RenameMailbox renames a mailbox with its children. Renaming INBOX
	// moves its messages to a new mailbox and leaves INBOX empty
	// (RFC 9051 section 6.3.6).
	RenameMailbox(ctx context.Context, acct Account, from, to string) error
	// DeleteMailbox removes a mailbox and its messages.
	DeleteMailbox(ctx context.Context, acct Account, name string) error
	// Subscribe adds a mailbox name to the account's subscriptions, or
	// removes it. Subscribing needs an existing mailbox; a subscription
	// outlives the mailbox's deletion, and can then still be removed
	// (RFC 9051 sections 6.3.4 and 6.3.7). Renaming a mailbox moves its
	// subscription and those of its children. Unsubscribing a name that
	// is neither subscribed nor a mailbox gives ErrNotFound.
	Subscribe(ctx context.Context, acct Account, name string, on bool) error
	// Subscriptions returns the account's subscribed names, sorted,
	// including those of mailboxes that no longer exist.
	Subscriptions(ctx context.Context, acct Account) ([]string, error)

	// Deliver stores a message from the intake spool, once per key.
	Deliver(ctx context.Context, d Delivery) (Delivered, error)
	// DeliverBatch stores messages from the intake spool, for one account
	// or several, in one transaction, each once per key: all are stored or
	// none. The messages of one account are stored in their order. One
	// commit for many messages is what lets a backlog drain faster than one
	// fsync per message.
	DeliverBatch(ctx context.Context, ds []Delivery) ([]Delivered, error)
	// PruneDeliveries forgets the delivery keys recorded before the given
	// time and returns how many it forgot. A Deliver with a forgotten key
	// stores the message again, so the caller keeps every key a replay
	// may still bring.
	PruneDeliveries(ctx context.Context, before time.Time) (int64, error)
	// Append adds messages to a mailbox in one transaction (MULTIAPPEND,
	// RFC 3502) and returns their UIDs.
	Append(ctx context.Context, acct Account, mailbox int64, msgs []NewMessage) ([]uint32, error)
	// AppendRecent is Append by a session that has the mailbox selected
	// and shows \Recent (RFC 3501 section 2.3.2). When every message
	// before the new ones is claimed, the same transaction raises the
	// RecentMark over them and claimed is true: they are recent for the
	// caller's session and no other, with no ClaimRecent after the
	// append, which would wait for a commit of its own. Otherwise it is
	// Append, and the caller claims them as any new message.
	AppendRecent(ctx context.Context, acct Account, mailbox int64, msgs []NewMessage) (uids []uint32, claimed bool, err error)

	// Keywords returns the keywords ever used in a mailbox (RFC 9051
	// section 7.3.5, FLAGS), in no particular order, each once without
	// regard to ASCII case. A keyword stays listed after the last message
	// that had it loses it.
	Keywords(ctx context.Context, acct Account, mailbox int64) ([]string, error)

	// Metadata returns the annotations (RFC 5464) of a mailbox, or the
	// account's server annotations when mailbox is 0, sorted by name.
	Metadata(ctx context.Context, acct Account, mailbox int64) ([]MetadataEntry, error)
	// SetMetadata sets annotations of a mailbox, or of the account when
	// mailbox is 0, and removes those given a nil Value; all or none.
	// Names are checked with CanonicalMetadataName. A value above
	// MaxMetadataValue gives ErrMetadataTooLarge; more than
	// MaxMetadataEntries entries for the mailbox give ErrMetadataTooMany,
	// values above MaxMetadataBytes for the account ErrMetadataQuota.
	// Deleting a mailbox deletes its annotations. A set logs one
	// MetadataChanged change.
	SetMetadata(ctx context.Context, acct Account, mailbox int64, entries []MetadataEntry) error

	// ClaimRecent raises the mailbox's RecentMark to upTo, if it is
	// lower, and returns the mark it had, atomically: the messages with
	// a UID above the old mark and at most upTo are recent for the
	// caller's session and for no other (RFC 3501 section 2.3.2), even
	// when sessions on several nodes select the mailbox at once. It is
	// not a change of the mailbox: no MODSEQ, no change log entry.
	ClaimRecent(ctx context.Context, acct Account, mailbox int64, upTo uint32) (uint32, error)

	// UIDs returns the UIDs of a mailbox's messages, ascending: what
	// SELECT needs, without reading the messages.
	UIDs(ctx context.Context, acct Account, mailbox int64) ([]uint32, error)
	// Messages calls fn for each message the query selects, in UID order.
	// The message is fn's to read until it returns: implementations reuse
	// it, so fn copies what it keeps.
	Messages(ctx context.Context, acct Account, q Query, fn func(*Message) error) error
	// UpdateFlags changes flags.
	UpdateFlags(ctx context.Context, acct Account, u FlagUpdate) (FlagResult, error)
	// Expunge removes the messages of a mailbox that have \Deleted, only
	// among uids when uids is not nil (UID EXPUNGE, RFC 4315), and returns
	// the UIDs removed.
	Expunge(ctx context.Context, acct Account, mailbox int64, uids []UIDRange) ([]uint32, error)
	// Copy copies messages to another mailbox of the account.
	Copy(ctx context.Context, acct Account, from int64, uids []UIDRange, to int64) ([]UIDPair, error)
	// Move moves messages to another mailbox of the account atomically
	// (RFC 6851).
	Move(ctx context.Context, acct Account, from int64, uids []UIDRange, to int64) ([]UIDPair, error)

	// Changes returns the change log entries of the account with a MODSEQ
	// above since, oldest first, at most limit of them (0: no limit),
	// restricted to one mailbox when mailbox is not 0. The second result is
	// the account's current highest MODSEQ.
	Changes(ctx context.Context, acct Account, mailbox int64, since uint64, limit int) ([]Change, uint64, error)

	// Watch returns a channel that receives a value, without blocking the
	// store, after each committed change to the account, until cancel is
	// called. Watchers coalesce: several changes may yield one value.
	Watch(acct Account) (ch <-chan struct{}, cancel func())

	// BlobReferenced reports whether any message refers to the blob.
	BlobReferenced(ctx context.Context, key blob.Key) (bool, error)
	// Blobs calls fn for every blob key that messages refer to, each once.
	Blobs(ctx context.Context, fn func(blob.Key) error) error
	// MessagesWithBlob returns the account's messages whose blob is key,
	// ordered by ID, without Meta or SortKeys: what JMAP needs to find
	// the emails of a blob id (RFC 9404 Blob/lookup, downloads) without
	// reading every message of the account. Other accounts' messages
	// with the same blob are not read.
	MessagesWithBlob(ctx context.Context, acct Account, key blob.Key) ([]Message, error)

	// Close releases the store's resources.
	Close() error
}
