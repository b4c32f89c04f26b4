package imap

import (
	"bufio"
	"compress/flate"
	"fmt"
	"net"
	"strings"
	"testing"
)

// compressed switches a raw connection to DEFLATE in both directions,
// as a client does after COMPRESS's OK.
func (rc *rawConn) compressed() {
	fw, err := flate.NewWriter(rc.nc, flate.DefaultCompression)
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.r = bufio.NewReader(flate.NewReader(rc.r))
	rc.nc = &flateConn{Conn: rc.nc, w: fw}
}

func TestCompress(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	if u := rc.ok("c CAPABILITY"); !strings.Contains(u[0], " COMPRESS=DEFLATE") {
		t.Errorf("capability = %q", u)
	}
	rc.expect("a COMPRESS DEFLATE", "a BAD") // not authenticated
	rc.login()
	// One MULTIAPPEND (RFC 3502): one transaction, one sync.
	var cmd strings.Builder
	cmd.WriteString("m APPEND INBOX")
	for i := range 300 {
		msg := strings.Replace(simpleMsg, "Hello there", fmt.Sprint("Hello ", i), 1)
		fmt.Fprintf(&cmd, " {%d+}\r\n%s", len(msg), msg)
	}
	rc.ok(cmd.String())
	rc.expect("a COMPRESS LZW", "a BAD")
	rc.ok("a COMPRESS DEFLATE")
	rc.compressed()
	u := rc.ok("s SELECT INBOX")
	if len(u) == 0 || !strings.HasPrefix(u[0], "* FLAGS") {
		t.Fatalf("select over DEFLATE: %q", u)
	}
	// Many responses, and many flushes, each with a fresh compressor.
	for range 3 {
		if u := rc.ok("f FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"); len(u) != 300 || !strings.Contains(u[299], "Hello 299") {
			t.Fatalf("fetch over DEFLATE: %d responses, last %q", len(u), u[len(u)-1])
		}
	}
	rc.expect("b COMPRESS DEFLATE", "b NO [COMPRESSIONACTIVE]")
	// A literal, and an update pushed during IDLE.
	rc.appendMsg("INBOX", `\Seen`, simpleMsg)
	rc.send("i IDLE\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("idle: %q", l)
	}
	other := e.raw(t)
	other.login()
	other.appendMsg("INBOX", "", simpleMsg)
	if l := rc.line(); l != "* 302 EXISTS" {
		t.Fatalf("update during IDLE over DEFLATE: %q", l)
	}
	rc.send("DONE\r\n")
	rc.until("i")
	rc.ok("l LOGOUT")
}

// flateConn compresses what a test client writes, flushing each write.
type flateConn struct {
	net.Conn
	w *flate.Writer
}

func (c *flateConn) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	if err == nil {
		err = c.w.Flush()
	}
	return n, err
}
