package imap

import (
	"bufio"
	"io"
	"strings"
	"sync"
)

// writeBuffers holds the write buffers of idling sessions. Most IDLE
// sessions wait for hours without a response to write; with thousands of
// them, a buffer each adds up.
var writeBuffers = sync.Pool{New: func() any { return bufio.NewWriter(io.Discard) }}

// parkWriter gives the session's write buffer, flushed, to the pool.
func (c *conn) parkWriter() {
	c.bw.Reset(io.Discard) // no reference to the connection in the pool
	writeBuffers.Put(c.bw)
	c.bw = nil
}

// unparkWriter takes a write buffer from the pool.
func (c *conn) unparkWriter() {
	c.bw = writeBuffers.Get().(*bufio.Writer)
	c.bw.Reset(c.out)
}

// cmdIdle: RFC 2177. Changes committed by any session or delivery wake the
// store's watch, and are pushed as the same untagged updates NOOP would
// give, until the client sends DONE.
func (c *conn) cmdIdle(cmd *command) error {
	if err := c.p.end(); err != nil {
		return err
	}
	wake, stop := c.srv.Store.Watch(c.acct.ID)
	defer stop()
	c.writeLine("+ idling")
	if err := c.pushUpdates(); err != nil {
		return err
	}
	c.parkWriter()
	defer c.unparkWriter()
	// The reader goroutine owns the parser until it reports; the session
	// only writes meanwhile.
	done := make(chan error, 1)
	go func() {
		c.p.lineDone = false
		word, err := c.p.atom()
		if err == nil && !strings.EqualFold(word, "DONE") {
			err = errSyntax("expected DONE to end IDLE, got %s", word)
		}
		if err == nil {
			err = c.p.end()
		}
		done <- err
	}()
	for {
		select {
		case err := <-done:
			if err != nil {
				return err
			}
			cmd.text = "IDLE terminated"
			return nil
		case <-wake:
			c.unparkWriter()
			err := c.pushUpdates()
			c.parkWriter()
			if err != nil || c.closeNow {
				// The reader still owns the parser: end the connection
				// so that it returns, and wait for it.
				c.closeNow = true
				c.raw.Close()
				<-done
				return err
			}
		}
	}
}

// pushUpdates writes pending updates of the selected mailbox, if any, and
// flushes. A store failure is logged and retried at the next wake.
func (c *conn) pushUpdates() error {
	ctx, cancel := c.commandContext()
	defer cancel()
	if c.sel != nil {
		err := c.sync(ctx, true)
		if err == nil {
			err = c.updateLiveSearches(ctx)
		}
		if err != nil {
			c.log.Warn("reading mailbox changes during IDLE", "err", err)
		}
	}
	if c.notify != nil {
		// NOTIFY's events go out during IDLE too (RFC 5465 section 3).
		if err := c.pushNotify(ctx); err != nil {
			c.log.Warn("sending NOTIFY events during IDLE", "err", err)
		}
	}
	return c.flush()
}
