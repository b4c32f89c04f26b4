package imap

import (
	"fmt"
	"strings"

	"casella/internal/store"
)

// listArgs are the parsed arguments of LIST (RFC 9051 section 6.3.9,
// LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819).
type listArgs struct {
	subscribedOnly bool // selection option SUBSCRIBED, or LSUB
	specialUseOnly bool // selection option SPECIAL-USE (RFC 6154)
	retSubscribed  bool
	status         []string
	patterns       []string
}

// cmdList serves LIST and LSUB.
func (c *conn) cmdList(cmd *command) error {
	var a listArgs
	a.subscribedOnly = cmd.name == "LSUB"
	if err := c.p.sp(); err != nil {
		return err
	}
	if ok, err := c.p.take('('); err != nil {
		return err
	} else if ok && cmd.name == "LIST" {
		opts, err := c.atomList()
		if err != nil {
			return err
		}
		for _, o := range opts {
			switch o {
			case "SUBSCRIBED":
				a.subscribedOnly, a.retSubscribed = true, true
			case "SPECIAL-USE":
				a.specialUseOnly = true
			case "RECURSIVEMATCH", "REMOTE":
			default:
				return errSyntax("unknown LIST selection option %s", o)
			}
		}
		if err := c.p.sp(); err != nil {
			return err
		}
	} else if ok {
		return errSyntax("LSUB takes no options")
	}
	ref, err := c.p.mailboxPattern(c.utf8)
	if err != nil {
		return err
	}
	if err := c.p.sp(); err != nil {
		return err
	}
	if ok, err := c.p.take('('); err != nil {
		return err
	} else if ok && cmd.name == "LIST" {
		for {
			pat, err := c.p.mailboxPattern(c.utf8)
			if err != nil {
				return err
			}
			a.patterns = append(a.patterns, pat)
			if ok, err := c.p.take(')'); err != nil {
				return err
			} else if ok {
				break
			}
			if err := c.p.sp(); err != nil {
				return err
			}
		}
	} else {
		pat, err := c.p.mailboxPattern(c.utf8)
		if err != nil {
			return err
		}
		a.patterns = []string{pat}
	}
	if err := c.listReturn(cmd, &a); err != nil {
		return err
	}
	if err := c.p.end(); err != nil {
		return err
	}

	if len(a.patterns) == 1 && a.patterns[0] == "" {
		// The hierarchy delimiter request (section 6.3.9).
		c.writeLine(`* %s (\Noselect) "%s" ""`, cmd.name, store.Separator)
		return nil
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	mbs, err := c.srv.Store.Mailboxes(ctx, c.acct.ID)
	if err != nil {
		return fmt.Errorf("listing mailboxes: %w", err)
	}
	parents := map[string]bool{}
	for _, mb := range mbs {
		for _, p := range store.Parents(mb.Name) {
			parents[p] = true
		}
	}
	for _, mb := range mbs {
		if a.subscribedOnly && !mb.Subscribed || a.specialUseOnly && mb.SpecialUse == "" || !a.matches(ref, mb.Name) {
			continue
		}
		var attrs []string
		if parents[mb.Name] {
			attrs = append(attrs, `\HasChildren`)
		} else {
			attrs = append(attrs, `\HasNoChildren`)
		}
		if a.retSubscribed && mb.Subscribed {
			attrs = append(attrs, `\Subscribed`)
		}
		if mb.SpecialUse != "" {
			attrs = append(attrs, mb.SpecialUse)
		}
		e := c.enc()
		e.raw("* ").raw(cmd.name).sp().flagList(attrs).raw(` "` + store.Separator + `" `).mailbox(mb.Name)
		c.writeBytes(e.b)
		if len(a.status) > 0 {
			if err := c.writeStatus(ctx, &mb, a.status); err != nil {
				return err
			}
		}
	}
	return nil
}

// listReturn reads LIST's return options (RFC 5258 section 3).
func (c *conn) listReturn(cmd *command, a *listArgs) error {
	if ok, err := c.p.take(' '); err != nil || !ok {
		return err
	}
	word, err := c.p.atom()
	if err != nil {
		return err
	}
	if !strings.EqualFold(word, "RETURN") || cmd.name != "LIST" {
		return errSyntax("expected RETURN options, got %s", word)
	}
	if err := c.p.sp(); err != nil {
		return err
	}
	if err := c.p.expect('(', "list of return options"); err != nil {
		return err
	}
	for {
		if ok, err := c.p.take(')'); err != nil || ok {
			return err
		}
		o, err := c.p.atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(o) {
		case "SUBSCRIBED":
			a.retSubscribed = true
		case "CHILDREN", "SPECIAL-USE":
			// Both are always returned.
		case "STATUS":
			if err := c.p.sp(); err != nil {
				return err
			}
			if a.status, err = c.statusList(); err != nil {
				return err
			}
		default:
			return errSyntax("unknown LIST return option %s", o)
		}
		if ok, err := c.p.take(' '); err != nil {
			return err
		} else if !ok {
			if err := c.p.expect(')', ") closing return options"); err != nil {
				return err
			}
			return nil
		}
	}
}

// atomList reads atoms up to ")", the "(" already read, upper-cased.
func (c *conn) atomList() ([]string, error) {
	var l []string
	for {
		if ok, err := c.p.take(')'); err != nil || ok {
			return l, err
		}
		if len(l) > 0 {
			if err := c.p.sp(); err != nil {
				return nil, err
			}
		}
		a, err := c.p.atom()
		if err != nil {
			return nil, err
		}
		l = append(l, strings.ToUpper(a))
	}
}

// matches reports whether name matches one of the patterns under the
// reference (section 6.3.9): "*" matches anything, "%" anything but the
// hierarchy separator.
func (a *listArgs) matches(ref, name string) bool {
	for _, pat := range a.patterns {
		full := pat
		if ref != "" && !strings.HasPrefix(pat, store.Separator) {
			full = ref + pat
		}
		if len(full) >= 5 && strings.EqualFold(full[:5], store.Inbox) && (len(full) == 5 || full[5] == store.Separator[0]) {
			full = store.Inbox + full[5:]
		}
		if matchPattern(full, name) {
			return true
		}
	}
	return false
}

// matchPattern matches name against a LIST pattern in time proportional
// to their lengths' product: dynamic programming, no backtracking.
func matchPattern(pat, name string) bool {
	// ok[j]: pat[:i] matches name[:j].
	ok := make([]bool, len(name)+1)
	ok[0] = true
	for i := 0; i < len(pat); i++ {
		next := make([]bool, len(name)+1)
		switch pat[i] {
		case '*', '%':
			run := false
			for j := 0; j <= len(name); j++ {
				run = run || ok[j]
				next[j] = run
				if j < len(name) && pat[i] == '%' && name[j] == store.Separator[0] {
					run = false
				}
			}
		default:
			for j := 0; j < len(name); j++ {
				next[j+1] = ok[j] && name[j] == pat[i]
			}
		}
		ok = next
	}
	return ok[len(name)]
}
