package imap

import (
	"strings"
)

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
			err := c.pushUpdates()
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
	if c.sel != nil {
		ctx, cancel := c.commandContext()
		err := c.sync(ctx, true)
		cancel()
		if err != nil {
			c.log.Warn("reading mailbox changes during IDLE", "err", err)
		}
	}
	return c.flush()
}
