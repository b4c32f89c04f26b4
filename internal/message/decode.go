package message

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

// ErrUnknownEncoding is returned by DecodeBody for a Content-Transfer-Encoding
// it does not know; IMAP answers it with UNKNOWN-CTE (RFC 3516 section 4.3).
var ErrUnknownEncoding = errors.New("unknown content transfer encoding")

// DecodeBody returns the body of part p of the message raw with its
// Content-Transfer-Encoding removed (RFC 2045 section 6). Decoding is
// lenient, as mail in the wild needs: bytes that are not valid
// quoted-printable are kept, characters outside the base64 alphabet are
// skipped. The result is a new slice when decoding changed anything, else a
// subslice of raw.
func DecodeBody(raw []byte, p *Part) ([]byte, error) {
	if p.BodyStart < 0 || p.BodyStart > p.BodyEnd || p.BodyEnd > int64(len(raw)) {
		return nil, fmt.Errorf("decode body: offsets %d-%d outside message of %d bytes", p.BodyStart, p.BodyEnd, len(raw))
	}
	body := raw[p.BodyStart:p.BodyEnd]
	switch p.Encoding {
	case "", "7bit", "8bit", "binary":
		return body, nil
	case "quoted-printable":
		return decodeQP(body), nil
	case "base64":
		return decodeBase64(body), nil
	}
	return nil, fmt.Errorf("decode body: %q: %w", p.Encoding, ErrUnknownEncoding)
}

// decodeQP decodes quoted-printable (RFC 2045 section 6.7): "=XX" escapes
// and soft line breaks ("=" at the end of a line, with trailing white space
// tolerated). Trailing white space of lines is removed (rule 3). Anything
// else, including a malformed "=", is kept literally.
func decodeQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		line, rest, brk := b, []byte(nil), []byte(nil)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, rest, brk = b[:i], b[i+1:], b[i:i+1]
			if i > 0 && b[i-1] == '\r' {
				line, brk = b[:i-1], b[i-1:i+1]
			}
		}
		b = rest
		// Transport padding may follow the last character of a line.
		end := len(line)
		for end > 0 && (line[end-1] == ' ' || line[end-1] == '\t') {
			end--
		}
		line = line[:end]
		soft := len(line) > 0 && line[len(line)-1] == '='
		if soft {
			line = line[:len(line)-1]
		}
		for i := 0; i < len(line); i++ {
			if line[i] == '=' && i+2 < len(line) && isHex(line[i+1]) && isHex(line[i+2]) {
				out = append(out, unhex(line[i+1])<<4|unhex(line[i+2]))
				i += 2
				continue
			}
			out = append(out, line[i])
		}
		if !soft {
			out = append(out, brk...)
		}
	}
	return out
}

// decodeBase64 decodes base64 (RFC 2045 section 6.8), skipping characters
// outside the alphabet as the RFC says, stopping at padding, and decoding a
// final incomplete quantum as far as it goes.
func decodeBase64(b []byte) []byte {
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		if c == '=' {
			break
		}
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' {
			clean = append(clean, c)
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1] // six bits make no byte
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	// clean holds only alphabet characters in a length that decodes, and
	// the non-strict encoding ignores stray bits in the last quantum, so
	// decoding cannot fail.
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}
