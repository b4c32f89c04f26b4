package imap

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"casella/internal/store"
)

// NOTIFY (RFC 5465). A client names the mailboxes it cares about and the
// events it wants to hear of; the server then tells it as they happen,
// between commands too, not only during IDLE.
//
// Implementation notes:
//   - Events come from the store's change log of the whole account, read
//     from the position where the last notification stopped, so a change
//     made on another node is told the same way as one next door.
//     Mailbox names, subscriptions and annotations are compared with a
//     snapshot taken at the last notification, since the change log names
//     no mailbox and no annotation.
//   - A notifier goroutine waits on Store.Watch and writes between
//     commands. It takes conn.mu, which a command holds from the end of
//     its tag to its tagged response: notifications never interleave with
//     a command's responses, and the selected mailbox's view is never
//     touched by two goroutines at once. During IDLE the command itself
//     writes them (idle.go).
//   - For the selected mailbox the events are the usual untagged updates
//     (sync), FETCH of the requested items for new messages, and EXPUNGE
//     held back with selected-delayed (section 5.1). Flag changes are
//     told with new and expunged messages; FlagChange alone is not a
//     separate choice for it.
//   - Other mailboxes get STATUS for message events and LIST for name and
//     subscription events (section 5.2, 5.3, 5.4); annotation changes of
//     any mailbox, or of the server, an unsolicited METADATA naming the
//     entries (RFC 5464 section 4.4.2). Message annotations (RFC 5257)
//     do not exist here: AnnotationChange is refused with BADEVENT.

// notifyEvents are the events of one event group.
type notifyEvents struct {
	messages     bool // MessageNew and MessageExpunge, which go together
	flags        bool // FlagChange
	names        bool // MailboxName
	subscription bool // SubscriptionChange
	mailboxMeta  bool // MailboxMetadataChange (RFC 5464 section 4.4)
	serverMeta   bool // ServerMetadataChange
	fetch        *fetchArgs
}

// notifyGroup is an event group for mailboxes other than the selected one.
type notifyGroup struct {
	filter string   // INBOXES, PERSONAL, SUBSCRIBED, SUBTREE or MAILBOXES
	names  []string // of SUBTREE and MAILBOXES
	events notifyEvents
}

// notifySpec is what NOTIFY SET asked for.
type notifySpec struct {
	selected *notifyEvents // nil: nothing about the selected mailbox
	delayed  bool          // selected-delayed
	groups   []notifyGroup
}

// notifier is the state of an active NOTIFY.
type notifier struct {
	spec   notifySpec
	modseq uint64           // change log position told of
	boxes  map[int64]string // mailbox ID -> name, as last told
	subs   map[string]bool  // subscriptions, as last told
	// meta holds the annotations of the server (0) and of the mailboxes
	// whose changes the client wants, as last told.
	meta map[int64]map[string]string
	stop func()
}

// supportedEvents is the BADEVENT response code's list (section 6).
const supportedEvents = "BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)"

// cmdNotify serves NOTIFY NONE and NOTIFY SET.
func (c *conn) cmdNotify(cmd *command) error {
	spec, status, err := c.parseNotify()
	if err != nil {
		return err
	}
	if spec == nil {
		c.stopNotify()
		return nil
	}
	ctx, cancel := c.commandContext()
	defer cancel()
	n := &notifier{spec: *spec}
	if err := c.notifySnapshot(ctx, n); err != nil {
		return err
	}
	c.stopNotify()
	if status {
		// The current state of every mailbox whose messages the client
		// watches (section 3).
		mbs, err := c.srv.Store.Mailboxes(ctx, c.acct.ID)
		if err != nil {
			return fmt.Errorf("notify: listing mailboxes: %w", err)
		}
		for i := range mbs {
			if ev := n.eventsFor(c, &mbs[i]); ev != nil && ev.messages {
				if err := c.writeStatus(ctx, &mbs[i], c.notifyStatusItems()); err != nil {
					return err
				}
			}
		}
	}
	c.notify = n
	wake, stopWatch := c.srv.Store.Watch(c.acct.ID)
	done := make(chan struct{})
	n.stop = func() {
		stopWatch()
		close(done)
	}
	go c.notifyLoop(wake, done)
	return nil
}

// parseNotify reads NOTIFY's arguments; a nil spec is NOTIFY NONE.
func (c *conn) parseNotify() (*notifySpec, bool, error) {
	if err := c.p.sp(); err != nil {
		return nil, false, err
	}
	word, err := c.p.atom()
	if err != nil {
		return nil, false, err
	}
	switch strings.ToUpper(word) {
	case "NONE":
		return nil, false, c.p.end()
	case "SET":
		spec, status, err := c.parseNotifySet()
		return &spec, status, err
	}
	return nil, false, errSyntax("expected NOTIFY SET or NOTIFY NONE, got %s", word)
}

// parseNotifySet reads what follows NOTIFY SET.
func (c *conn) parseNotifySet() (spec notifySpec, status bool, err error) {
	if err := c.p.sp(); err != nil {
		return spec, false, err
	}
	if ch, err := c.p.peek(); err != nil {
		return spec, false, err
	} else if ch != '(' {
		word, err := c.p.atom()
		if err != nil {
			return spec, false, err
		}
		if !strings.EqualFold(word, "STATUS") {
			return spec, false, errSyntax("expected STATUS or an event group, got %s", word)
		}
		status = true
		if err := c.p.sp(); err != nil {
			return spec, false, err
		}
	}
	seen := map[string]bool{}
	for {
		if err := c.p.expect('(', "event group"); err != nil {
			return spec, false, err
		}
		filter, err := c.p.atom()
		if err != nil {
			return spec, false, err
		}
		filter = strings.ToUpper(filter)
		g := notifyGroup{filter: filter}
		switch filter {
		case "SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED":
		case "SUBTREE", "MAILBOXES":
			if g.names, err = c.notifyMailboxes(); err != nil {
				return spec, false, err
			}
		default:
			return spec, false, errSyntax("unknown mailbox filter %s", filter)
		}
		if seen[filter] && filter != "SUBTREE" && filter != "MAILBOXES" ||
			(filter == "SELECTED" || filter == "SELECTED-DELAYED") && spec.selected != nil {
			return spec, false, errSyntax("mailbox filter %s given twice", filter)
		}
		seen[filter] = true
		if err := c.p.sp(); err != nil {
			return spec, false, err
		}
		selected := filter == "SELECTED" || filter == "SELECTED-DELAYED"
		if g.events, err = c.notifyEventList(selected); err != nil {
			return spec, false, err
		}
		if err := c.p.expect(')', ") closing the event group"); err != nil {
			return spec, false, err
		}
		if selected {
			ev := g.events
			spec.selected, spec.delayed = &ev, filter == "SELECTED-DELAYED"
		} else {
			spec.groups = append(spec.groups, g)
		}
		if ok, err := c.p.take(' '); err != nil {
			return spec, false, err
		} else if !ok {
			break
		}
	}
	return spec, status, c.p.end()
}

// notifyMailboxes reads " mailbox" or " (mailbox *(SP mailbox))".
func (c *conn) notifyMailboxes() ([]string, error) {
	if err := c.p.sp(); err != nil {
		return nil, err
	}
	if ok, err := c.p.take('('); err != nil {
		return nil, err
	} else if !ok {
		name, err := c.p.mailbox(c.utf8)
		return []string{name}, err
	}
	var names []string
	for {
		name, err := c.p.mailbox(c.utf8)
		if err != nil {
			return nil, err
		}
		names = append(names, name)
		if ok, err := c.p.take(')'); err != nil || ok {
			return names, err
		}
		if err := c.p.sp(); err != nil {
			return nil, err
		}
	}
}

// notifyEventList reads "NONE" or "(" event *(SP event) ")" and checks the
// rules of section 5: MessageNew and MessageExpunge go together, and
// FlagChange needs them; only the selected mailbox takes fetch items.
func (c *conn) notifyEventList(selected bool) (notifyEvents, error) {
	var ev notifyEvents
	if ok, err := c.p.take('('); err != nil {
		return ev, err
	} else if !ok {
		word, err := c.p.atom()
		if err != nil {
			return ev, err
		}
		if !strings.EqualFold(word, "NONE") {
			return ev, errSyntax("expected NONE or a list of events, got %s", word)
		}
		return ev, nil
	}
	var newMsg, expunge bool
	var unsupported bool
	for {
		name, err := c.p.atom()
		if err != nil {
			return ev, err
		}
		switch strings.ToUpper(name) {
		case "MESSAGENEW":
			newMsg = true
			if ok, err := c.p.take(' '); err != nil {
				return ev, err
			} else if ok {
				ch, err := c.p.peek()
				if err != nil {
					return ev, err
				}
				if ch != '(' {
					continue // the space came before the next event
				}
				if !selected {
					return ev, errSyntax("fetch items with MessageNew are for the selected mailbox only")
				}
				if ev.fetch, err = c.notifyFetchAtts(); err != nil {
					return ev, err
				}
			}
		case "MESSAGEEXPUNGE":
			expunge = true
		case "FLAGCHANGE":
			ev.flags = true
		case "MAILBOXNAME":
			ev.names = true
		case "SUBSCRIPTIONCHANGE":
			ev.subscription = true
		case "MAILBOXMETADATACHANGE":
			ev.mailboxMeta = true
		case "SERVERMETADATACHANGE":
			ev.serverMeta = true
		case "ANNOTATIONCHANGE":
			unsupported = true
		default:
			return ev, errSyntax("unknown event %s", name)
		}
		if ok, err := c.p.take(')'); err != nil {
			return ev, err
		} else if ok {
			break
		}
		if err := c.p.sp(); err != nil {
			return ev, err
		}
	}
	if newMsg != expunge {
		return ev, errSyntax("MessageNew and MessageExpunge go together (RFC 5465 section 5)")
	}
	if ev.flags && !newMsg {
		return ev, errSyntax("FlagChange needs MessageNew and MessageExpunge (RFC 5465 section 5)")
	}
	if unsupported {
		return ev, errNo(supportedEvents, "Message annotations (RFC 5257) are not available")
	}
	ev.messages = newMsg
	return ev, nil
}

// notifyFetchAtts reads MessageNew's "(" fetch-att *(SP fetch-att) ")".
func (c *conn) notifyFetchAtts() (*fetchArgs, error) {
	if err := c.p.expect('(', "fetch items"); err != nil {
		return nil, err
	}
	a := &fetchArgs{}
	for {
		att, err := c.p.fetchAtt(false)
		if err != nil {
			return nil, err
		}
		if att.setsSeen() {
			// A notification must not change the message.
			return nil, errSyntax("%s would set \\Seen, use BODY.PEEK", att.name)
		}
		a.atts = append(a.atts, att)
		if ok, err := c.p.take(')'); err != nil || ok {
			return a, err
		}
		if err := c.p.sp(); err != nil {
			return nil, err
		}
	}
}

// stopNotify ends an active NOTIFY.
func (c *conn) stopNotify() {
	if c.notify != nil {
		c.notify.stop()
		c.notify = nil
	}
}

// notifySnapshot records what the client is told from now on: the change
// log position, the mailboxes' names and the subscriptions.
func (c *conn) notifySnapshot(ctx context.Context, n *notifier) error {
	_, high, err := c.srv.Store.Changes(ctx, c.acct.ID, 0, math.MaxInt64, 1)
	if err != nil {
		return fmt.Errorf("notify: reading change log position: %w", err)
	}
	mbs, err := c.srv.Store.Mailboxes(ctx, c.acct.ID)
	if err != nil {
		return fmt.Errorf("notify: listing mailboxes: %w", err)
	}
	subs, err := c.srv.Store.Subscriptions(ctx, c.acct.ID)
	if err != nil {
		return fmt.Errorf("notify: listing subscriptions: %w", err)
	}
	n.modseq = high
	n.boxes = map[int64]string{}
	for _, mb := range mbs {
		n.boxes[mb.ID] = mb.Name
	}
	n.subs = map[string]bool{}
	for _, s := range subs {
		n.subs[s] = true
	}
	n.meta = map[int64]map[string]string{}
	for i := range mbs {
		if n.wantsMeta(c, mbs[i].ID, &mbs[i]) {
			if n.meta[mbs[i].ID], err = c.readMetadata(ctx, mbs[i].ID); err != nil {
				return err
			}
		}
	}
	if n.wantsMeta(c, 0, nil) {
		if n.meta[0], err = c.readMetadata(ctx, 0); err != nil {
			return err
		}
	}
	return nil
}

// wantsNames reports whether any group wants MailboxName or
// SubscriptionChange, which compare the mailboxes with the snapshot.
func (n *notifier) wantsNames() bool {
	for _, g := range n.spec.groups {
		if g.events.names || g.events.subscription {
			return true
		}
	}
	return false
}

// wantsMeta reports whether the client wants to hear of changes to the
// annotations of mailbox id (mb), or of the server's when id is 0.
func (n *notifier) wantsMeta(c *conn, id int64, mb *store.Mailbox) bool {
	if id == 0 {
		if n.spec.selected != nil && n.spec.selected.serverMeta {
			return true
		}
		for _, g := range n.spec.groups {
			if g.events.serverMeta {
				return true
			}
		}
		return false
	}
	if c.sel != nil && c.sel.mb.ID == id {
		return n.spec.selected != nil && n.spec.selected.mailboxMeta
	}
	ev := n.eventsFor(c, mb)
	return ev != nil && ev.mailboxMeta
}

// readMetadata returns the annotations of a mailbox, or of the server.
func (c *conn) readMetadata(ctx context.Context, id int64) (map[string]string, error) {
	l, err := c.srv.Store.Metadata(ctx, c.acct.ID, id)
	if err != nil {
		return nil, fmt.Errorf("notify: reading annotations: %w", err)
	}
	m := map[string]string{}
	for _, e := range l {
		m[e.Name] = string(e.Value)
	}
	return m, nil
}

// notifyMetadata writes an unsolicited METADATA response naming the
// entries of a mailbox, or of the server, that changed since the last one
// (RFC 5464 section 4.4.2).
func (c *conn) notifyMetadata(ctx context.Context, n *notifier, id int64, name string) error {
	now, err := c.readMetadata(ctx, id)
	if err != nil {
		return err
	}
	old := n.meta[id]
	var changed []string
	for k, v := range now {
		if ov, ok := old[k]; !ok || ov != v {
			changed = append(changed, k)
		}
	}
	for k := range old {
		if _, ok := now[k]; !ok {
			changed = append(changed, k)
		}
	}
	n.meta[id] = now
	if len(changed) == 0 {
		return nil
	}
	slices.Sort(changed)
	e := c.enc()
	e.raw("* METADATA ")
	c.metadataName(e, name)
	for _, k := range changed {
		e.sp().astr(k)
	}
	c.writeBytes(e.b)
	return nil
}

// eventsFor returns the events the client wants for a mailbox other than
// the selected one, merged over the groups that match it, or nil.
func (n *notifier) eventsFor(c *conn, mb *store.Mailbox) *notifyEvents {
	if c.sel != nil && c.sel.mb.ID == mb.ID {
		return nil
	}
	var out *notifyEvents
	for i := range n.spec.groups {
		g := &n.spec.groups[i]
		if !g.matches(mb.Name, mb.Subscribed) {
			continue
		}
		if out == nil {
			out = &notifyEvents{}
		}
		out.messages = out.messages || g.events.messages
		out.flags = out.flags || g.events.flags
		out.names = out.names || g.events.names
		out.subscription = out.subscription || g.events.subscription
		out.mailboxMeta = out.mailboxMeta || g.events.mailboxMeta
	}
	return out
}

// matches reports whether the group's filter covers a mailbox name
// (section 6).
func (g *notifyGroup) matches(name string, subscribed bool) bool {
	switch g.filter {
	case "INBOXES":
		return name == store.Inbox // deliveries go to INBOX, or where Sieve files them
	case "PERSONAL":
		return true
	case "SUBSCRIBED":
		return subscribed
	case "MAILBOXES":
		return slices.Contains(g.names, name)
	case "SUBTREE":
		for _, n := range g.names {
			if name == n || strings.HasPrefix(name, n+store.Separator) {
				return true
			}
		}
	}
	return false
}

// notifyStatusItems are the STATUS items that tell of message events.
func (c *conn) notifyStatusItems() []string {
	items := []string{"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"}
	if c.condstore {
		items = append(items, "HIGHESTMODSEQ") // RFC 5465 section 5.2
	}
	return items
}

// notifyLoop writes notifications as the store reports changes, until
// done is closed.
func (c *conn) notifyLoop(wake <-chan struct{}, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-wake:
		}
		c.mu.Lock()
		if c.notify == nil || c.closeNow || c.wErr != nil || c.bw == nil {
			c.mu.Unlock()
			continue
		}
		ctx, cancel := c.commandContext()
		err := c.pushNotify(ctx)
		cancel()
		if ferr := c.flush(); err == nil {
			err = ferr
		}
		if err != nil {
			c.log.Warn("sending NOTIFY events", "err", err)
		}
		if c.closeNow {
			// A BYE went out (the selected mailbox was deleted): end
			// the read the session is waiting in.
			c.raw.Close()
		}
		c.mu.Unlock()
	}
}

// pushNotify writes what happened since the last notification: updates
// of the selected mailbox, STATUS for the others, LIST for names and
// subscriptions. The caller holds c.mu and flushes.
func (c *conn) pushNotify(ctx context.Context) error {
	n := c.notify
	if c.sel != nil && n.spec.selected != nil && n.spec.selected.messages {
		if err := c.notifySelected(ctx, n.spec.selected, !n.spec.delayed); err != nil {
			return err
		}
	}
	if len(n.spec.groups) == 0 && (n.spec.selected == nil || !n.spec.selected.mailboxMeta && !n.spec.selected.serverMeta) {
		return nil
	}
	changed := map[int64]bool{} // mailboxes with message events
	flagged := map[int64]bool{} // mailboxes with flag changes only
	annotated := map[int64]bool{}
	mailboxes := false
	for {
		changes, _, err := c.srv.Store.Changes(ctx, c.acct.ID, 0, n.modseq, changesBatch)
		if err != nil {
			return fmt.Errorf("notify: reading changes: %w", err)
		}
		for _, ch := range changes {
			n.modseq = max(n.modseq, ch.ModSeq)
			switch ch.Kind {
			case store.MessageAdded, store.MessageExpunged:
				changed[ch.Mailbox] = true
			case store.MessageFlagsChanged:
				flagged[ch.Mailbox] = true
			case store.MailboxCreated, store.MailboxDeleted, store.MailboxChanged:
				// A rename, a subscription, or its counters: the
				// snapshot comparison tells which.
				mailboxes = true
			case store.MetadataChanged:
				annotated[ch.Mailbox] = true
			}
		}
		if len(changes) < changesBatch {
			break
		}
	}
	if len(changed) == 0 && len(flagged) == 0 && len(annotated) == 0 && !mailboxes {
		return nil
	}
	if annotated[0] && n.wantsMeta(c, 0, nil) {
		if err := c.notifyMetadata(ctx, n, 0, ""); err != nil {
			return err
		}
	}
	mbs, err := c.srv.Store.Mailboxes(ctx, c.acct.ID)
	if err != nil {
		return fmt.Errorf("notify: listing mailboxes: %w", err)
	}
	if mailboxes && n.wantsNames() {
		if err := c.notifyNames(ctx, n, mbs); err != nil {
			return err
		}
	}
	for i := range mbs {
		mb := &mbs[i]
		if annotated[mb.ID] && n.wantsMeta(c, mb.ID, mb) {
			if err := c.notifyMetadata(ctx, n, mb.ID, mb.Name); err != nil {
				return err
			}
		}
		ev := n.eventsFor(c, mb)
		switch {
		case ev == nil:
		case ev.messages && changed[mb.ID], ev.flags && flagged[mb.ID]:
			if err := c.writeStatus(ctx, mb, c.notifyStatusItems()); err != nil {
				return err
			}
		}
	}
	return nil
}

// notifySelected brings the selected mailbox up to date and sends the
// requested FETCH items of the messages that arrived.
func (c *conn) notifySelected(ctx context.Context, ev *notifyEvents, allowExpunge bool) error {
	v := c.sel
	// New messages get UIDs above every one the client knows; the same
	// update may expunge others, so positions would not tell them.
	var known uint32
	if v.exists > 0 {
		known = v.uids[v.exists-1]
	}
	if err := c.sync(ctx, allowExpunge); err != nil {
		return err
	}
	if ev.fetch == nil || v.exists == 0 || v.uids[v.exists-1] <= known {
		return nil
	}
	a := *ev.fetch
	a.set = seqSet{ranges: []seqRange{{known + 1, v.uids[v.exists-1]}}}
	return c.runFetch(&command{name: "UID FETCH", uid: true}, &a)
}

// notifyNames compares the mailboxes and subscriptions with the snapshot
// and writes LIST for what changed (sections 5.3, 5.4).
func (c *conn) notifyNames(ctx context.Context, n *notifier, mbs []store.Mailbox) error {
	subs, err := c.srv.Store.Subscriptions(ctx, c.acct.ID)
	if err != nil {
		return fmt.Errorf("notify: listing subscriptions: %w", err)
	}
	nowSubs := map[string]bool{}
	for _, s := range subs {
		nowSubs[s] = true
	}
	wants := func(name string, subscribed bool, names bool) bool {
		mb := store.Mailbox{Name: name, Subscribed: subscribed}
		ev := n.eventsFor(c, &mb)
		return ev != nil && (names && ev.names || !names && ev.subscription)
	}
	list := func(attrs []string, name, old string) {
		e := c.enc()
		e.raw("* LIST ").flagList(attrs).raw(` "` + store.Separator + `" `).mailbox(name)
		if old != "" {
			e.raw(` ("OLDNAME" (`).mailbox(old).raw("))") // RFC 5465 section 5.4
		}
		c.writeBytes(e.b)
	}
	now := map[int64]string{}
	for _, mb := range mbs {
		now[mb.ID] = mb.Name
		old, ok := n.boxes[mb.ID]
		switch {
		case !ok && wants(mb.Name, nowSubs[mb.Name], true):
			list(nil, mb.Name, "")
		case ok && old != mb.Name && (wants(mb.Name, nowSubs[mb.Name], true) || wants(old, n.subs[old], true)):
			list(nil, mb.Name, old)
		}
	}
	for id, old := range n.boxes {
		if _, ok := now[id]; !ok && wants(old, n.subs[old], true) {
			list([]string{`\NonExistent`}, old, "")
		}
	}
	for name := range nowSubs {
		if !n.subs[name] && wants(name, true, false) {
			list([]string{`\Subscribed`}, name, "")
		}
	}
	for name := range n.subs {
		if !nowSubs[name] && wants(name, false, false) {
			list(nil, name, "")
		}
	}
	n.boxes, n.subs = now, nowSubs
	return nil
}
