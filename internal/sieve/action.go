package sieve

import "time"

// Action is one thing a script asks the delivery to do. The concrete
// types are Keep, FileInto, Redirect, Discard, Reject, Vacation, Notify,
// AddHeader, DeleteHeader and TrackDuplicate.
type Action interface{ action() }

// Keep files the message into INBOX (RFC 5228 section 4.3), explicit or
// implicit, with the IMAP flags set for it (RFC 5232 section 3).
type Keep struct {
	Flags    []string
	Implicit bool
}

// FileInto files the message into Mailbox (RFC 5228 section 4.1). Create
// asks for the mailbox to be made when missing (RFC 5490 section 3.2).
type FileInto struct {
	Mailbox string
	Flags   []string
	Create  bool
}

// Redirect sends the message on to Address, keeping its envelope sender
// (RFC 5228 section 4.2).
type Redirect struct {
	Address string
}

// Discard drops the message silently (RFC 5228 section 4.4); it only
// cancels the implicit keep, so it appears only when nothing else files.
type Discard struct{}

// Reject refuses the message with Reason (RFC 5429): at SMTP time when the
// delivery can, else by a DSN or MDN. Extended marks ereject, which must be
// an SMTP refusal when possible.
type Reject struct {
	Reason   string
	Extended bool
}

// Vacation is an auto-reply to send (RFC 5230) once the delivery has
// checked that none went to To for the same Handle within Period. Run has
// already applied the rules of RFC 5230 section 4.5 and RFC 3834 that the
// message alone decides.
type Vacation struct {
	To      string        // the address the reply goes to (the envelope sender)
	From    string        // the From of the reply; "" means the recipient
	Subject string        // the Subject of the reply, already defaulted
	Reason  string        // the body, or a MIME entity when MIME is set
	MIME    bool          // Reason holds MIME headers and body (RFC 5230 section 4.4)
	Handle  string        // identifies the reply for the once-per-period rule
	Period  time.Duration // one reply per sender per Period (RFC 5230 section 4.1, RFC 6131)

	InReplyTo  string // the Message-ID of the message answered
	References string
}

// Notify asks for a notification through Method (RFC 5435 section 3).
type Notify struct {
	Method     string // a URI: only mailto: (RFC 5436)
	From       string
	Importance string // "1" high, "2" normal, "3" low
	Options    []string
	Message    string
}

// AddHeader adds a field to the message before it is filed (RFC 5293
// section 4): at the top unless Last.
type AddHeader struct {
	Name, Value string
	Last        bool
}

// DeleteHeader removes fields from the message (RFC 5293 section 5). The
// fields to remove are resolved by Run: Occurrences lists, for the field
// Name, which occurrences (1-based, from the top of the original header)
// go.
type DeleteHeader struct {
	Name        string
	Occurrences []int
}

// TrackDuplicate records that the message carries ID under Handle, for
// later duplicate tests (RFC 7352 section 3), for Period. The delivery
// records it with the message's delivery.
type TrackDuplicate struct {
	Key    string
	Period time.Duration
}

func (Keep) action()           {}
func (FileInto) action()       {}
func (Redirect) action()       {}
func (Discard) action()        {}
func (Reject) action()         {}
func (Vacation) action()       {}
func (Notify) action()         {}
func (AddHeader) action()      {}
func (DeleteHeader) action()   {}
func (TrackDuplicate) action() {}
