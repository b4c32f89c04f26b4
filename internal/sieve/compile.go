package sieve

import (
	"slices"
	"strings"
)

// Extensions lists the capabilities Compile accepts in require, in the
// order ManageSieve announces them (RFC 5804 section 1.7).
var Extensions = []string{
	"fileinto",                   // RFC 5228 section 4.1
	"envelope",                   // RFC 5228 section 5.4
	"encoded-character",          // RFC 5228 section 2.4.2.4
	"comparator-i;ascii-numeric", // RFC 4790 section 9.1
	"copy",                       // RFC 3894
	"body",                       // RFC 5173
	"relational",                 // RFC 5231
	"subaddress",                 // RFC 5233
	"vacation",                   // RFC 5230
	"vacation-seconds",           // RFC 6131
	"variables",                  // RFC 5229
	"imap4flags",                 // RFC 5232
	"date",                       // RFC 5260
	"index",                      // RFC 5260
	"reject",                     // RFC 5429
	"ereject",                    // RFC 5429
	"editheader",                 // RFC 5293
	"mailbox",                    // RFC 5490
	"include",                    // RFC 6609
	"duplicate",                  // RFC 7352
	"enotify",                    // RFC 5435
}

// NotifyMethods lists the enotify methods Run accepts (RFC 5435 section 3.8).
var NotifyMethods = []string{"mailto"}

// Script is a compiled script, made once by Compile and run any number of
// times, concurrently, by Run.
type Script struct {
	cmds     []*node
	requires map[string]bool
}

// node is a checked command or test with its arguments sorted into tags
// and positional arguments, and its comparator and match type resolved.
type node struct {
	name  string
	pos   Pos
	tags  map[string]arg
	args  []arg
	tests []*node
	block []*node

	cmp   string // comparator, for tests that compare
	match string // "is", "contains", "matches", "value" or "count"
	rel   string // relational operator of :value and :count
	part  string // address part: "all", "localpart", "domain", "user", "detail"
}

func (n *node) has(tag string) bool { _, ok := n.tags[tag]; return ok }

type pkind int

const (
	pNone   pkind = iota // a tag without a parameter
	pString              // one string
	pList                // a string or a string list
	pNumber
)

type tagSpec struct {
	param pkind
	group string // tags of one group exclude each other
	ext   string // extension that must be required
}

type spec struct {
	ext      string // extension that must be required, "" for the base language
	test     bool
	tags     map[string]tagSpec
	args     []pkind
	optional int  // how many of args may be left out
	optFirst bool // the optional ones are the first, not the last
	tests    int  // -1: a test list, 1: one test, 0: none
	block    bool
	compares bool // takes COMPARATOR and MATCH-TYPE (with relational)
	address  bool // takes ADDRESS-PART
	index    bool // takes :index and :last (RFC 5260 section 6)
}

var (
	matchTags = map[string]tagSpec{
		"is": {group: "match"}, "contains": {group: "match"}, "matches": {group: "match"},
		"value":      {param: pString, group: "match", ext: "relational"},
		"count":      {param: pString, group: "match", ext: "relational"},
		"comparator": {param: pString},
	}
	addressTags = map[string]tagSpec{
		"all": {group: "part"}, "localpart": {group: "part"}, "domain": {group: "part"},
		"user": {group: "part", ext: "subaddress"}, "detail": {group: "part", ext: "subaddress"},
	}
	indexTags = map[string]tagSpec{
		"index": {param: pNumber, ext: "index"}, "last": {ext: "index"},
	}
	zoneTags = map[string]tagSpec{
		"zone": {param: pString, group: "zone"}, "originalzone": {group: "zone"},
	}
)

var specs = map[string]*spec{
	// Control commands, RFC 5228 section 3.
	"require": {args: []pkind{pList}},
	"if":      {tests: 1, block: true},
	"elsif":   {tests: 1, block: true},
	"else":    {block: true},
	"stop":    {},
	// Actions, RFC 5228 section 4 and extensions.
	"keep":     {tags: map[string]tagSpec{"flags": {param: pList, ext: "imap4flags"}}},
	"discard":  {},
	"fileinto": {ext: "fileinto", args: []pkind{pString}, tags: map[string]tagSpec{"copy": {ext: "copy"}, "flags": {param: pList, ext: "imap4flags"}, "create": {ext: "mailbox"}}},
	"redirect": {args: []pkind{pString}, tags: map[string]tagSpec{"copy": {ext: "copy"}}},
	"reject":   {ext: "reject", args: []pkind{pString}},
	"ereject":  {ext: "ereject", args: []pkind{pString}},
	"vacation": {ext: "vacation", args: []pkind{pString}, tags: map[string]tagSpec{
		"days": {param: pNumber, group: "period"}, "seconds": {param: pNumber, group: "period", ext: "vacation-seconds"},
		"subject": {param: pString}, "from": {param: pString}, "addresses": {param: pList},
		"mime": {}, "handle": {param: pString},
	}},
	// RFC 5229.
	"set": {ext: "variables", args: []pkind{pString, pString}, tags: map[string]tagSpec{
		"lower": {group: "case"}, "upper": {group: "case"}, "lowerfirst": {group: "casefirst"}, "upperfirst": {group: "casefirst"},
		"quotewildcard": {}, "length": {}, "quoteregex": {group: "never"}, "encodeurl": {group: "url"},
	}},
	// RFC 5232.
	"setflag":    {ext: "imap4flags", args: []pkind{pString, pList}, optional: 1, optFirst: true},
	"addflag":    {ext: "imap4flags", args: []pkind{pString, pList}, optional: 1, optFirst: true},
	"removeflag": {ext: "imap4flags", args: []pkind{pString, pList}, optional: 1, optFirst: true},
	// RFC 5293.
	"addheader": {ext: "editheader", args: []pkind{pString, pString}, tags: map[string]tagSpec{"last": {}}},
	"deleteheader": {ext: "editheader", args: []pkind{pString, pList}, optional: 1, compares: true,
		// RFC 5293 section 5: its own :index, without require "index".
		tags: map[string]tagSpec{"index": {param: pNumber}, "last": {}}},
	// RFC 6609.
	"include": {ext: "include", args: []pkind{pString}, tags: map[string]tagSpec{
		"personal": {group: "location"}, "global": {group: "location"}, "once": {}, "optional": {},
	}},
	"return": {ext: "include"},
	"global": {ext: "include", args: []pkind{pList}},
	// RFC 5435.
	"notify": {ext: "enotify", args: []pkind{pString}, tags: map[string]tagSpec{
		"from": {param: pString}, "importance": {param: pString}, "options": {param: pList}, "message": {param: pString},
	}},

	// Tests, RFC 5228 section 5 and extensions.
	"address":  {test: true, args: []pkind{pList, pList}, compares: true, address: true, index: true},
	"envelope": {test: true, ext: "envelope", args: []pkind{pList, pList}, compares: true, address: true},
	"header":   {test: true, args: []pkind{pList, pList}, compares: true, index: true},
	"exists":   {test: true, args: []pkind{pList}},
	"size":     {test: true, args: []pkind{pNumber}, tags: map[string]tagSpec{"over": {group: "size"}, "under": {group: "size"}}},
	"allof":    {test: true, tests: -1},
	"anyof":    {test: true, tests: -1},
	"not":      {test: true, tests: 1},
	"true":     {test: true},
	"false":    {test: true},
	"body": {test: true, ext: "body", args: []pkind{pList}, compares: true, tags: map[string]tagSpec{
		"raw": {group: "transform"}, "content": {param: pList, group: "transform"}, "text": {group: "transform"},
	}},
	"string":        {test: true, ext: "variables", args: []pkind{pList, pList}, compares: true},
	"hasflag":       {test: true, ext: "imap4flags", args: []pkind{pList, pList}, optional: 1, optFirst: true, compares: true},
	"date":          {test: true, ext: "date", args: []pkind{pString, pString, pList}, compares: true, index: true, tags: zoneTags},
	"currentdate":   {test: true, ext: "date", args: []pkind{pString, pList}, compares: true, tags: map[string]tagSpec{"zone": {param: pString}}},
	"mailboxexists": {test: true, ext: "mailbox", args: []pkind{pList}},
	"duplicate": {test: true, ext: "duplicate", tags: map[string]tagSpec{
		"handle": {param: pString}, "header": {param: pString, group: "id"}, "uniqueid": {param: pString, group: "id"},
		"seconds": {param: pNumber}, "last": {},
	}},
	"valid_notify_method":      {test: true, ext: "enotify", args: []pkind{pList}},
	"notify_method_capability": {test: true, ext: "enotify", args: []pkind{pString, pString, pList}, compares: true},
}

// Compile parses and checks a script. Its errors are *Error values that
// give the line and column.
func Compile(src string) (*Script, error) {
	cmds, err := parse(src)
	if err != nil {
		return nil, err
	}
	c := &compiler{requires: map[string]bool{}}
	nodes, err := c.block(cmds, true)
	if err != nil {
		return nil, err
	}
	return &Script{cmds: nodes, requires: c.requires}, nil
}

type compiler struct {
	requires map[string]bool
}

func (c *compiler) block(cmds []*command, top bool) ([]*node, error) {
	var out []*node
	prev := ""
	for i, cmd := range cmds {
		s := specs[cmd.name]
		if s == nil || s.test {
			return nil, errorf(cmd.pos, "unknown command %q", cmd.name)
		}
		switch cmd.name {
		case "require":
			// RFC 5228 section 3.2: require only at the start.
			if !top || slices.ContainsFunc(cmds[:i], func(x *command) bool { return x.name != "require" }) {
				return nil, errorf(cmd.pos, "require must come before any other command")
			}
		case "elsif", "else":
			if prev != "if" && prev != "elsif" {
				return nil, errorf(cmd.pos, "%s without if", cmd.name)
			}
		case "global":
			if !c.requires["variables"] {
				return nil, errorf(cmd.pos, "global needs require \"variables\" too (RFC 6609 section 3.3)")
			}
		}
		n, err := c.node(cmd, s)
		if err != nil {
			return nil, err
		}
		if cmd.name == "require" {
			for _, ext := range n.args[0].strs {
				if !slices.Contains(Extensions, ext) && ext != "comparator-i;octet" && ext != "comparator-i;ascii-casemap" {
					return nil, errorf(cmd.pos, "unsupported extension %q", ext)
				}
				c.requires[ext] = true
				if ext == "vacation-seconds" {
					c.requires["vacation"] = true // RFC 6131 section 2: it implies vacation
				}
			}
		}
		out = append(out, n)
		prev = cmd.name
	}
	return out, nil
}

// node checks one command or test against its spec (RFC 5228 section 2.6:
// tagged arguments come before positional ones).
func (c *compiler) node(cmd *command, s *spec) (*node, error) {
	if s.ext != "" && !c.requires[s.ext] {
		return nil, errorf(cmd.pos, "%s needs require %q", cmd.name, s.ext)
	}
	n := &node{name: cmd.name, pos: cmd.pos, tags: map[string]arg{}}
	groups := map[string]string{}
	i := 0
	for ; i < len(cmd.args) && cmd.args[i].kind == aTag; i++ {
		a := cmd.args[i]
		ts, ok := lookupTag(s, a.tag)
		if !ok {
			return nil, errorf(a.pos, "%s has no tag :%s", cmd.name, a.tag)
		}
		if ts.ext != "" && !c.requires[ts.ext] {
			return nil, errorf(a.pos, ":%s needs require %q", a.tag, ts.ext)
		}
		if ts.group == "never" {
			return nil, errorf(a.pos, ":%s is not supported", a.tag)
		}
		if _, dup := n.tags[a.tag]; dup {
			return nil, errorf(a.pos, ":%s given twice", a.tag)
		}
		if ts.group != "" {
			if other, ok := groups[ts.group]; ok {
				return nil, errorf(a.pos, ":%s cannot be used with :%s", a.tag, other)
			}
			groups[ts.group] = a.tag
		}
		if ts.param != pNone {
			i++
			if i >= len(cmd.args) || !fits(cmd.args[i], ts.param) {
				return nil, errorf(a.pos, ":%s needs a %s", a.tag, kindName(ts.param))
			}
			v := cmd.args[i]
			v.tag = a.tag
			n.tags[a.tag] = v
		} else {
			n.tags[a.tag] = a
		}
	}
	pos := cmd.args[i:]
	if len(pos) > len(s.args) || len(pos) < len(s.args)-s.optional {
		return nil, errorf(cmd.pos, "%s takes %d arguments, not %d", cmd.name, len(s.args), len(pos))
	}
	kinds := s.args
	if len(pos) < len(kinds) {
		if s.optFirst {
			kinds = kinds[len(kinds)-len(pos):]
		} else {
			kinds = kinds[:len(pos)]
		}
	}
	for j, a := range pos {
		if a.kind == aTag {
			return nil, errorf(a.pos, "tag :%s after positional arguments", a.tag)
		}
		if !fits(a, kinds[j]) {
			return nil, errorf(a.pos, "argument %d of %s must be a %s", j+1, cmd.name, kindName(kinds[j]))
		}
	}
	if s.optFirst && len(pos) < len(s.args) {
		n.args = append(make([]arg, len(s.args)-len(pos)), pos...)
	} else {
		n.args = append(slices.Clone(pos), make([]arg, len(s.args)-len(pos))...)
	}
	if err := c.decodeStrings(n); err != nil {
		return nil, err
	}
	if err := c.resolve(n, s); err != nil {
		return nil, err
	}
	switch {
	case s.tests == 0 && len(cmd.tests) > 0:
		return nil, errorf(cmd.pos, "%s takes no test", cmd.name)
	case s.tests == 1 && len(cmd.tests) != 1:
		return nil, errorf(cmd.pos, "%s needs one test", cmd.name)
	case s.tests == -1 && len(cmd.tests) == 0:
		return nil, errorf(cmd.pos, "%s needs a list of tests", cmd.name)
	}
	for _, t := range cmd.tests {
		ts := specs[t.name]
		if ts == nil || !ts.test {
			return nil, errorf(t.pos, "unknown test %q", t.name)
		}
		tn, err := c.node(t, ts)
		if err != nil {
			return nil, err
		}
		n.tests = append(n.tests, tn)
	}
	if s.block != cmd.hasBlock {
		if s.block {
			return nil, errorf(cmd.pos, "%s needs a block", cmd.name)
		}
		return nil, errorf(cmd.pos, "%s takes no block", cmd.name)
	}
	if cmd.hasBlock {
		b, err := c.block(cmd.block, false)
		if err != nil {
			return nil, err
		}
		n.block = b
	}
	return n, nil
}

func lookupTag(s *spec, tag string) (tagSpec, bool) {
	if ts, ok := s.tags[tag]; ok {
		return ts, true
	}
	if s.compares {
		if ts, ok := matchTags[tag]; ok {
			return ts, true
		}
	}
	if s.address {
		if ts, ok := addressTags[tag]; ok {
			return ts, true
		}
	}
	if s.index {
		if ts, ok := indexTags[tag]; ok {
			return ts, true
		}
	}
	return tagSpec{}, false
}

func fits(a arg, k pkind) bool {
	switch k {
	case pString:
		return a.kind == aStrings && a.single
	case pList:
		return a.kind == aStrings
	case pNumber:
		return a.kind == aNumber
	}
	return false
}

func kindName(k pkind) string {
	switch k {
	case pString:
		return "string"
	case pList:
		return "string list"
	}
	return "number"
}

// decodeStrings replaces encoded characters (RFC 5228 section 2.4.2.4) in
// every string of n when the script requires encoded-character.
func (c *compiler) decodeStrings(n *node) error {
	if !c.requires["encoded-character"] {
		return nil
	}
	fix := func(a *arg) error {
		for i, s := range a.strs {
			d, err := decodeEncoded(s)
			if err != nil {
				return errorf(a.pos, "%v", err)
			}
			a.strs[i] = d
		}
		return nil
	}
	for i := range n.args {
		if err := fix(&n.args[i]); err != nil {
			return err
		}
	}
	for k, a := range n.tags {
		if err := fix(&a); err != nil {
			return err
		}
		n.tags[k] = a
	}
	return nil
}

// resolve sets the comparator, match type and address part of n and checks
// the values the RFCs constrain.
func (c *compiler) resolve(n *node, s *spec) error {
	if s.compares {
		n.cmp, n.match = "i;ascii-casemap", "is"
		if a, ok := n.tags["comparator"]; ok {
			n.cmp = a.strs[0]
			switch n.cmp {
			case "i;octet", "i;ascii-casemap":
			case "i;ascii-numeric":
				if !c.requires["comparator-i;ascii-numeric"] {
					return errorf(a.pos, "comparator %q needs require \"comparator-i;ascii-numeric\"", n.cmp)
				}
			default:
				return errorf(a.pos, "unknown comparator %q", n.cmp)
			}
		}
		for _, m := range []string{"is", "contains", "matches", "value", "count"} {
			if a, ok := n.tags[m]; ok {
				n.match = m
				if m == "value" || m == "count" {
					n.rel = a.strs[0]
					if !slices.Contains([]string{"gt", "ge", "lt", "le", "eq", "ne"}, n.rel) {
						return errorf(a.pos, "unknown relational operator %q", n.rel)
					}
				}
			}
		}
		// RFC 4790 section 9.1: i;ascii-numeric has no substring match.
		if n.cmp == "i;ascii-numeric" && (n.match == "contains" || n.match == "matches") {
			return errorf(n.pos, "comparator i;ascii-numeric cannot be used with :%s", n.match)
		}
	}
	if s.address {
		n.part = "all"
		for _, p := range []string{"localpart", "domain", "user", "detail"} {
			if n.has(p) {
				n.part = p
			}
		}
	}
	if n.has("last") && !n.has("index") && n.name != "addheader" && n.name != "duplicate" {
		return errorf(n.tags["last"].pos, ":last needs :index")
	}
	if a, ok := n.tags["index"]; ok && a.num < 1 {
		return errorf(a.pos, ":index must be 1 or more")
	}
	switch n.name {
	case "address":
		for _, h := range n.args[0].strs {
			if !strings.Contains(h, "${") && !addressHeaders[strings.ToLower(h)] {
				return errorf(n.args[0].pos, "%q does not hold addresses; use the header test", h)
			}
		}
	case "envelope":
		for _, p := range n.args[0].strs {
			if !slices.Contains([]string{"from", "to"}, strings.ToLower(p)) {
				return errorf(n.args[0].pos, "unknown envelope part %q", p)
			}
		}
	case "set":
		if !c.requires["variables"] || !validVarName(n.args[0].strs[0], false) {
			return errorf(n.args[0].pos, "bad variable name %q", n.args[0].strs[0])
		}
	case "date", "currentdate":
		part := n.args[len(n.args)-2].strs[0]
		if !slices.Contains(dateParts, strings.ToLower(part)) {
			return errorf(n.args[len(n.args)-2].pos, "unknown date part %q", part)
		}
	case "addheader", "deleteheader":
		name := n.args[0].strs[0]
		if !strings.Contains(name, "${") && !validFieldName(name) {
			return errorf(n.args[0].pos, "bad header field name %q", name)
		}
	case "include":
		if strings.ContainsAny(n.args[0].strs[0], "/") || n.args[0].strs[0] == "" {
			return errorf(n.args[0].pos, "bad script name %q", n.args[0].strs[0])
		}
	case "vacation":
		for _, t := range []string{"days", "seconds"} {
			if a, ok := n.tags[t]; ok && a.num < 0 {
				return errorf(a.pos, ":%s must not be negative", t)
			}
		}
	case "size":
		if !n.has("over") && !n.has("under") {
			return errorf(n.pos, "size needs :over or :under")
		}
	case "redirect":
		if !c.requires["variables"] && !validAddress(n.args[0].strs[0]) {
			return errorf(n.args[0].pos, "bad redirect address %q", n.args[0].strs[0])
		}
	case "notify":
		if a, ok := n.tags["importance"]; ok && !slices.Contains([]string{"1", "2", "3"}, a.strs[0]) {
			return errorf(a.pos, ":importance must be \"1\", \"2\" or \"3\"")
		}
	}
	return nil
}

func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 33 || name[i] > 126 || name[i] == ':' {
			return false
		}
	}
	return true
}

// validAddress accepts a bare addr-spec local@domain.
func validAddress(a string) bool {
	at := strings.LastIndexByte(a, '@')
	return at > 0 && at < len(a)-1 && !strings.ContainsAny(a, " \t\r\n<>,")
}
