package imap

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"casella/internal/store"
)

// listArgs are the parsed arguments of LIST (RFC 9051 section 6.3.9,
// LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819).
type listArgs struct {
	lsub           bool
	subscribedOnly bool // selection option SUBSCRIBED, or LSUB
	specialUseOnly bool // selection option SPECIAL-USE (RFC 6154)
	recursive      bool // selection option RECURSIVEMATCH
	retSubscribed  bool
	status         []string
	patterns       []string
}

// cmdList serves LIST and LSUB.
func (c *conn) cmdList(cmd *command) error {
	var a listArgs
	a.lsub = cmd.name == "LSUB"
	a.subscribedOnly = a.lsub
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
			case "RECURSIVEMATCH":
				a.recursive = true
			case "REMOTE":
			default:
				return errSyntax("unknown LIST selection option %s", o)
			}
		}
		if a.recursive && !a.subscribedOnly && !a.specialUseOnly {
			// RFC 5258 section 3: never alone, nor with REMOTE only.
			return errSyntax("RECURSIVEMATCH needs another selection option, such as SUBSCRIBED")
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
	entries, err := c.listEntries(ctx, &a, ref)
	if err != nil {
		return err
	}
	for _, en := range entries {
		e := c.enc()
		e.raw("* ").raw(cmd.name).sp().flagList(en.attrs).raw(` "` + store.Separator + `" `).mailbox(en.name)
		if en.childInfo {
			// RFC 5258 section 3.5: a child matches SUBSCRIBED.
			e.raw(` ("CHILDINFO" ("SUBSCRIBED"))`)
		}
		c.writeBytes(e.b)
		if len(a.status) > 0 && en.mb != nil {
			if err := c.writeStatus(ctx, en.mb, a.status); err != nil {
				return err
			}
		}
	}
	return nil
}

// listEntry is one response of LIST or LSUB.
type listEntry struct {
	name      string
	mb        *store.Mailbox // nil: no mailbox has the name
	attrs     []string
	childInfo bool
}

// listEntries returns what LIST or LSUB answers, sorted by name. Without
// the SUBSCRIBED selection it lists mailboxes; with it, or for LSUB, it
// lists subscribed names, which may have no mailbox any more (\NonExistent,
// RFC 5258 section 3.4), and their parents as these rules want them:
//   - RECURSIVEMATCH: a matching parent of a subscribed name, with
//     CHILDINFO (RFC 5258 section 3.5);
//   - LSUB: a matching parent that is not subscribed itself, when "%"
//     hid a subscribed child of it, with \Noselect (RFC 3501 section
//     6.3.9).
func (c *conn) listEntries(ctx context.Context, a *listArgs, ref string) ([]listEntry, error) {
	mbs, err := c.srv.Store.Mailboxes(ctx, c.acct.ID)
	if err != nil {
		return nil, fmt.Errorf("listing mailboxes: %w", err)
	}
	byName := map[string]*store.Mailbox{}
	hasChildren := map[string]bool{}
	for i := range mbs {
		byName[mbs[i].Name] = &mbs[i]
		for _, p := range store.Parents(mbs[i].Name) {
			hasChildren[p] = true
		}
	}
	childAttrs := func(name string) []string {
		if hasChildren[name] {
			return []string{`\HasChildren`}
		}
		return []string{`\HasNoChildren`}
	}
	var out []listEntry
	if !a.subscribedOnly {
		for i := range mbs {
			mb := &mbs[i]
			if a.specialUseOnly && mb.SpecialUse == "" || !a.matches(ref, mb.Name) {
				continue
			}
			attrs := childAttrs(mb.Name)
			if a.retSubscribed && mb.Subscribed {
				attrs = append(attrs, `\Subscribed`)
			}
			if mb.SpecialUse != "" {
				attrs = append(attrs, mb.SpecialUse)
			}
			out = append(out, listEntry{name: mb.Name, mb: mb, attrs: attrs})
		}
		return out, nil
	}

	subs, err := c.srv.Store.Subscriptions(ctx, c.acct.ID)
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions: %w", err)
	}
	subscribed := map[string]bool{}
	for _, n := range subs {
		subscribed[n] = true
	}
	// For each parent of a subscribed name: a subscribed name is below
	// it, and whether the pattern missed one of them.
	hidden := map[string]bool{}
	for _, n := range subs {
		missed := !a.matches(ref, n)
		for _, p := range store.Parents(n) {
			hidden[p] = hidden[p] || missed
		}
	}
	names := slices.Clone(subs)
	for p := range hidden {
		if !subscribed[p] {
			names = append(names, p)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		mb := byName[n]
		if !a.matches(ref, n) || a.specialUseOnly && (mb == nil || mb.SpecialUse == "") {
			continue
		}
		en := listEntry{name: n, mb: mb}
		_, isParent := hidden[n]
		switch {
		case a.lsub && (mb == nil || !subscribed[n] && hidden[n]):
			en.attrs = []string{`\Noselect`}
		case a.lsub && !subscribed[n]:
			continue
		case a.lsub:
			en.attrs = childAttrs(n)
		case !subscribed[n] && !a.recursive:
			continue
		default:
			if mb == nil {
				en.attrs = []string{`\NonExistent`}
			} else {
				en.attrs = childAttrs(n)
			}
			if subscribed[n] {
				en.attrs = append(en.attrs, `\Subscribed`)
			}
			if mb != nil && mb.SpecialUse != "" {
				en.attrs = append(en.attrs, mb.SpecialUse)
			}
			en.childInfo = a.recursive && isParent
		}
		out = append(out, en)
	}
	return out, nil
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
