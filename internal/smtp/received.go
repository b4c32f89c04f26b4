package smtp

import (
	"crypto/tls"
	"strings"
	"time"
	"unicode/utf8"
)

// received returns the Received header (RFC 5321 section 4.4) for the
// current transaction.
func (s *session) received(now time.Time) []byte {
	st, isTLS := s.conn.TLSConnectionState()
	var tlsState *tls.ConnectionState
	if isTLS {
		tlsState = &st
	}
	r := receivedInfo{
		Helo:     s.conn.Hostname(),
		RemoteIP: s.remoteIP(),
		Hostname: s.srv.cfg.Hostname,
		UTF8:     s.utf8,
		Auth:     s.account != nil,
		TLS:      tlsState,
		ID:       s.id,
		Date:     now,
	}
	if len(s.rcpts) == 1 {
		r.For = s.rcpts[0]
	}
	return r.header()
}

// receivedInfo is what a Received header records.
type receivedInfo struct {
	Helo     string // as the client gave it; hostile
	RemoteIP string
	Hostname string
	UTF8     bool // SMTPUTF8 transaction
	Auth     bool
	TLS      *tls.ConnectionState // nil for cleartext
	ID       string
	For      string // the only recipient, or ""; hostile
	Date     time.Time
}

// maxToken bounds a client-supplied value in the header, keeping every
// line well under the 998 octets of RFC 5322 section 2.1.1.
const maxToken = 255

// header renders the Received header, folded, ending in CRLF.
func (r receivedInfo) header() []byte {
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(token(r.Helo, r.UTF8))
	b.WriteString(" ([")
	b.WriteString(token(r.RemoteIP, false))
	b.WriteString("])\r\n\tby ")
	b.WriteString(token(r.Hostname, false))
	b.WriteString(" (Casella) with ")
	b.WriteString(r.protocol())
	b.WriteString(" id ")
	b.WriteString(token(r.ID, false))
	if r.TLS != nil {
		// The TLS parameters go in a comment, as RFC 8314 section
		// 7.4 suggests.
		b.WriteString("\r\n\t(")
		b.WriteString(tls.VersionName(r.TLS.Version))
		b.WriteString(" ")
		b.WriteString(tls.CipherSuiteName(r.TLS.CipherSuite))
		b.WriteString(")")
	}
	if r.For != "" {
		b.WriteString("\r\n\tfor <")
		b.WriteString(token(r.For, r.UTF8))
		b.WriteString(">")
	}
	b.WriteString(";\r\n\t")
	b.WriteString(r.Date.Format(time.RFC1123Z))
	b.WriteString("\r\n")
	return []byte(b.String())
}

// protocol returns the WITH protocol name: ESMTP with S for TLS and A for
// authentication (RFC 3848), or the UTF8SMTP forms of RFC 6531 section
// 3.7.4.
func (r receivedInfo) protocol() string {
	p := "ESMTP"
	if r.UTF8 {
		p = "UTF8SMTP"
	}
	if r.TLS != nil {
		p += "S"
	}
	if r.Auth {
		p += "A"
	}
	return p
}

// token makes a client-supplied value safe for the header: one word with
// no white space, comment or angle delimiters, control characters or
// invalid UTF-8, each replaced by '?'; non-ASCII only in a UTF-8
// transaction (RFC 6532). An empty value becomes "unknown".
func token(s string, allowUTF8 bool) string {
	var b strings.Builder
	for i, r := range s {
		if b.Len() >= maxToken {
			break
		}
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			b.WriteByte('?')
		case r <= ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0):
			b.WriteByte('?')
		case strings.ContainsRune(`()<>\;"`, r):
			b.WriteByte('?')
		case r >= utf8.RuneSelf && !allowUTF8:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}
