package jmap

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonw appends JSON to a buffer, writing the separators itself. The
// hot /get responses (Email/get of 500 emails a page in a client's
// initial sync, Mailbox/get, Thread/get) are written with it rather than
// built as maps for encoding/json, which spent most of their CPU on the
// maps, on reflection and on sorting keys. Strings are escaped as
// encoding/json escapes them (HTML-safe, invalid UTF-8 as U+FFFD) and
// writers put an object's keys in the order encoding/json sorts a map's,
// so the bytes are those json.Marshal wrote of the maps.
type jsonw struct {
	b     []byte
	comma bool // a value was written at this level: the next needs a comma
}

func (w *jsonw) sep() {
	if w.comma {
		w.b = append(w.b, ',')
	}
}

func (w *jsonw) open(c byte) {
	w.sep()
	w.b = append(w.b, c)
	w.comma = false
}

func (w *jsonw) close(c byte) {
	w.b = append(w.b, c)
	w.comma = true
}

// key writes an object member's name; its value follows.
func (w *jsonw) key(k string) {
	w.sep()
	w.b = appendJSONString(w.b, k)
	w.b = append(w.b, ':')
	w.comma = false
}

func (w *jsonw) str(s string) {
	w.sep()
	w.b = appendJSONString(w.b, s)
	w.comma = true
}

func (w *jsonw) null() {
	w.sep()
	w.b = append(w.b, "null"...)
	w.comma = true
}

func (w *jsonw) int(n int64) {
	w.sep()
	w.b = strconv.AppendInt(w.b, n, 10)
	w.comma = true
}

func (w *jsonw) bool(v bool) {
	w.sep()
	w.b = strconv.AppendBool(w.b, v)
	w.comma = true
}

// id writes an object id, its type's letter and a number ("E12", as
// emailID and its kin spell it), without making the string.
func (w *jsonw) id(prefix byte, n int64) {
	w.sep()
	w.b = append(w.b, '"', prefix)
	w.b = strconv.AppendInt(w.b, n, 10)
	w.b = append(w.b, '"')
	w.comma = true
}

// time writes t as an RFC 3339 date-time (RFC 8620 section 1.4), in t's
// own zone; its characters need no escaping.
func (w *jsonw) time(t time.Time) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = t.AppendFormat(w.b, time.RFC3339)
	w.b = append(w.b, '"')
	w.comma = true
}

// strOrNull writes s, or null when it is empty.
func (w *jsonw) strOrNull(s string) {
	if s == "" {
		w.null()
	} else {
		w.str(s)
	}
}

// strs writes an array of strings; nil is written as [] as
// encoding/json writes an empty, non-nil slice.
func (w *jsonw) strs(l []string) {
	w.open('[')
	for _, s := range l {
		w.str(s)
	}
	w.close(']')
}

// strsOrNull writes l, or null when it is empty.
func (w *jsonw) strsOrNull(l []string) {
	if len(l) == 0 {
		w.null()
	} else {
		w.strs(l)
	}
}

// encoded is a method's response arguments already written as JSON;
// run takes it as it is rather than marshaling it.
type encoded []byte

// appendJSONString appends s as a JSON string escaped as encoding/json
// escapes it with HTML escaping on, its default: the control characters,
// the quote, the backslash, <, > and &; invalid UTF-8 becomes U+FFFD and
// U+2028 and U+2029 are escaped for JavaScript's sake.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendJSONEscaped(b, s)
	return append(b, '"')
}

// appendJSONEscaped appends s escaped as in a JSON string, without the
// quotes.
func appendJSONEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(b, s[start:]...)
}

// appendResponse writes the Response object (RFC 8620 section 3.4) as
// encoding/json would, and a newline as json.Encoder ends a value with.
// The invocations' arguments are compact JSON already, from json.Marshal
// or jsonw, so they are copied as they are rather than compacted again.
func appendResponse(b []byte, r *response) []byte {
	b = append(b, `{"methodResponses":[`...)
	for i, inv := range r.MethodResponses {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendInvocation(b, inv)
	}
	b = append(b, ']')
	if len(r.CreatedIDs) > 0 {
		w := jsonw{b: append(b, `,"createdIds":`...)}
		w.open('{')
		for _, k := range slices.Sorted(maps.Keys(r.CreatedIDs)) {
			w.key(k)
			w.str(r.CreatedIDs[k])
		}
		w.close('}')
		b = w.b
	}
	b = append(b, `,"sessionState":`...)
	b = appendJSONString(b, r.SessionState)
	return append(b, '}', '\n')
}

// appendInvocation writes an invocation's three-element array form
// (RFC 8620 section 3.2).
func appendInvocation(b []byte, inv Invocation) []byte {
	b = append(b, '[')
	b = appendJSONString(b, inv.Name)
	b = append(b, ',')
	if len(inv.Args) == 0 {
		b = append(b, "null"...)
	}
	b = append(b, inv.Args...)
	b = append(b, ',')
	b = appendJSONString(b, inv.CallID)
	return append(b, ']')
}

// marshalResult encodes a method's response arguments.
func marshalResult(out any) ([]byte, error) {
	if b, ok := out.(encoded); ok {
		return b, nil
	}
	return json.Marshal(out)
}
