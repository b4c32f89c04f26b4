// Package message parses RFC 5322 messages with MIME (RFC 2045-2049) into the
// metadata that IMAP FETCH and JMAP serve: the envelope, the body structure
// with byte offsets of every part, and the headers that searching and
// sorting need. It is computed once, at delivery, so that reading a mailbox
// never reparses whole messages.
//
// Implementation notes:
//   - Parse never fails on malformed MIME: a part it cannot make sense of is
//     described as text/plain (RFC 2045 section 5.2 defaults) or
//     application/octet-stream, with offsets that still cover its bytes.
//   - Offsets index the raw message bytes as stored in the blob, so a server
//     can serve BODY[1.2.MIME] or a JMAP blob slice without parsing again.
//     A child's offsets always lie within its parent's body.
//   - The line break before a boundary delimiter belongs to the delimiter
//     (RFC 2046 section 5.1.1): a part's BodyEnd is before it.
//   - Nesting deeper than maxDepth and parts beyond maxParts are described as
//     opaque application/octet-stream bodies, so hostile input stays cheap.
//   - A multipart in the result always has at least one part, and a
//     message/rfc822 part always has Envelope and Message: IMAP's
//     BODYSTRUCTURE needs both.
//   - Every string is valid UTF-8: the store serialises Meta as JSON.
package message

import "time"

// Address is one mailbox of an address list (RFC 5322 section 3.4), with
// the local part and the domain kept apart as IMAP's ENVELOPE wants them,
// or a marker of where a group starts or ends (RFC 3501 section 7.4.2): a
// group's members lie between a GroupStart, whose Name is the group's
// display name, and a GroupEnd.
type Address struct {
	Name  string `json:"name,omitempty"`  // display name, decoded (RFC 2047)
	Route string `json:"route,omitempty"` // obsolete source route, "@a,@b" (RFC 5322 section 4.4)
	Local string `json:"local"`
	Host  string `json:"host"`
	Group Group  `json:"group,omitempty"`
}

// Group tells a group marker from a mailbox.
type Group uint8

// The kinds of Address.
const (
	Mailbox    Group = iota // a mailbox, member of a group or not
	GroupStart              // the start of a group, named by Name
	GroupEnd                // the end of the group last started
)

// Envelope is the IMAP ENVELOPE (RFC 9051 section 7.5.2), with header values
// decoded to UTF-8. Fields hold what the header says: IMAP's rule that an
// absent Sender or Reply-To takes the From value is left to the renderer.
// InReplyTo and MessageID are the raw header values, angle brackets
// included, as ENVELOPE carries them.
type Envelope struct {
	Date      time.Time `json:"date,omitzero"` // zero when absent or unparseable
	RawDate   string    `json:"rawDate,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	From      []Address `json:"from,omitempty"`
	Sender    []Address `json:"sender,omitempty"`
	ReplyTo   []Address `json:"replyTo,omitempty"`
	To        []Address `json:"to,omitempty"`
	Cc        []Address `json:"cc,omitempty"`
	Bcc       []Address `json:"bcc,omitempty"`
	InReplyTo string    `json:"inReplyTo,omitempty"`
	MessageID string    `json:"messageId,omitempty"`
}

// Part is one node of a message's MIME tree. The top-level Part is the whole
// message.
type Part struct {
	// Content-Type, lower-cased, with its parameters (names lower-cased,
	// values decoded per RFC 2231).
	Type    string            `json:"type"`
	Subtype string            `json:"subtype"`
	Params  map[string]string `json:"params,omitempty"`

	ID          string `json:"id,omitempty"`          // Content-ID
	Description string `json:"description,omitempty"` // Content-Description
	Encoding    string `json:"encoding,omitempty"`    // Content-Transfer-Encoding, lower-cased; "" means 7bit
	MD5         string `json:"md5,omitempty"`         // Content-MD5

	Disposition       string            `json:"disposition,omitempty"` // lower-cased
	DispositionParams map[string]string `json:"dispositionParams,omitempty"`
	Language          []string          `json:"language,omitempty"`
	Location          string            `json:"location,omitempty"`

	// Byte offsets into the raw message: the part's header starts at
	// HeaderStart, its body at BodyStart, and the body ends at BodyEnd.
	HeaderStart int64 `json:"hs"`
	BodyStart   int64 `json:"bs"`
	BodyEnd     int64 `json:"be"`
	Lines       int64 `json:"lines"` // lines in the body, for text/* and message/rfc822

	Parts    []*Part   `json:"parts,omitempty"`    // children of a multipart
	Envelope *Envelope `json:"envelope,omitempty"` // of an embedded message/rfc822
	Message  *Part     `json:"message,omitempty"`  // body of an embedded message/rfc822
}

// Meta is everything Parse learns about a message.
type Meta struct {
	Envelope  Envelope `json:"envelope"`
	Structure *Part    `json:"structure"`

	// References lists the message ids of References and In-Reply-To, in
	// order, without angle brackets; used for threading (RFC 5256).
	References []string `json:"references,omitempty"`

	// BaseSubject is the subject with reply and forward prefixes removed,
	// as RFC 5256 section 2.1 defines it for SORT and THREAD.
	BaseSubject string `json:"baseSubject,omitempty"`

	// Preview is up to 256 characters of the first text part, for JMAP and
	// the webmail list.
	Preview string `json:"preview,omitempty"`

	HasAttachment bool `json:"hasAttachment,omitempty"`
}
