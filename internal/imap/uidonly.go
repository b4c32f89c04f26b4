package imap

// UIDONLY (RFC 9586). Once a client enables it, it names messages by UID
// only: the commands below take sequence numbers and are refused with
// BAD [UIDREQUIRED] (section 3), and so is a sequence set among search
// keys. The server names messages by UID too: UIDFETCH responses instead
// of FETCH (section 3.3), VANISHED instead of EXPUNGE (section 3.2), and
// no UNSEEN response code, which carries a sequence number.

// seqCommands are the commands that take message sequence numbers.
var seqCommands = map[string]bool{
	"FETCH": true, "STORE": true, "SEARCH": true, "COPY": true, "MOVE": true,
	"SORT": true, "THREAD": true, "REPLACE": true,
}

// errUIDRequired refuses a sequence number once UIDONLY is enabled.
func errUIDRequired(what string) error {
	return errBad("UIDREQUIRED", "UIDONLY is enabled: %s, use UIDs", what)
}

// fetchHead starts an untagged FETCH response, or UIDFETCH once UIDONLY
// is enabled, and reports whether it named the message by its UID.
func (c *conn) fetchHead(e *encoder, seq, uid uint32) (byUID bool) {
	if c.uidonly {
		e.raw("* ").num(uid).raw(" UIDFETCH (")
		return true
	}
	e.raw("* ").num(seq).raw(" FETCH (")
	return false
}
