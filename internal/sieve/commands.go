package sieve

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"
	"time"

	"casella/internal/message"
)

// command runs an action or another command that is not control flow.
func (r *run) command(n *node) {
	switch n.name {
	case "keep":
		r.keep(n)
	case "discard":
		r.cancelled = true
	case "fileinto":
		r.fileinto(n)
	case "redirect":
		r.redirect(n)
	case "reject", "ereject":
		r.reject(n)
	case "vacation":
		r.vacation(n)
	case "set":
		r.scope.set(strings.ToLower(n.args[0].strs[0]), truncate(modify(n, r.expand(n.args[1].strs[0]))))
	case "setflag", "addflag", "removeflag":
		r.editFlags(n)
	case "addheader":
		r.addHeader(n)
	case "deleteheader":
		r.deleteHeader(n)
	case "global":
		for _, name := range r.expandList(n.args[0].strs) {
			if !validVarName(name, false) {
				r.fail(n, "bad variable name %q", name)
				return
			}
			r.scope.global[strings.ToLower(name)] = true
		}
	case "notify":
		r.notify(n)
	}
}

func truncate(s string) string {
	if len(s) > maxVarLen {
		return truncUTF8(s, maxVarLen)
	}
	return s
}

// rejected reports whether a reject was taken; RFC 5429 section 2.1 makes
// it incompatible with any action that delivers or answers.
func (r *run) rejected() bool {
	return slices.ContainsFunc(r.actions, func(a Action) bool { _, ok := a.(Reject); return ok })
}

func (r *run) actionFlags(n *node) []string {
	if a, ok := n.tags["flags"]; ok {
		return flagSet(r.expandList(a.strs))
	}
	return slices.Clone(r.flags)
}

func (r *run) keep(n *node) {
	if r.rejected() {
		r.fail(n, "keep cannot follow reject")
		return
	}
	r.cancelled = true
	flags := r.actionFlags(n)
	for i, a := range r.actions {
		if k, ok := a.(Keep); ok {
			// RFC 5228 section 2.10.3: one copy per mailbox; the flags
			// of the last keep win (RFC 5232 section 5).
			k.Flags = flags
			r.actions[i] = k
			return
		}
	}
	r.addAction(n, Keep{Flags: flags})
}

func (r *run) fileinto(n *node) {
	if r.rejected() {
		r.fail(n, "fileinto cannot follow reject")
		return
	}
	mbox := r.expand(n.args[0].strs[0])
	if mbox == "" || !validUTF8Mailbox(mbox) {
		r.fail(n, "bad mailbox name %q", mbox)
		return
	}
	if !n.has("copy") {
		r.cancelled = true
	}
	flags := r.actionFlags(n)
	if strings.EqualFold(mbox, "INBOX") {
		mbox = "INBOX"
	}
	for i, a := range r.actions {
		if f, ok := a.(FileInto); ok && f.Mailbox == mbox {
			f.Flags, f.Create = flags, f.Create || n.has("create")
			r.actions[i] = f
			return
		}
	}
	r.addAction(n, FileInto{Mailbox: mbox, Flags: flags, Create: n.has("create")})
}

func validUTF8Mailbox(s string) bool {
	return !strings.ContainsAny(s, "\x00\r\n") && strings.ToValidUTF8(s, "") == s
}

func (r *run) redirect(n *node) {
	if r.rejected() {
		r.fail(n, "redirect cannot follow reject")
		return
	}
	addr := strings.Trim(strings.TrimSpace(r.expand(n.args[0].strs[0])), "<>")
	if !validAddress(addr) {
		r.fail(n, "bad redirect address %q", addr)
		return
	}
	if !n.has("copy") {
		r.cancelled = true
	}
	for _, a := range r.actions {
		if d, ok := a.(Redirect); ok && strings.EqualFold(d.Address, addr) {
			return
		}
	}
	r.redirects++
	if r.redirects > r.lim.Redirects {
		r.fail(n, "more than %d redirects", r.lim.Redirects)
		return
	}
	r.addAction(n, Redirect{Address: addr})
}

func (r *run) reject(n *node) {
	if slices.ContainsFunc(r.actions, func(a Action) bool {
		switch a.(type) {
		case Keep, FileInto, Redirect, Vacation, Reject:
			return true
		}
		return false
	}) {
		r.fail(n, "%s cannot follow an action that delivers, answers or rejects", n.name)
		return
	}
	r.cancelled = true
	r.addAction(n, Reject{Reason: r.expand(n.args[0].strs[0]), Extended: n.name == "ereject"})
}

// parseFlags splits flag lists on white space (RFC 5232 section 3).
func parseFlags(list []string) []string {
	var out []string
	for _, s := range list {
		out = append(out, strings.Fields(s)...)
	}
	return out
}

// flagSet is the flags of list without repeats; flag names are compared
// without regard to case (RFC 3501 section 2.3.2).
func flagSet(list []string) []string {
	var out []string
	for _, f := range parseFlags(list) {
		if !slices.ContainsFunc(out, func(g string) bool { return strings.EqualFold(f, g) }) {
			out = append(out, f)
		}
	}
	return out
}

// editFlags runs setflag, addflag and removeflag on the internal variable
// or on a named variable (RFC 5232 section 3).
func (r *run) editFlags(n *node) {
	var cur []string
	varName := ""
	if n.args[0].strs != nil {
		varName = strings.ToLower(r.expand(n.args[0].strs[0]))
		if !validVarName(varName, false) {
			r.fail(n, "bad variable name %q", varName)
			return
		}
		cur = flagSet([]string{r.scope.get(varName)})
	} else {
		cur = r.flags
	}
	list := flagSet(r.expandList(n.args[1].strs))
	switch n.name {
	case "setflag":
		cur = list
	case "addflag":
		cur = flagSet(append(slices.Clone(cur), list...))
	case "removeflag":
		cur = slices.DeleteFunc(slices.Clone(cur), func(f string) bool {
			return slices.ContainsFunc(list, func(g string) bool { return strings.EqualFold(f, g) })
		})
	}
	if varName != "" {
		r.scope.set(varName, truncate(strings.Join(cur, " ")))
	} else {
		r.flags = cur
	}
}

// protectedField reports fields that editheader must leave alone: the
// trace and the loop protection of auto-replies (RFC 5293 section 9).
func protectedField(name string) bool {
	return strings.EqualFold(name, "received") || strings.EqualFold(name, "auto-submitted")
}

func (r *run) countEdit(n *node) bool {
	r.edits++
	if r.edits > r.lim.HeaderEdits {
		r.fail(n, "more than %d header edits", r.lim.HeaderEdits)
		return false
	}
	return true
}

func (r *run) addHeader(n *node) {
	name := r.expand(n.args[0].strs[0])
	value := r.expand(n.args[1].strs[0])
	if !validFieldName(name) {
		r.fail(n, "bad header field name %q", name)
		return
	}
	if protectedField(name) || !r.countEdit(n) {
		return
	}
	// RFC 5293 section 4: the value is unfolded text without line breaks.
	value = strings.NewReplacer("\r", "", "\n", " ").Replace(value)
	f := field{Name: strings.ToLower(name), Value: value}
	if n.has("last") {
		r.header = append(r.header, f)
	} else {
		r.header = append([]field{f}, r.header...)
	}
	r.actions = append(r.actions, AddHeader{Name: name, Value: value, Last: n.has("last")})
}

// deleteHeader removes the occurrences of a field that match (RFC 5293
// section 5); the occurrences are numbered in the header as edited so far.
func (r *run) deleteHeader(n *node) {
	name := strings.ToLower(r.expand(n.args[0].strs[0]))
	if protectedField(name) {
		return
	}
	var idx []int // positions in r.header of the fields named name
	for i, f := range r.header {
		if f.Name == name {
			idx = append(idx, i)
		}
	}
	var occ []int
	for k, i := range idx {
		if a, ok := n.tags["index"]; ok {
			want := int(a.num)
			if n.has("last") {
				want = len(idx) - want + 1
			}
			if k+1 != want {
				continue
			}
		}
		if n.args[1].strs != nil && !r.matchValues(n, []string{message.DecodeText(r.header[i].Value)}, r.expandList(n.args[1].strs)) {
			continue
		}
		occ = append(occ, k+1)
	}
	if len(occ) == 0 || !r.countEdit(n) {
		return
	}
	for j := len(occ) - 1; j >= 0; j-- {
		i := idx[occ[j]-1]
		r.header = slices.Delete(r.header, i, i+1)
	}
	r.actions = append(r.actions, DeleteHeader{Name: name, Occurrences: occ})
}

// notify takes an enotify action (RFC 5435 section 3); only mailto:
// (RFC 5436) is known.
func (r *run) notify(n *node) {
	method := r.expand(n.args[0].strs[0])
	if !validNotifyMethod(method) {
		r.fail(n, "unsupported or bad notification method %q", method)
		return
	}
	nt := Notify{Method: method, Importance: "2"}
	if a, ok := n.tags["from"]; ok {
		nt.From = r.expand(a.strs[0])
	}
	if a, ok := n.tags["importance"]; ok {
		nt.Importance = a.strs[0]
	}
	if a, ok := n.tags["options"]; ok {
		nt.Options = r.expandList(a.strs)
	}
	if a, ok := n.tags["message"]; ok {
		nt.Message = r.expand(a.strs[0])
	} else {
		// RFC 5435 section 3.6 suggests the sender and subject.
		nt.Message = r.headerValue("from") + ": " + r.headerValue("subject")
	}
	for _, a := range r.actions {
		if o, ok := a.(Notify); ok && o.Method == nt.Method {
			return // RFC 5435 section 3.8: identical notifications once
		}
	}
	r.addAction(n, nt)
}

func validNotifyMethod(method string) bool {
	u, err := url.Parse(method)
	if err != nil || !strings.EqualFold(u.Scheme, "mailto") {
		return false
	}
	to := u.Opaque
	if to == "" {
		to = u.Query().Get("to")
	}
	to, err = url.PathUnescape(to)
	if err != nil || to == "" {
		return false
	}
	for _, a := range strings.Split(to, ",") {
		if !validAddress(strings.TrimSpace(a)) {
			return false
		}
	}
	return true
}

func (r *run) headerValue(name string) string {
	for _, f := range r.header {
		if f.Name == name {
			return message.DecodeText(f.Value)
		}
	}
	return ""
}

// duplicateKey is what duplicate tracks: the handle and the id, hashed so
// that the delivery stores a short key (RFC 7352 section 3.1).
func duplicateKey(handle, id string) string {
	h := sha256.Sum256([]byte(handle + "\x00" + id))
	return hex.EncodeToString(h[:])
}

// duplicate runs the duplicate test (RFC 7352 section 3).
func (r *run) duplicate(n *node) bool {
	id := ""
	switch {
	case n.has("uniqueid"):
		id = r.expand(n.tags["uniqueid"].strs[0])
	case n.has("header"):
		id = r.headerValue(strings.ToLower(r.expand(n.tags["header"].strs[0])))
	default:
		id = r.headerValue("message-id")
	}
	if id == "" {
		return false
	}
	handle := ""
	if a, ok := n.tags["handle"]; ok {
		handle = r.expand(a.strs[0])
	}
	key := duplicateKey(handle, id)
	seen := r.in.Seen != nil && r.in.Seen(key)
	period := 7 * 24 * time.Hour
	if a, ok := n.tags["seconds"]; ok {
		period = time.Duration(a.num) * time.Second
	}
	if !seen || n.has("last") {
		r.actions = append(r.actions, TrackDuplicate{Key: key, Period: period})
	}
	return seen
}
