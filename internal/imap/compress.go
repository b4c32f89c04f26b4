package imap

import (
	"bufio"
	"compress/flate"
	"io"
	"strings"
	"sync"

	"casella/internal/inflate"
)

// COMPRESS=DEFLATE (RFC 4978). After the tagged OK, both directions are
// raw DEFLATE (RFC 1951). Every c.flush ends the compressed responses
// written so far with a sync flush, so the client can read them at once
// (RFC 4978 section 4).
//
// A DEFLATE compressor takes about a megabyte. A session holds one only
// while it writes: at each flush it returns to a pool, and the next
// response takes one from the pool, reset. A sync flush leaves the stream
// at a block boundary with every byte emitted, so the blocks of a fresh
// compressor continue the stream validly; they only lose back-references
// into the responses before the flush. An IDLE session then keeps only
// its decompressor, whose window the client's compressor may refer to
// for the whole session.

// flateWriters holds compressors between responses. BestSpeed resets
// cheaply, and IMAP responses compress well at any level.
var flateWriters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(io.Discard, flate.BestSpeed) // the level is valid
	return w
}}

// deflater compresses responses onto w with a pooled compressor.
type deflater struct {
	w  io.Writer
	fw *flate.Writer // nil between flushes
}

func (d *deflater) Write(p []byte) (int, error) {
	if d.fw == nil {
		d.fw = flateWriters.Get().(*flate.Writer)
		d.fw.Reset(d.w)
	}
	return d.fw.Write(p)
}

// Flush sync-flushes what was written and returns the compressor to the
// pool. The stream is never closed: a final block would end it.
func (d *deflater) Flush() error {
	if d.fw == nil {
		return nil
	}
	err := d.fw.Flush()
	d.fw.Reset(io.Discard) // no reference to the connection in the pool
	flateWriters.Put(d.fw)
	d.fw = nil
	return err
}

// inflateIO reads the decompressed commands and records the first error,
// corrupt input included, as the connection's read error: the stream
// cannot be resynchronised, so the session ends.
type inflateIO struct {
	c *conn
	r io.Reader
}

func (r inflateIO) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if err != nil && r.c.rErr == nil {
		r.c.rErr = err
	}
	return n, err
}

// cmdCompress serves COMPRESS (RFC 4978 section 3).
func (c *conn) cmdCompress(cmd *command) error {
	if err := c.p.sp(); err != nil {
		return err
	}
	mech, err := c.p.atom()
	if err != nil {
		return err
	}
	if err := c.p.end(); err != nil {
		return err
	}
	if !strings.EqualFold(mech, "DEFLATE") {
		return errBad("", "Unknown compression mechanism %s, only DEFLATE is supported", mech)
	}
	if c.deflate != nil {
		return errNo("COMPRESSIONACTIVE", "DEFLATE is already active")
	}
	// The OK is the last uncompressed response.
	c.writeLine("%s OK DEFLATE active", cmd.tag)
	if err := c.flush(); err != nil {
		return err
	}
	cmd.responded = true
	// c.br reads the compressed bytes from now on; the inflater reads it
	// byte by byte, and asks it what has arrived so that a command ended
	// with zlib's Z_PARTIAL_FLUSH, as mbsync sends them, is decoded
	// without waiting for the next (package inflate). Compressed input is
	// small, so its buffer shrinks unless it holds bytes already. The
	// buffer after the decompressor can be small too: it serves the parser's byte-by-byte reads, and large
	// literal reads bypass it.
	if c.br.Buffered() == 0 {
		c.br = bufio.NewReaderSize(connIO{c}, compressedBuffer)
	}
	c.p.r = bufio.NewReaderSize(inflateIO{c, inflate.NewReader(c.br)}, inflatedBuffer)
	c.deflate = &deflater{w: connIO{c}}
	c.out = c.deflate
	c.bw.Reset(c.out)
	return nil
}

// Sizes of the buffers of compressed and decompressed commands.
const (
	compressedBuffer = 1024
	inflatedBuffer   = 256
)
