package imap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// parseArgs parses the arguments of the commands with the richest
// grammar, the way their handlers do, without executing them.
func parseArgs(c *conn, name string) error {
	cmd := &command{name: name}
	switch name {
	case "FETCH", "UID FETCH":
		_, err := c.parseFetch(cmd)
		return err
	case "SEARCH", "UID SEARCH":
		if err := c.p.sp(); err != nil {
			return err
		}
		first, err := c.searchPrefix(&searchReturn{})
		if err != nil {
			return err
		}
		if _, err := c.p.searchKeys(first); err != nil {
			return err
		}
	case "ESEARCH":
		_, _, err := c.parseESearch(&searchReturn{})
		return err
	case "SORT", "UID SORT":
		_, err := c.parseSort()
		return err
	case "THREAD", "UID THREAD":
		_, _, err := c.parseThread()
		return err
	case "STATUS":
		if _, err := c.mailboxArg(); err != nil {
			return err
		}
		if err := c.p.sp(); err != nil {
			return err
		}
		if _, err := c.statusList(); err != nil {
			return err
		}
	case "LIST":
		if err := c.p.sp(); err != nil {
			return err
		}
		if _, err := c.p.mailboxPattern(c.utf8); err != nil {
			return err
		}
		if err := c.p.sp(); err != nil {
			return err
		}
		if _, err := c.p.mailboxPattern(c.utf8); err != nil {
			return err
		}
		if err := c.listReturn(cmd, &listArgs{}); err != nil {
			return err
		}
	case "SELECT", "EXAMINE":
		if _, err := c.mailboxArg(); err != nil {
			return err
		}
		_, _, err := c.selectParams()
		return err
	case "CREATE":
		if _, err := c.mailboxArg(); err != nil {
			return err
		}
		if _, err := c.createParams(); err != nil {
			return err
		}
	case "SETQUOTA":
		return c.setQuotaArgs()
	case "GETMETADATA":
		_, err := c.parseGetMetadata()
		return err
	case "SETMETADATA":
		_, _, err := c.parseSetMetadata()
		return err
	case "NOTIFY":
		_, _, err := c.parseNotify()
		return err
	case "REPLACE", "UID REPLACE":
		_, _, _, err := c.parseReplace()
		return err
	case "STORE":
		if err := c.p.sp(); err != nil {
			return err
		}
		if _, err := c.p.seqSet(); err != nil {
			return err
		}
		if err := c.p.sp(); err != nil {
			return err
		}
		if _, err := c.p.flags(); err != nil {
			return err
		}
	case "APPEND":
		if _, err := c.mailboxArg(); err != nil {
			return err
		}
		if err := c.p.sp(); err != nil {
			return err
		}
		if ch, err := c.p.peek(); err != nil {
			return err
		} else if ch == '"' {
			if _, err := c.p.dateTime(); err != nil {
				return err
			}
			if err := c.p.sp(); err != nil {
				return err
			}
		}
		if _, err := c.appendData(); err != nil {
			return err
		}
	default:
		for {
			if ok, err := c.p.take(' '); err != nil || !ok {
				break
			}
			if _, err := c.p.astring(); err != nil {
				return err
			}
		}
	}
	return c.p.end()
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"a1 FETCH 1:*,3 (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From \"To\")]<0.100> BINARY[2] MODSEQ) (CHANGEDSINCE 5)\r\n",
		"a UID FETCH * FULL\r\n",
		"a FETCH 1 (PREVIEW (LAZY) PREVIEW FLAGS) (CHANGEDSINCE 2)\r\n",
		"r REPLACE 3 Drafts (\\Draft) \" 1-Feb-2024 13:14:15 +0100\" {5+}\r\nhello\r\n",
		"t NOTIFY SET STATUS (selected-delayed (MessageNew (UID BODY.PEEK[HEADER.FIELDS (From)]) MessageExpunge FlagChange)) (subtree (INBOX \"Z&APw-rich\") (MailboxName SubscriptionChange))\r\n",
		"t NOTIFY SET (mailboxes Sent NONE) (inboxes (MessageNew MessageExpunge))\r\n",
		"u GETMETADATA (MAXSIZE 1024 DEPTH infinity) \"\" (/shared/comment /private/vendor)\r\n",
		"v SETMETADATA INBOX (/private/comment {3+}\r\nabc /shared/x NIL /shared/y ~{2+}\r\n\x00\x01)\r\n",
		"r UID REPLACE 9 Sent ~{3+}\r\nh\x00i\r\n",
		"b SEARCH RETURN (MIN COUNT) CHARSET UTF-8 OR (SEEN FROM {3+}\r\nabc) NOT UID 1:4 SINCE 1-Feb-2024 MODSEQ 7\r\n",
		"c STATUS \"Z&APw-rich\" (MESSAGES SIZE HIGHESTMODSEQ)\r\n",
		"d LIST \"\" (\"%\" INBOX/*) RETURN (SUBSCRIBED STATUS (UNSEEN))\r\n",
		"e STORE 1,2:3 (\\Seen $Junk)\r\n",
		"f APPEND INBOX \" 1-Feb-2024 13:14:15 +0100\" {5}\r\nhello\r\n",
		"g LOGIN {4+}\r\nuser \"pa\\\"ss\"\r\n",
		"h FETCH 1 (BODY[)\r\n",
		"i APPEND x {99999}\r\n",
		"j SELECT INBOX (CONDSTORE QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1:5 1,3:7)))\r\n",
		"k UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n",
		"l SEARCH RETURN (SAVE MIN) EMAILID E12 THREADID T1 SAVEDBEFORE 1-Feb-2024 OLDER 3600 NOT $\r\n",
		"m CREATE \"Caf\xc3\xa9\" (USE (\\Drafts \\Sent))\r\n",
		"n SETQUOTA \"\" (STORAGE 512 MESSAGE 100)\r\n",
		"o APPEND INBOX CATENATE (URL \"/INBOX;UIDVALIDITY=3/;UID=1/;SECTION=1.HEADER.FIELDS%20(From)/;PARTIAL=0.9\" TEXT ~{2+}\r\nab)\r\n",
		"o APPEND INBOX \" 1-Feb-2024 13:14:15 +0100\" UTF8 (~{5+}\r\nhello)\r\n",
		"p STORE $ (UNCHANGEDSINCE 0) +FLAGS.SILENT (\\Seen)\r\n",
		"q STATUS INBOX (MAILBOXID APPENDLIMIT DELETED-STORAGE RECENT)\r\n",
		"r UID SORT RETURN (MIN ALL) (REVERSE DATE SUBJECT) UTF-8 OR FROM {3+}\r\nabc 1:*\r\n",
		"s THREAD REFERENCES US-ASCII NOT DELETED\r\n",
		"u UID SEARCH RETURN (PARTIAL 500:1 UPDATE CONTEXT COUNT) UNSEEN\r\n",
		"v UID SORT RETURN (PARTIAL 1:50 UPDATE) (DISPLAYFROM REVERSE DISPLAYTO) UTF-8 ALL\r\n",
		"t ESEARCH IN (selected subtree-one (Work \"A b\") mailboxes INBOX personal) RETURN (MIN) CHARSET UTF-8 FROM x\r\n",
		"a+ NOOP\r\nb ENABLE\r\nc ENABLE CONDSTORE X\r\n",
	} {
		f.Add([]byte(s))
	}
	// A CATENATE URL is looked up while its command is read: a store
	// with no mailboxes answers NO [BADURL].
	env := newTestEnv(f)
	srv := &Server{Store: env.store, Blobs: env.blobs}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		c := &conn{qresync: true, utf8: data[0]&1 == 1, srv: srv, blobs: env.blobs, ctx: t.Context()}
		c.p = parser{r: bufio.NewReader(bytes.NewReader(data)), maxLine: 1024, maxLiteral: 4096, maxCommand: 6144, cont: func() error { return nil }}
		for range 20 {
			c.p.begin()
			tag, err := c.p.tag()
			if err == nil {
				cmd := &command{tag: tag}
				var name string
				if name, err = c.commandName(cmd); err == nil {
					err = parseArgs(c, name)
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errLineTooLong) {
				return
			}
			if c.p.lineLen > c.p.maxLine || c.p.cmdLen > c.p.maxCommand {
				t.Fatalf("line of %d bytes, command of %d, beyond the limits", c.p.lineLen, c.p.cmdLen)
			}
			var se *syntaxError
			var big *literalTooBigError
			var re *responseError // a NO for a valid request, such as BADCHARSET
			if err != nil && !errors.As(err, &se) && !errors.As(err, &big) && !errors.As(err, &re) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			if err != nil && !c.p.lineDone {
				if c.p.discardLine() != nil {
					return
				}
			}
		}
	})
}

func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "Zürich", "a&b", "日本語/メール", "&Jjo-!", "&AGEAYgBj-", "&-&-", "\U0001F600"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Decoding anything must not panic, and what it accepts must be UTF-8.
		if d, err := decodeUTF7(s); err == nil && !utf8.ValidString(d) {
			t.Fatalf("decodeUTF7(%q) = %q, not UTF-8", s, d)
		}
		if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return
		}
		enc := encodeUTF7(s)
		for i := 0; i < len(enc); i++ {
			if enc[i] < 0x20 || enc[i] > 0x7e {
				t.Fatalf("encodeUTF7(%q) = %q, not printable ASCII", s, enc)
			}
		}
		if d, err := decodeUTF7(enc); err != nil || d != s {
			t.Fatalf("round trip %q -> %q -> %q, %v", s, enc, d, err)
		}
	})
}
