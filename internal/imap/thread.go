package imap

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"casella/internal/message"
	"casella/internal/store"
)

// threadAlgorithms are the THREAD algorithms offered (RFC 5256 section 4).
var threadAlgorithms = []string{"ORDEREDSUBJECT", "REFERENCES"}

// threadMsg is a message with what threading looks at.
type threadMsg struct {
	seq, num uint32    // num: the sequence number or UID answered
	sent     time.Time // sent date, or the internal date (section 2.2)
	subject  string    // base subject, folded by foldASCII
	reply    bool      // the subject marks a reply or forward
	id       string    // Message-ID without angle brackets
	refs     []string  // References, then In-Reply-To
}

// threadNode is a message, or a dummy standing for a referenced message
// that is not among those threaded (msg nil).
type threadNode struct {
	msg      *threadMsg
	parent   *threadNode
	children []*threadNode
}

// cmdThread serves THREAD and UID THREAD (RFC 5256 section 4).
func (c *conn) cmdThread(cmd *command) error {
	alg, root, err := c.parseThread()
	if err != nil {
		return err
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	// ORDEREDSUBJECT needs only the stored sort keys; REFERENCES also
	// needs the references, kept in the metadata.
	load := store.Query{WithSortKeys: alg == "ORDEREDSUBJECT", WithMeta: alg == "REFERENCES"}
	var msgs []*threadMsg
	err = c.eachMatch(ctx, root, load, time.Now(), func(m *store.Message, seq uint32) {
		msgs = append(msgs, newThreadMsg(m, seq, cmd.uid))
	})
	if err != nil {
		return err
	}
	var threads []*threadNode
	if alg == "ORDEREDSUBJECT" {
		threads = orderedSubject(msgs)
	} else {
		threads = references(msgs)
	}
	e := c.enc()
	e.raw("* THREAD")
	if len(threads) > 0 {
		e.sp()
	}
	for _, t := range threads {
		e.raw("(")
		writeThread(e, t)
		e.raw(")")
	}
	c.writeBytes(e.b)
	return nil
}

// parseThread reads " algorithm SP charset SP search-criteria" and the
// end of the line (RFC 5256 section 5).
func (c *conn) parseThread() (string, *searchKey, error) {
	if err := c.p.sp(); err != nil {
		return "", nil, err
	}
	alg, err := c.p.atom()
	if err != nil {
		return "", nil, err
	}
	alg = strings.ToUpper(alg)
	if !slices.Contains(threadAlgorithms, alg) {
		return "", nil, errSyntax("unknown thread algorithm %s", alg)
	}
	root, err := c.charsetAndCriteria()
	return alg, root, err
}

func newThreadMsg(m *store.Message, seq uint32, uid bool) *threadMsg {
	t := &threadMsg{seq: seq, num: seq, sent: m.Internal}
	if uid {
		t.num = m.UID
	}
	if k := m.SortKeys; k != nil {
		if !k.Sent.IsZero() {
			t.sent = k.Sent
		}
		t.subject = foldASCII(k.Subject)
	}
	if meta := m.Meta; meta != nil {
		if !meta.Envelope.Date.IsZero() {
			t.sent = meta.Envelope.Date
		}
		t.subject = foldASCII(meta.BaseSubject)
		t.reply = message.IsReplyOrForward(meta.Envelope.Subject)
		t.id = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(meta.Envelope.MessageID), "<"), ">")
		t.refs = meta.References
	}
	return t
}

// compareThreadMsg orders by sent date, then by mailbox order.
func compareThreadMsg(x, y *threadMsg) int {
	if d := x.sent.Compare(y.sent); d != 0 {
		return d
	}
	return cmp.Compare(x.seq, y.seq)
}

// orderedSubject threads by base subject (RFC 5256 section 4,
// ORDEREDSUBJECT): the first message of a subject, by sent date, is the
// parent of the others; threads are ordered by their first message.
func orderedSubject(msgs []*threadMsg) []*threadNode {
	slices.SortFunc(msgs, func(x, y *threadMsg) int {
		if d := strings.Compare(x.subject, y.subject); d != 0 {
			return d
		}
		return compareThreadMsg(x, y)
	})
	var threads []*threadNode
	for i, m := range msgs {
		n := &threadNode{msg: m}
		if i > 0 && msgs[i-1].subject == m.subject {
			parent := threads[len(threads)-1]
			n.parent = parent
			parent.children = append(parent.children, n)
			continue
		}
		threads = append(threads, n)
	}
	sortSiblings(threads)
	return threads
}

// references threads by the References and In-Reply-To header fields
// (RFC 5256 section 4, REFERENCES), then by base subject. Delivery keeps
// the ids of both fields in one list, so an In-Reply-To that References
// lacks counts as its last reference.
func references(msgs []*threadMsg) []*threadNode {
	// Step 1: link messages by their references.
	ids := map[string]*threadNode{}
	var all []*threadNode
	container := func(id string) *threadNode {
		n := ids[id]
		if n == nil {
			n = &threadNode{}
			ids[id] = n
			all = append(all, n)
		}
		return n
	}
	for _, m := range msgs {
		var n *threadNode
		if m.id != "" && ids[m.id] != nil && ids[m.id].msg == nil {
			n = ids[m.id]
		} else {
			// A message without a Message-ID, or with one already seen,
			// is unique (step 1).
			n = &threadNode{}
			all = append(all, n)
			if m.id != "" && ids[m.id] == nil {
				ids[m.id] = n
			}
		}
		n.msg = m
		// Step 1A: each reference is the parent of the next one, unless
		// that one has a parent already or a loop would result.
		var prev *threadNode
		for _, id := range m.refs {
			if id == "" {
				continue
			}
			ref := container(id)
			if prev != nil && ref.parent == nil && !isAncestor(ref, prev) {
				link(prev, ref)
			}
			prev = ref
		}
		// Step 1B: the last reference is the message's parent, replacing
		// any parent an earlier message's references gave it.
		if n.parent != nil {
			unlink(n)
		}
		if prev != nil && !isAncestor(n, prev) {
			link(prev, n)
		}
	}
	// Step 2: the root set; step 4: prune dummies.
	var roots []*threadNode
	for _, n := range all {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	roots = prune(roots, true)
	roots = groupBySubject(roots)
	sortSiblings(roots)
	return roots
}

// isAncestor reports whether a is n or one of n's ancestors.
func isAncestor(a, n *threadNode) bool {
	for ; n != nil; n = n.parent {
		if n == a {
			return true
		}
	}
	return false
}

func link(parent, child *threadNode) {
	child.parent = parent
	parent.children = append(parent.children, child)
}

func unlink(n *threadNode) {
	p := n.parent
	p.children = slices.DeleteFunc(p.children, func(c *threadNode) bool { return c == n })
	n.parent = nil
}

// prune removes dummies without children and replaces the others by
// their children, except that a dummy at the root with several children
// stays (step 4).
func prune(level []*threadNode, root bool) []*threadNode {
	var out []*threadNode
	for _, n := range level {
		n.children = prune(n.children, false)
		if n.msg == nil {
			if len(n.children) == 0 {
				continue
			}
			if !root || len(n.children) == 1 {
				for _, c := range n.children {
					c.parent = n.parent
				}
				out = append(out, n.children...)
				continue
			}
		}
		out = append(out, n)
	}
	return out
}

// threadSubject is the base subject of a root: its own, or its first
// child's for a dummy.
func threadSubject(n *threadNode) string {
	if n.msg == nil {
		n = n.children[0]
	}
	return n.msg.subject
}

// groupBySubject gathers the roots that have the same base subject
// (step 5).
func groupBySubject(roots []*threadNode) []*threadNode {
	// Step 5B: per subject, a dummy if there is one, else a message that
	// is not a reply if there is one.
	table := map[string]*threadNode{}
	for _, n := range roots {
		s := threadSubject(n)
		if s == "" {
			continue
		}
		old, ok := table[s]
		if !ok || old.msg != nil && (n.msg == nil || old.msg.reply && !n.msg.reply) {
			table[s] = n
		}
	}
	// Step 5C: merge the other roots into the table's.
	gone := map[*threadNode]bool{}
	var added []*threadNode
	for _, n := range roots {
		s := threadSubject(n)
		old := table[s]
		if s == "" || old == n || gone[n] {
			continue
		}
		switch {
		case old.msg == nil && n.msg == nil:
			for _, c := range n.children {
				link(old, c)
			}
			gone[n] = true
		case old.msg == nil, n.msg.reply && !old.msg.reply:
			link(old, n)
			gone[n] = true
		default:
			d := &threadNode{}
			link(d, old)
			link(d, n)
			gone[old], gone[n] = true, true
			table[s] = d
			added = append(added, d)
		}
	}
	out := slices.DeleteFunc(roots, func(n *threadNode) bool { return gone[n] })
	return append(out, added...)
}

// sortSiblings orders every level of the threads by sent date; a dummy
// sorts as its first child (step 6).
func sortSiblings(level []*threadNode) {
	for _, n := range level {
		sortSiblings(n.children)
	}
	first := func(n *threadNode) *threadMsg {
		for n.msg == nil {
			n = n.children[0]
		}
		return n.msg
	}
	slices.SortStableFunc(level, func(x, y *threadNode) int { return compareThreadMsg(first(x), first(y)) })
}

// writeThread writes the inside of one thread-list (RFC 5256 section 5):
// a message followed by its only child, or by each child in parentheses;
// a dummy is left out.
func writeThread(e *encoder, n *threadNode) {
	for n.msg != nil && len(n.children) == 1 {
		e.num(n.msg.num).sp()
		n = n.children[0]
	}
	if n.msg != nil {
		e.num(n.msg.num)
		if len(n.children) == 0 {
			return
		}
		e.sp()
	}
	for _, c := range n.children {
		e.raw("(")
		writeThread(e, c)
		e.raw(")")
	}
}
