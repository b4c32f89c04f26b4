package loadgen

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"time"
)

// lineLen is the length of a body line without its CRLF, as in base64
// bodies of real mail (RFC 2045 section 6.8).
const lineLen = 76

// filler is random text that message bodies are cut from, made once so
// that composing a message costs a copy.
var filler = func() []byte {
	raw := make([]byte, 48<<10)
	rnd := rand.New(rand.NewChaCha8([32]byte{'c', 'a', 's', 'e', 'l', 'l', 'a'}))
	for i := range raw {
		raw[i] = byte(rnd.Uint32())
	}
	return []byte(base64.StdEncoding.EncodeToString(raw))
}()

// compose returns a message of about size bytes (never less than its
// header) from from to to, with a unique Message-ID made of run and i.
// The body starts at a random place of the filler, so messages differ.
func compose(rnd *rand.Rand, run string, i int, from, to string, date time.Time, size int) []byte {
	var b bytes.Buffer
	b.Grow(size + lineLen)
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: bench %s message %d\r\nDate: %s\r\n"+
		"Message-ID: <%s.%d@bench.casella>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n",
		from, to, run, i, date.Format(time.RFC1123Z), run, i)
	off := rnd.IntN(len(filler) - lineLen)
	for b.Len() < size {
		n := min(lineLen, size-b.Len()-2)
		if n <= 0 {
			break
		}
		if off+n > len(filler) {
			off = 0
		}
		b.Write(filler[off : off+n])
		b.WriteString("\r\n")
		off += n
	}
	return b.Bytes()
}
