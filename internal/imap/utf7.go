package imap

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Mailbox names travel in modified UTF-7 (RFC 3501 section 5.1.3) unless
// the client enabled UTF8=ACCEPT or IMAP4rev2; the store keeps UTF-8.

var utf7Encoding = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// encodeUTF7 encodes a UTF-8 mailbox name in modified UTF-7.
func encodeUTF7(s string) string {
	var b strings.Builder
	var run []uint16
	flush := func() {
		if len(run) == 0 {
			return
		}
		buf := make([]byte, 2*len(run))
		for i, u := range run {
			buf[2*i], buf[2*i+1] = byte(u>>8), byte(u)
		}
		b.WriteByte('&')
		b.WriteString(utf7Encoding.EncodeToString(buf))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case 0x20 <= r && r <= 0x7e:
			flush()
			b.WriteRune(r)
		default:
			run = utf16.AppendRune(run, r)
		}
	}
	flush()
	return b.String()
}

// decodeUTF7 decodes a modified UTF-7 mailbox name to UTF-8. Raw UTF-8, as
// some clients send without enabling it, is passed through.
func decodeUTF7(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '&' {
			if c < 0x20 || c == 0x7f {
				return "", errors.New("control character in mailbox name")
			}
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", errors.New("modified UTF-7 shift not closed by -")
		}
		enc := s[i+1 : i+1+end]
		i += end + 1
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := utf7Encoding.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", errors.New("bad modified UTF-7 in mailbox name")
		}
		units := make([]uint16, len(raw)/2)
		for j := range units {
			units[j] = uint16(raw[2*j])<<8 | uint16(raw[2*j+1])
		}
		for _, r := range utf16.Decode(units) {
			if r == utf8.RuneError || 0x20 <= r && r <= 0x7e {
				// RFC 3501 forbids encoding printable ASCII, and a lone
				// surrogate decodes to RuneError.
				return "", errors.New("bad modified UTF-7 in mailbox name")
			}
			b.WriteRune(r)
		}
	}
	if !utf8.ValidString(b.String()) {
		return "", errors.New("mailbox name is not valid UTF-8")
	}
	return b.String(), nil
}
