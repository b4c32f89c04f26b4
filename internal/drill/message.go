package drill

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"time"
)

// Message sizes of the load: the body is drawn uniformly from this range,
// which covers most real mail without attachments.
const (
	minBody = 1 << 10
	maxBody = 50 << 10
)

// lineLen is the length of a body line, below RFC 5322's 78.
const lineLen = 76

// messageIDDomain is the right side of every drill Message-ID.
const messageIDDomain = "drill.test"

// composer makes the messages of one drill run. Message i is the same
// whenever it is made, so the load can remember a checksum instead of the
// bytes.
type composer struct {
	run  string // random, so that several runs can share a mailbox
	seed uint64
	from string
	to   string
	date string
}

func newComposer(run string, seed uint64, from, to string, now time.Time) *composer {
	return &composer{run: run, seed: seed, from: from, to: to, date: now.UTC().Format(time.RFC1123Z)}
}

// message returns message i of the run.
func (c *composer) message(i int) []byte {
	rng := rand.New(rand.NewPCG(c.seed, uint64(i)))
	size := minBody + rng.IntN(maxBody-minBody+1)

	var b bytes.Buffer
	b.Grow(size + 512)
	fmt.Fprintf(&b, "From: Casella drill <%s>\r\n", c.from)
	fmt.Fprintf(&b, "To: <%s>\r\n", c.to)
	fmt.Fprintf(&b, "Subject: Fault drill %s, message %d\r\n", c.run, i)
	fmt.Fprintf(&b, "Message-ID: <%s.%d@%s>\r\n", c.run, i, messageIDDomain)
	fmt.Fprintf(&b, "Date: %s\r\n", c.date)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")

	// Base64 text has no line starting with a dot, so what the server
	// stores is what was written, byte for byte.
	raw := make([]byte, base64.StdEncoding.DecodedLen(lineLen))
	line := make([]byte, lineLen)
	for written := 0; written < size; written += lineLen + 2 {
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		base64.StdEncoding.Encode(line, raw)
		b.Write(line)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// Sum is the SHA-256 checksum of a message as it was sent.
type Sum [sha256.Size]byte

// sumOf returns the checksum of data.
func sumOf(data []byte) Sum { return sha256.Sum256(data) }

// traceHeaders are the fields a server prepends when it delivers a
// message (RFC 5321 section 4.4) and Casella's Delivered-To.
var traceHeaders = map[string]bool{"return-path": true, "delivered-to": true, "received": true}

// StripTrace returns stored without the trace header fields at its top:
// Return-Path, Delivered-To and Received, folded lines included. What
// remains is the message as the client sent it.
func StripTrace(stored []byte) []byte {
	rest := stored
	for {
		end := bytes.Index(rest, []byte("\r\n"))
		if end < 0 {
			return rest
		}
		colon := bytes.IndexByte(rest[:end], ':')
		if colon < 0 || !traceHeaders[string(bytes.ToLower(rest[:colon]))] {
			return rest
		}
		end += 2
		// A field continues on lines that start with white space (RFC
		// 5322 section 2.2.3).
		for end < len(rest) && (rest[end] == ' ' || rest[end] == '\t') {
			next := bytes.Index(rest[end:], []byte("\r\n"))
			if next < 0 {
				return rest[len(rest):]
			}
			end += next + 2
		}
		rest = rest[end:]
	}
}

var messageIDField = regexp.MustCompile(`(?im)^Message-ID:[ \t]*<([0-9a-z]+)\.([0-9]+)@` + regexp.QuoteMeta(messageIDDomain) + `>\r$`)

// parseMessageID returns the run and index of a drill message from its
// Message-ID field, looking at the header section only; ok is false for a
// message that the drill did not send.
func parseMessageID(msg []byte) (run string, index int, ok bool) {
	header := msg
	if end := bytes.Index(msg, []byte("\r\n\r\n")); end >= 0 {
		header = msg[:end+2]
	}
	m := messageIDField.FindSubmatch(header)
	if m == nil {
		return "", 0, false
	}
	i, err := strconv.Atoi(string(m[2]))
	if err != nil {
		return "", 0, false
	}
	return string(m[1]), i, true
}
