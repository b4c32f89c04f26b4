package sieve

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"casella/internal/message"
)

// Envelope is the SMTP envelope of the message being delivered.
type Envelope struct {
	From string // reverse-path without angle brackets; "" for the null sender
	To   string // the recipient this delivery is for
}

// Limits bound one run. Steps count commands, tests and compared bytes
// (in 256-byte units); they stand for CPU time and, unlike a clock, give
// the same outcome when a delivery is replayed.
type Limits struct {
	Steps        int
	Actions      int
	Redirects    int
	HeaderEdits  int
	IncludeDepth int
}

// DefaultLimits are the limits Run uses for zero fields.
var DefaultLimits = Limits{Steps: 100000, Actions: 64, Redirects: 4, HeaderEdits: 64, IncludeDepth: 8}

// ErrNoScript is what Input.Include returns for a script that does not
// exist; include :optional skips it (RFC 6609 section 3.2).
var ErrNoScript = errors.New("sieve: no such script")

// Input is everything a run may read.
type Input struct {
	Message  []byte
	Envelope Envelope
	Now      time.Time // the delivery time; its location is the local zone of date tests

	// Addresses are the recipient's own addresses, for vacation (RFC 5230
	// section 4.5) and to recognise mail from oneself.
	Addresses []string

	// MailboxExists answers mailboxexists (RFC 5490 section 3.1); nil
	// means no mailbox exists.
	MailboxExists func(name string) bool
	// Seen answers duplicate (RFC 7352): whether key was tracked and has
	// not expired. nil means nothing was seen.
	Seen func(key string) bool
	// Include returns a compiled script of the user (global false) or of
	// the administrator (RFC 6609), or ErrNoScript.
	Include func(global bool, name string) (*Script, error)

	Limits Limits
}

// Result is the outcome of a run: the actions in the order the script
// took them, ending with the implicit keep when nothing cancelled it. When
// Err is set the run failed and Actions holds only the implicit keep.
type Result struct {
	Actions []Action
	Err     error
}

// run is the state of one Run.
type run struct {
	in     *Input
	lim    Limits
	steps  int
	err    error
	vars   bool
	scope  *scope
	flags  []string            // the internal variable of imap4flags (RFC 5232 section 3)
	header []field             // lower-cased names, unfolded values; as edited by editheader
	body   int                 // offset of the body in in.Message
	meta   *message.Meta       // the MIME structure, parsed at the first body test
	bodies map[string][]string // body test values by content types, decoded once
	folded map[string]string   // long values case-folded, by value
	texts  map[string]string   // header values decoded (RFC 2047), by raw value
	addrs  map[string][]message.Address

	actions   []Action
	cancelled bool // the implicit keep is cancelled (RFC 5228 section 2.10.2)
	redirects int
	edits     int
	matchVars []string
	depth     int
	included  map[string]bool // for include :once, by "global/name"
	active    map[string]bool // scripts being run, to catch include loops
}

// field is a header field as the tests read it.
type field struct {
	Name  string // lower-cased
	Value string // unfolded, encoded words not decoded
}

type scope struct {
	local   map[string]string
	globals map[string]string
	global  map[string]bool // names the script declared global
}

func (s *scope) get(name string) string {
	if g, ok := strings.CutPrefix(name, "global."); ok {
		return s.globals[g]
	}
	if s.global[name] {
		return s.globals[name]
	}
	return s.local[name]
}

func (s *scope) set(name, v string) {
	if g, ok := strings.CutPrefix(name, "global."); ok {
		s.globals[g] = v
		return
	}
	if s.global[name] {
		s.globals[name] = v
		return
	}
	s.local[name] = v
}

type flow int

const (
	flowNext flow = iota
	flowStop
	flowReturn
)

// Run runs script on the input and returns the actions to take.
func Run(script *Script, in *Input) *Result {
	r := &run{in: in, lim: in.Limits, included: map[string]bool{}, active: map[string]bool{}}
	def := DefaultLimits
	if r.lim.Steps <= 0 {
		r.lim.Steps = def.Steps
	}
	if r.lim.Actions <= 0 {
		r.lim.Actions = def.Actions
	}
	if r.lim.Redirects <= 0 {
		r.lim.Redirects = def.Redirects
	}
	if r.lim.HeaderEdits <= 0 {
		r.lim.HeaderEdits = def.HeaderEdits
	}
	if r.lim.IncludeDepth <= 0 {
		r.lim.IncludeDepth = def.IncludeDepth
	}
	var fields []message.HeaderField
	fields, r.body = message.Header(in.Message)
	r.header = make([]field, len(fields))
	for i, f := range fields {
		r.header[i] = field{Name: strings.ToLower(f.Name), Value: message.Unfold(f.Value)}
	}
	r.runScript(script)
	if r.err != nil {
		return &Result{Actions: []Action{Keep{Implicit: true}}, Err: r.err}
	}
	if !r.cancelled {
		r.actions = append(r.actions, Keep{Implicit: true, Flags: r.flags})
	}
	return &Result{Actions: r.actions}
}

// runScript runs s in its own scope of local variables (RFC 6609 section
// 3.3), sharing the global ones.
func (r *run) runScript(s *Script) flow {
	prevVars, prevScope := r.vars, r.scope
	globals := map[string]string{}
	if prevScope != nil {
		globals = prevScope.globals
	}
	r.vars = s.requires["variables"]
	r.scope = &scope{local: map[string]string{}, globals: globals, global: map[string]bool{}}
	f := r.exec(s.cmds)
	r.vars, r.scope = prevVars, prevScope
	return f
}

func (r *run) fail(n *node, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("sieve: %s: %s: %s", n.pos, n.name, fmt.Sprintf(format, args...))
	}
}

func (r *run) step(n int) {
	r.steps += n
	if r.steps > r.lim.Steps && r.err == nil {
		r.err = fmt.Errorf("sieve: script exceeded %d steps", r.lim.Steps)
	}
}

func (r *run) addAction(n *node, a Action) {
	if len(r.actions) >= r.lim.Actions {
		r.fail(n, "more than %d actions", r.lim.Actions)
		return
	}
	r.actions = append(r.actions, a)
}

// exec runs a block; it reports whether the script stopped or returned.
func (r *run) exec(block []*node) flow {
	matched := false // whether the last if or elsif ran its block
	for _, n := range block {
		r.step(1)
		if r.err != nil {
			return flowStop
		}
		var f flow
		switch n.name {
		case "require":
		case "if":
			matched = r.test(n.tests[0])
			if matched {
				f = r.exec(n.block)
			}
		case "elsif":
			if !matched {
				matched = r.test(n.tests[0])
				if matched {
					f = r.exec(n.block)
				}
			}
		case "else":
			if !matched {
				f = r.exec(n.block)
			}
		case "stop":
			return flowStop
		case "return":
			return flowReturn
		case "include":
			f = r.include(n)
		default:
			r.command(n)
		}
		if r.err != nil {
			return flowStop
		}
		if f != flowNext {
			return f
		}
	}
	return flowNext
}

// include runs another script (RFC 6609 section 3.2); its return ends only
// that script, its stop ends everything.
func (r *run) include(n *node) flow {
	global := n.has("global")
	name := r.expand(n.args[0].strs[0])
	key := fmt.Sprintf("%t/%s", global, name)
	if n.has("once") && r.included[key] {
		return flowNext
	}
	if r.active[key] {
		r.fail(n, "script %q includes itself", name)
		return flowStop
	}
	if r.depth >= r.lim.IncludeDepth {
		r.fail(n, "includes nested deeper than %d", r.lim.IncludeDepth)
		return flowStop
	}
	var s *Script
	err := ErrNoScript
	if r.in.Include != nil {
		s, err = r.in.Include(global, name)
	}
	if errors.Is(err, ErrNoScript) && n.has("optional") {
		return flowNext
	}
	if err != nil {
		r.fail(n, "include %q: %v", name, err)
		return flowStop
	}
	r.included[key], r.active[key] = true, true
	r.depth++
	matchVars := r.matchVars
	f := r.runScript(s)
	r.depth--
	r.active[key] = false
	r.matchVars = matchVars
	if f == flowStop {
		return flowStop
	}
	return flowNext
}
