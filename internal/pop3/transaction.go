package pop3

import (
	"bytes"
	"strconv"
	"time"

	"casella/internal/store"
)

func (ss *session) cmdStat(command) error {
	n, size := ss.drop.stat()
	ss.reply("+OK %d %d", n, size)
	return nil
}

// cmdList and cmdUidl answer for one message, or list every message not
// marked deleted (RFC 1939 sections 5 and 7).
func (ss *session) cmdList(c command) error {
	return ss.listing(c, func(m *dropMessage) string { return strconv.FormatInt(m.size, 10) })
}

func (ss *session) cmdUidl(c command) error {
	return ss.listing(c, ss.drop.uidl)
}

func (ss *session) listing(c command, value func(*dropMessage) string) error {
	args := c.args()
	if len(args) > 1 {
		ss.reply("-ERR %s takes at most one message number", c.name)
		return nil
	}
	if len(args) == 1 {
		m, err := ss.drop.message(args[0])
		if err != nil {
			ss.reply("-ERR %v", err)
			return nil
		}
		ss.reply("+OK %s %s", args[0], value(m))
		return nil
	}
	n, size := ss.drop.stat()
	ss.reply("+OK %d messages (%d octets)", n, size)
	for i := range ss.drop.msgs {
		if m := &ss.drop.msgs[i]; !m.deleted {
			ss.reply("%d %s", i+1, value(m))
		}
	}
	ss.reply(".")
	return nil
}

func (ss *session) cmdRetr(c command) error {
	args := c.args()
	if len(args) != 1 {
		ss.reply("-ERR RETR takes one message number")
		return nil
	}
	return ss.send(args[0], -1)
}

// cmdTop sends a message's header and the first n lines of its body
// (RFC 1939 section 7).
func (ss *session) cmdTop(c command) error {
	args := c.args()
	if len(args) != 2 {
		ss.reply("-ERR TOP takes a message number and a number of lines")
		return nil
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 0 {
		ss.reply("-ERR invalid number of lines %s", quoteArg(args[1]))
		return nil
	}
	return ss.send(args[0], n)
}

// send sends a message read from the blob store, whole (lines < 0) or its
// header and that many body lines, as a multi-line response.
func (ss *session) send(arg string, lines int) error {
	m, err := ss.drop.message(arg)
	if err != nil {
		ss.reply("-ERR %v", err)
		return nil
	}
	ctx, cancel := ss.commandContext()
	data, err := ss.blobs.Get(ctx, m.blob)
	cancel()
	if err != nil {
		ss.tempFailure("reading message", err)
		return nil
	}
	// A large message fills the write buffer many times over before the
	// next flush; the client gets the idle timeout to take it.
	ss.conn.SetWriteDeadline(time.Now().Add(ss.s.idleTimeout()))
	if lines >= 0 {
		data = data[:topEnd(data, lines)]
		ss.reply("+OK top of message follows")
	} else {
		ss.reply("+OK %d octets", m.size)
	}
	writeDotStuffed(ss.bw, data)
	ss.reply(".")
	return nil
}

func (ss *session) cmdDele(c command) error {
	args := c.args()
	if len(args) != 1 {
		ss.reply("-ERR DELE takes one message number")
		return nil
	}
	m, err := ss.drop.message(args[0])
	if err != nil {
		ss.reply("-ERR %v", err)
		return nil
	}
	m.deleted = true
	ss.reply("+OK message %s deleted", args[0])
	return nil
}

func (ss *session) cmdRset(command) error {
	for i := range ss.drop.msgs {
		ss.drop.msgs[i].deleted = false
	}
	n, size := ss.drop.stat()
	ss.reply("+OK maildrop has %d messages (%d octets)", n, size)
	return nil
}

// cmdQuit ends the session. In the TRANSACTION state it first enters the
// UPDATE state (RFC 1939 section 6): the messages marked with DELE get
// \Deleted and exactly their UIDs are expunged. When that fails, the
// client is told that they were not removed.
func (ss *session) cmdQuit(command) error {
	// The lock goes before the reply is sent, so that a client may log in
	// again as soon as it has read it.
	if ss.unlock != nil {
		defer ss.unlock()
	}
	if ss.state != stateTransaction {
		ss.reply("+OK bye")
		return errClose
	}
	uids := ss.drop.deletedUIDs()
	if len(uids) == 0 {
		ss.reply("+OK bye")
		return errClose
	}
	ctx, cancel := ss.commandContext()
	defer cancel()
	_, err := ss.s.Store.UpdateFlags(ctx, ss.acct.ID, store.FlagUpdate{
		Mailbox: ss.drop.mailbox,
		UIDs:    uids,
		Op:      store.FlagsAdd,
		Flags:   []string{store.FlagDeleted},
	})
	var removed []uint32
	if err == nil {
		removed, err = ss.s.Store.Expunge(ctx, ss.acct.ID, ss.drop.mailbox, uids)
	}
	if err != nil {
		ss.log.Warn("pop3 update failed", "err", err)
		ss.reply("-ERR [SYS/TEMP] some deleted messages not removed, try again later")
		return errClose
	}
	ss.log.Info("pop3 update", "expunged", len(removed))
	ss.reply("+OK bye, %d messages deleted", len(removed))
	return errClose
}

// topEnd returns the length of the message's header, its empty line and
// n lines of its body (RFC 1939 section 7). A message without an empty
// line is all header.
func topEnd(data []byte, n int) int {
	pos := 0
	for pos < len(data) {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			return len(data)
		}
		line := data[pos : pos+i]
		pos += i + 1
		if len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			break
		}
	}
	for ; n > 0 && pos < len(data); n-- {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			return len(data)
		}
		pos += i + 1
	}
	return pos
}
