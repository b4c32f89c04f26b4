package imap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"casella/internal/store"
)

// METADATA (RFC 5464): annotations of mailboxes and of the server, which
// here means the account. They live in the store, which checks the names
// and enforces the limits (store.MaxMetadataValue, MaxMetadataEntries);
// /private and /shared entries are both the account's own, since no
// mailbox is shared.

// metadataDepth is GETMETADATA's DEPTH option (section 4.2.2).
type metadataDepth int

const (
	depth0 metadataDepth = iota
	depth1
	depthInfinity
)

// getMetadataArgs are the parsed arguments of GETMETADATA.
type getMetadataArgs struct {
	maxSize int64 // 0: none
	depth   metadataDepth
	mailbox string
	entries []string // canonical names
}

// cmdGetMetadata serves GETMETADATA (section 4.2).
func (c *conn) cmdGetMetadata(cmd *command) error {
	a, err := c.parseGetMetadata()
	if err != nil {
		return err
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	id, err := c.metadataMailbox(ctx, a.mailbox)
	if err != nil {
		return err
	}
	all, err := c.srv.Store.Metadata(ctx, c.acct.ID, id)
	if err != nil {
		return fmt.Errorf("getmetadata %q: %w", a.mailbox, err)
	}
	e := c.enc()
	e.raw("* METADATA ")
	c.metadataName(e, a.mailbox).raw(" (")
	n := 0
	var longest int64
	item := func(name string, value []byte, exists bool) {
		if a.maxSize > 0 && int64(len(value)) > a.maxSize {
			// Left out, and counted in LONGENTRIES (section 4.2.1).
			longest = max(longest, int64(len(value)))
			return
		}
		if n > 0 {
			e.sp()
		}
		n++
		e.astr(name).sp()
		switch {
		case !exists:
			e.raw("NIL")
		case e.quotable(string(value)):
			e.str(string(value))
		default:
			e.literal8(value)
		}
	}
	for _, want := range a.entries {
		// An entry without a value, and without entries below it
		// within the depth, is answered NIL.
		found := false
		for _, en := range all {
			if en.Name == want || a.depth != depth0 && strings.HasPrefix(en.Name, want+"/") &&
				(a.depth == depthInfinity || !strings.Contains(en.Name[len(want)+1:], "/")) {
				found = true
				item(en.Name, en.Value, true)
			}
		}
		if !found {
			item(want, nil, false)
		}
	}
	if n > 0 {
		c.writeBytes(e.raw(")").b)
	}
	if longest > 0 {
		cmd.code = fmt.Sprintf("METADATA LONGENTRIES %d", longest)
	}
	return nil
}

// cmdSetMetadata serves SETMETADATA (section 4.3): all entries are set,
// or none.
func (c *conn) cmdSetMetadata(cmd *command) error {
	mailbox, entries, err := c.parseSetMetadata()
	if err != nil {
		return err
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	id, err := c.metadataMailbox(ctx, mailbox)
	if err != nil {
		return err
	}
	err = c.srv.Store.SetMetadata(ctx, c.acct.ID, id, entries)
	switch {
	case errors.Is(err, store.ErrMetadataTooLarge):
		return errNo(fmt.Sprintf("METADATA MAXSIZE %d", store.MaxMetadataValue), "A value can have at most %d bytes", store.MaxMetadataValue)
	case errors.Is(err, store.ErrMetadataTooMany):
		return errNo("METADATA TOOMANY", "A mailbox can have at most %d annotations", store.MaxMetadataEntries)
	case errors.Is(err, store.ErrMetadataQuota):
		return errNo("LIMIT", "The annotations of an account can have at most %d bytes together", store.MaxMetadataBytes) // RFC 5530
	case err != nil:
		return fmt.Errorf("setmetadata %q: %w", mailbox, err)
	}
	return nil
}

// metadataMailbox returns the ID of the named mailbox, or 0 for "", the
// server.
func (c *conn) metadataMailbox(ctx context.Context, name string) (int64, error) {
	if name == "" {
		return 0, nil
	}
	mb, err := c.srv.Store.Mailbox(ctx, c.acct.ID, name)
	if err != nil {
		return 0, fmt.Errorf("metadata of %q: %w", name, err)
	}
	return mb.ID, nil
}

// metadataName writes the mailbox name of a METADATA response: "" for the
// server.
func (c *conn) metadataName(e *encoder, mailbox string) *encoder {
	if mailbox == "" {
		return e.raw(`""`)
	}
	return e.mailbox(mailbox)
}

// parseGetMetadata reads [SP "(" options ")"] SP mailbox SP entries.
func (c *conn) parseGetMetadata() (*getMetadataArgs, error) {
	a := &getMetadataArgs{}
	if err := c.p.sp(); err != nil {
		return nil, err
	}
	if ok, err := c.p.take('('); err != nil {
		return nil, err
	} else if ok {
		for {
			opt, err := c.p.atom()
			if err != nil {
				return nil, err
			}
			if err := c.p.sp(); err != nil {
				return nil, err
			}
			switch strings.ToUpper(opt) {
			case "MAXSIZE":
				n, err := c.p.number()
				if err != nil {
					return nil, err
				}
				a.maxSize = int64(n)
			case "DEPTH":
				d, err := c.p.atom()
				if err != nil {
					return nil, err
				}
				switch strings.ToLower(d) {
				case "0":
					a.depth = depth0
				case "1":
					a.depth = depth1
				case "infinity":
					a.depth = depthInfinity
				default:
					return nil, errSyntax("DEPTH is 0, 1 or infinity, not %s", d)
				}
			default:
				return nil, errSyntax("unknown GETMETADATA option %s", opt)
			}
			if ok, err := c.p.take(')'); err != nil {
				return nil, err
			} else if ok {
				break
			}
			if err := c.p.sp(); err != nil {
				return nil, err
			}
		}
		if err := c.p.sp(); err != nil {
			return nil, err
		}
	}
	var err error
	if a.mailbox, err = c.p.mailbox(c.utf8); err != nil {
		return nil, err
	}
	if err := c.p.sp(); err != nil {
		return nil, err
	}
	err = c.p.oneOrList(func(bool) error {
		name, err := c.metadataEntry(true)
		if err != nil {
			return err
		}
		a.entries = append(a.entries, name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, c.p.end()
}

// parseSetMetadata reads SP mailbox SP "(" entry SP value *(SP entry SP
// value) ")". A literal value longer than the store takes is refused
// before the client sends it.
func (c *conn) parseSetMetadata() (string, []store.MetadataEntry, error) {
	mailbox, err := c.mailboxArg()
	if err != nil {
		return "", nil, err
	}
	if err := c.p.sp(); err != nil {
		return "", nil, err
	}
	if err := c.p.expect('(', "entries and values"); err != nil {
		return "", nil, err
	}
	limit := c.p.maxLiteral
	c.p.maxLiteral = min(limit, store.MaxMetadataValue)
	defer func() { c.p.maxLiteral = limit }()
	var entries []store.MetadataEntry
	for {
		name, err := c.metadataEntry(false)
		if err != nil {
			return "", nil, err
		}
		if err := c.p.sp(); err != nil {
			return "", nil, err
		}
		value, err := c.metadataValue()
		var big *literalTooBigError
		if errors.As(err, &big) && big.sync {
			return "", nil, errNo(fmt.Sprintf("METADATA MAXSIZE %d", store.MaxMetadataValue), "A value can have at most %d bytes", store.MaxMetadataValue)
		} else if err != nil {
			return "", nil, err
		}
		entries = append(entries, store.MetadataEntry{Name: name, Value: value})
		if len(entries) > store.MaxMetadataEntries {
			return "", nil, errNo("METADATA TOOMANY", "A mailbox can have at most %d annotations", store.MaxMetadataEntries)
		}
		if ok, err := c.p.take(')'); err != nil {
			return "", nil, err
		} else if ok {
			break
		}
		if err := c.p.sp(); err != nil {
			return "", nil, err
		}
	}
	return mailbox, entries, c.p.end()
}

// metadataEntry reads an entry name and checks it (section 3.2). With
// top, the roots /private and /shared are names too: GETMETADATA with a
// DEPTH reads below them.
func (c *conn) metadataEntry(top bool) (string, error) {
	raw, err := c.p.astring()
	if err != nil {
		return "", err
	}
	if l := strings.ToLower(raw); top && (l == "/private" || l == "/shared") {
		return l, nil
	}
	name, err := store.CanonicalMetadataName(raw)
	if err != nil {
		return "", errSyntax("%v", err)
	}
	return name, nil
}

// metadataValue reads a value: NIL (nil, to remove the entry), a string
// or a literal8 (section 5).
func (c *conn) metadataValue() ([]byte, error) {
	ch, err := c.p.peek()
	if err != nil {
		return nil, err
	}
	switch ch {
	case '~':
		return c.literal8()
	case '"', '{':
		s, err := c.p.string()
		return []byte(s), err
	}
	return nil, c.p.nil()
}
