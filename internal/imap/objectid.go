package imap

import (
	"strconv"

	"casella/internal/store"
)

// Object identifiers (RFC 8474) are the store's numeric IDs behind a
// letter naming their kind, so that an ID of one kind never parses as
// another: the store never reuses them, and a renamed mailbox keeps its
// ID (section 4.2), as RFC 8474 requires.

func mailboxID(mb *store.Mailbox) string { return "M" + strconv.FormatInt(mb.ID, 10) }

func emailID(m *store.Message) string { return "E" + strconv.FormatInt(m.EmailID, 10) }

// threadID is valid only for a message with a thread; THREADID is NIL for
// the others (section 5.2).
func threadID(m *store.Message) string { return "T" + strconv.FormatInt(m.ThreadID, 10) }

// objectID reads an objectid: 1 to 255 letters, digits, "-" and "_"
// (RFC 8474 section 3).
func (p *parser) objectID() (string, error) {
	id, err := p.word("object ID", func(c byte) bool {
		return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
	})
	if err == nil && len(id) > 255 {
		err = errSyntax("object ID longer than 255 characters")
	}
	return id, err
}
