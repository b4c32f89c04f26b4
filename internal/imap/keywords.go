package imap

import (
	"strings"

	"casella/internal/store"
)

// Keywords in FLAGS and PERMANENTFLAGS (RFC 9051 sections 7.3.5 and
// 7.1): SELECT lists the mailbox's keywords, and a session that is about
// to show a keyword its client was not told of sends both responses again
// first, whether this session's STORE or another's brought it. Clients
// that track labels rely on every keyword being in FLAGS before a message
// shows it.

// writeFlagsResponses writes FLAGS and PERMANENTFLAGS for the selected
// mailbox with the keywords of the view.
func (c *conn) writeFlagsResponses() {
	v := c.sel
	list := `(\Answered \Flagged \Deleted \Seen \Draft`
	if len(v.keywords) > 0 {
		list += " " + strings.Join(v.keywords, " ")
	}
	c.writeLine("* FLAGS %s)", list)
	switch {
	case v.readOnly:
		c.writeLine(`* OK [PERMANENTFLAGS ()] Read-only mailbox`)
	case len(v.keywords) >= store.MaxMailboxKeywords:
		// No \*: the mailbox takes no new keyword (RFC 9051 section 7.1).
		c.writeLine(`* OK [PERMANENTFLAGS %s)] Flags permitted, no new keywords`, list)
	default:
		c.writeLine(`* OK [PERMANENTFLAGS %s \*)] Flags permitted`, list)
	}
}

// learnKeywords sends FLAGS and PERMANENTFLAGS when flags hold a keyword
// the client was not told of, before the response that shows it.
func (c *conn) learnKeywords(flags []string) {
	v := c.sel
	if v == nil {
		return
	}
	if v.told == nil {
		v.told = map[string]bool{}
	}
	n := len(v.keywords)
	for _, f := range flags {
		// A FETCH of every message checks each of its keywords: the
		// exact spelling is looked up first, without a scan.
		if strings.HasPrefix(f, `\`) || v.told[f] {
			continue
		}
		if !store.HasFlag(v.keywords, f) {
			v.keywords = append(v.keywords, f)
		}
		v.told[f] = true
	}
	if len(v.keywords) != n {
		c.writeFlagsResponses()
	}
}
