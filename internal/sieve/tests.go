package sieve

import (
	"bytes"
	"slices"
	"strings"

	"casella/internal/message"
)

// test evaluates a test (RFC 5228 section 5).
func (r *run) test(n *node) bool {
	r.step(1)
	if r.err != nil {
		return false
	}
	switch n.name {
	case "true":
		return true
	case "false":
		return false
	case "not":
		return !r.test(n.tests[0])
	case "allof":
		for _, t := range n.tests {
			if !r.test(t) {
				return false
			}
		}
		return true
	case "anyof":
		for _, t := range n.tests {
			if r.test(t) {
				return true
			}
		}
		return false
	case "exists":
		for _, name := range r.expandList(n.args[0].strs) {
			if len(r.fields(n, strings.ToLower(name))) == 0 {
				return false
			}
		}
		return true
	case "size":
		size := int64(len(r.in.Message))
		if n.has("over") {
			return size > n.args[0].num
		}
		return size < n.args[0].num
	case "header":
		var values []string
		for _, name := range r.expandList(n.args[0].strs) {
			for _, v := range r.fields(n, strings.ToLower(name)) {
				values = append(values, r.decodeText(v))
			}
		}
		return r.matchValues(n, values, r.expandList(n.args[1].strs))
	case "address":
		var values []string
		for _, name := range r.expandList(n.args[0].strs) {
			if !addressHeaders[strings.ToLower(name)] {
				continue
			}
			for _, v := range r.fields(n, strings.ToLower(name)) {
				for _, a := range r.addressList(v) {
					if a.Group != message.Mailbox {
						continue
					}
					if p, ok := addressPart(n.part, a.Local, a.Host); ok {
						values = append(values, p)
					}
				}
			}
		}
		return r.matchValues(n, values, r.expandList(n.args[1].strs))
	case "envelope":
		return r.envelope(n)
	case "body":
		return r.matchValues(n, r.bodyValues(n), r.expandList(n.args[0].strs))
	case "string":
		var values []string
		for _, v := range r.expandList(n.args[0].strs) {
			// RFC 5229 section 5: empty strings are not counted.
			if v != "" || n.match != "count" {
				values = append(values, v)
			}
		}
		return r.matchValues(n, values, r.expandList(n.args[1].strs))
	case "hasflag":
		flags := r.flags
		if n.args[0].strs != nil {
			var list []string
			for _, v := range r.expandList(n.args[0].strs) {
				list = append(list, r.scope.get(strings.ToLower(v)))
			}
			flags = flagSet(list)
		}
		return r.matchValues(n, flags, parseFlags(r.expandList(n.args[1].strs)))
	case "date":
		return r.dateTest(n)
	case "currentdate":
		return r.currentDate(n)
	case "mailboxexists":
		for _, m := range r.expandList(n.args[0].strs) {
			if r.in.MailboxExists == nil || !r.in.MailboxExists(m) {
				return false
			}
		}
		return true
	case "duplicate":
		return r.duplicate(n)
	case "valid_notify_method":
		for _, m := range r.expandList(n.args[0].strs) {
			if !validNotifyMethod(m) {
				return false
			}
		}
		return true
	case "notify_method_capability":
		// RFC 5435 section 5: only "online" is defined; mail cannot tell.
		if !validNotifyMethod(r.expand(n.args[0].strs[0])) || !strings.EqualFold(r.expand(n.args[1].strs[0]), "online") {
			return false
		}
		return r.matchValues(n, []string{"maybe"}, r.expandList(n.args[2].strs))
	}
	r.fail(n, "unknown test")
	return false
}

// decodeText decodes a header value once per run, for all the tests that
// read it.
func (r *run) decodeText(v string) string {
	if d, ok := r.texts[v]; ok {
		return d
	}
	d := message.DecodeText(v)
	if r.texts == nil {
		r.texts = map[string]string{}
	}
	r.texts[v] = d
	return d
}

// addressList parses an address field once per run.
func (r *run) addressList(v string) []message.Address {
	if l, ok := r.addrs[v]; ok {
		return l
	}
	l := message.AddressList(v)
	if r.addrs == nil {
		r.addrs = map[string][]message.Address{}
	}
	r.addrs[v] = l
	return l
}

// addressHeaders are the fields the address test reads: RFC 5228 section
// 5.1 restricts it to fields that hold addresses.
var addressHeaders = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "sender": true, "reply-to": true,
	"resent-from": true, "resent-to": true, "resent-cc": true, "resent-bcc": true, "resent-sender": true,
	"return-path": true, "delivered-to": true, "x-original-to": true, "errors-to": true,
	"mail-followup-to": true, "mail-reply-to": true, "disposition-notification-to": true, "envelope-to": true,
}

// fields returns the raw values of the fields named name in the header as
// edited so far, restricted by :index and :last (RFC 5260 section 6).
func (r *run) fields(n *node, name string) []string {
	var out []string
	for _, f := range r.header {
		if f.Name == name {
			out = append(out, f.Value)
		}
	}
	if a, ok := n.tags["index"]; ok {
		i := int(a.num) - 1
		if n.has("last") {
			i = len(out) - int(a.num)
		}
		if i < 0 || i >= len(out) {
			return nil
		}
		return out[i : i+1]
	}
	return out
}

// addressPart extracts an address part (RFC 5228 section 2.7.4, RFC 5233
// section 4 with "+" as the separator).
func addressPart(part, local, host string) (string, bool) {
	switch part {
	case "localpart":
		return local, true
	case "domain":
		return host, true
	case "user":
		u, _, _ := strings.Cut(local, "+")
		return u, true
	case "detail":
		_, d, ok := strings.Cut(local, "+")
		return d, ok
	}
	if host == "" {
		return local, true
	}
	return local + "@" + host, true
}

// envelope runs the envelope test (RFC 5228 section 5.4). The null
// reverse-path is the empty string for every address part but :detail.
func (r *run) envelope(n *node) bool {
	var values []string
	for _, p := range r.expandList(n.args[0].strs) {
		v := r.in.Envelope.From
		if strings.EqualFold(p, "to") {
			v = r.in.Envelope.To
		}
		if v == "" {
			if n.part != "detail" {
				values = append(values, "")
			}
			continue
		}
		local, host := v, ""
		if at := strings.LastIndexByte(v, '@'); at >= 0 {
			local, host = v[:at], v[at+1:]
		}
		if s, ok := addressPart(n.part, local, host); ok {
			values = append(values, s)
		}
	}
	return r.matchValues(n, values, r.expandList(n.args[1].strs))
}

// bodyValues returns what the body test compares (RFC 5173 section 5):
// the raw body, the decoded text parts, or the parts of given types.
func (r *run) bodyValues(n *node) []string {
	raw := r.in.Message
	if n.has("raw") {
		return []string{string(raw[min(r.body, len(raw)):])}
	}
	types := []string{"text"}
	if a, ok := n.tags["content"]; ok {
		types = r.expandList(a.strs)
	}
	key := strings.Join(types, "\x00")
	if v, ok := r.bodies[key]; ok {
		return v
	}
	var out []string
	var walk func(p *message.Part)
	walk = func(p *message.Part) {
		if p == nil {
			return
		}
		if p.Type != "multipart" && contentMatches(types, p.Type, p.Subtype) {
			var s string
			var err error
			if p.Type == "text" {
				s, err = message.Text(raw, p)
			} else {
				var b []byte
				b, err = message.DecodeBody(raw, p)
				s = string(bytes.ToValidUTF8(b, nil))
			}
			if err != nil {
				// An unknown transfer encoding: the bytes as they are.
				s = string(bytes.ToValidUTF8(raw[p.BodyStart:p.BodyEnd], nil))
			}
			out = append(out, s)
		}
		for _, c := range p.Parts {
			walk(c)
		}
		walk(p.Message)
	}
	if r.meta == nil {
		// Parsed once per run, for every body test.
		r.meta = message.Parse(raw)
	}
	walk(r.meta.Structure)
	if r.bodies == nil {
		r.bodies = map[string][]string{}
	}
	r.bodies[key] = out
	return out
}

// contentMatches applies a :content type list (RFC 5173 section 5.2): ""
// matches all, "type" its subtypes, "type/sub" exactly.
func contentMatches(types []string, typ, sub string) bool {
	return slices.ContainsFunc(types, func(t string) bool {
		t = strings.ToLower(t)
		if t == "" {
			return true
		}
		if tt, ts, ok := strings.Cut(t, "/"); ok {
			return tt == typ && ts == sub
		}
		return t == typ
	})
}
