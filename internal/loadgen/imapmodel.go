package loadgen

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// model is a session's view of its selected mailbox, built only from the
// server's responses: the messages by sequence number with their UIDs,
// flags and MODSEQs, and the mailbox's FLAGS. Every response that
// contradicts it is a protocol error. Checks that hold only when no other
// session writes to the mailbox (the flags a message must have) apply when
// exact is set.
type model struct {
	exact bool
	msgs  []msgView
	flags map[string]bool // the mailbox's FLAGS
	// highest is the highest MODSEQ seen, from HIGHESTMODSEQ and FETCH.
	highest uint64
	// uidValidity and uidNext from SELECT.
	uidValidity, uidNext uint32
	// keywords is set when PERMANENTFLAGS allows new keywords (\*).
	keywords bool

	// What the running command changes, to check its responses.
	storing  map[uint32]flagSet // UID → flags it must have after the STORE
	stored   map[uint32]bool    // UIDs a FETCH reported during the STORE
	removed  []uint32           // UIDs removed during the command
	newFlags []string           // flags in FETCH responses, for the FLAGS check
	// broken is set by an error after which sequence numbers can no
	// longer be trusted; the session then ends.
	broken bool
}

// msgView is one message of the model. A zero uid is not known yet.
type msgView struct {
	uid    uint32
	flags  flagSet
	known  bool // flags known
	modseq uint64
}

// flagSet is a set of flags, lower case, sorted, without \Recent.
type flagSet string

func newFlagSet(flags []string) flagSet {
	var l []string
	for _, f := range flags {
		f = strings.ToLower(f)
		if f != `\recent` && !slices.Contains(l, f) {
			l = append(l, f)
		}
	}
	slices.Sort(l)
	return flagSet(strings.Join(l, " "))
}

func (s flagSet) list() []string {
	if s == "" {
		return nil
	}
	return strings.Fields(string(s))
}

func (s flagSet) has(f string) bool { return slices.Contains(s.list(), strings.ToLower(f)) }

func (s flagSet) with(f string) flagSet { return newFlagSet(append(s.list(), f)) }

func (s flagSet) without(f string) flagSet {
	f = strings.ToLower(f)
	return newFlagSet(slices.DeleteFunc(s.list(), func(x string) bool { return x == f }))
}

// protoError is a response that contradicts the model.
type protoError struct{ msg string }

func (e *protoError) Error() string { return e.msg }

func (m *model) errorf(format string, args ...any) error {
	return &protoError{fmt.Sprintf(format, args...)}
}

// fatalf is an error after which the view of sequence numbers is lost.
func (m *model) fatalf(format string, args ...any) error {
	m.broken = true
	return m.errorf(format, args...)
}

// begin starts a command: what it expects to change is reset.
func (m *model) begin() {
	m.storing, m.stored, m.removed, m.newFlags = nil, nil, nil, nil
}

// seqOf returns the sequence number of uid, or 0.
func (m *model) seqOf(uid uint32) uint32 {
	for i, v := range m.msgs {
		if v.uid == uid {
			return uint32(i + 1)
		}
	}
	return 0
}

// unknownFrom returns the first sequence number whose UID or flags are
// not known, or 0.
func (m *model) unknownFrom() uint32 {
	for i, v := range m.msgs {
		if v.uid == 0 || !v.known {
			return uint32(i + 1)
		}
	}
	return 0
}

// untagged applies one untagged response to the model.
func (m *model) untagged(r *resp) error {
	switch r.Kind {
	case "EXISTS":
		// RFC 9051 section 7.4.1: EXISTS never reduces the count;
		// only EXPUNGE and VANISHED do.
		if int(r.Num) < len(m.msgs) {
			return m.fatalf("* %d EXISTS after %d messages, without EXPUNGE", r.Num, len(m.msgs))
		}
		for len(m.msgs) < int(r.Num) {
			m.msgs = append(m.msgs, msgView{})
		}
	case "EXPUNGE":
		// RFC 9051 section 7.5.1: the number is that of a message in
		// the session's view.
		if r.Num == 0 || int(r.Num) > len(m.msgs) {
			return m.fatalf("* %d EXPUNGE with %d messages in the session's view", r.Num, len(m.msgs))
		}
		m.remove(int(r.Num) - 1)
	case "VANISHED":
		return m.vanished(r)
	case "FETCH":
		return m.fetch(r)
	case "FLAGS":
		if len(r.Items) != 1 {
			return m.errorf("FLAGS response without one list")
		}
		l, ok := r.Items[0].([]any)
		if !ok {
			return m.errorf("FLAGS response without a list")
		}
		m.flags = map[string]bool{}
		for _, f := range strs(l) {
			m.flags[strings.ToLower(f)] = true
		}
	case "OK":
		return m.code(r.Text)
	case "BYE":
		return m.fatalf("* BYE %s", r.Text)
	}
	return nil
}

func (m *model) remove(i int) {
	m.removed = append(m.removed, m.msgs[i].uid)
	m.msgs = slices.Delete(m.msgs, i, i+1)
}

// vanished applies a VANISHED response (RFC 7162 section 3.2.10): with
// QRESYNC enabled it replaces EXPUNGE and names UIDs the session knows.
func (m *model) vanished(r *resp) error {
	items := r.Items
	if len(items) > 0 {
		if _, ok := items[0].([]any); ok {
			// No command of the mix asks for VANISHED (EARLIER).
			return m.errorf("VANISHED (EARLIER) not asked for")
		}
	}
	if len(items) != 1 {
		return m.errorf("VANISHED without one set of UIDs")
	}
	set, _ := items[0].(string)
	uids, err := parseUIDSet(set)
	if err != nil {
		return m.errorf("VANISHED %q: %v", set, err)
	}
	for _, uid := range uids {
		seq := m.seqOf(uid)
		if seq == 0 {
			// A message whose UID the session has not fetched yet may be
			// the one: an unknown slot between the known UIDs below and
			// above it.
			if i := m.unknownSlotFor(uid); i >= 0 {
				m.remove(i)
				continue
			}
			return m.fatalf("VANISHED names UID %d, not in the session's view", uid)
		}
		m.remove(int(seq) - 1)
	}
	return nil
}

// unknownSlotFor returns the first message of unknown UID that uid fits:
// above the known UID before it and below the known UID after it (UIDs
// ascend with sequence numbers), or -1.
func (m *model) unknownSlotFor(uid uint32) int {
	slot := -1
	for i, v := range m.msgs {
		switch {
		case v.uid == 0:
			if slot < 0 {
				slot = i
			}
		case v.uid >= uid:
			return slot
		default:
			slot = -1 // a known UID below uid follows: not there
		}
	}
	return slot
}

func (m *model) maxUID() uint32 {
	var u uint32
	for _, v := range m.msgs {
		u = max(u, v.uid)
	}
	return u
}

// fetch checks a FETCH response against the message it names.
func (m *model) fetch(r *resp) error {
	if r.Num == 0 || int(r.Num) > len(m.msgs) {
		return m.fatalf("* %d FETCH with %d messages in the session's view", r.Num, len(m.msgs))
	}
	if len(r.Items) != 1 {
		return m.errorf("* %d FETCH without one list", r.Num)
	}
	l, ok := r.Items[0].([]any)
	if !ok || len(l)%2 != 0 {
		return m.errorf("* %d FETCH: not a list of item pairs", r.Num)
	}
	i := int(r.Num) - 1
	v := &m.msgs[i]
	var errs []error
	var flags *flagSet
	for k := 0; k < len(l); k += 2 {
		name, _ := l[k].(string)
		switch strings.ToUpper(name) {
		case "UID":
			s, _ := l[k+1].(string)
			n, err := strconv.ParseUint(s, 10, 32)
			if err != nil || n == 0 {
				return m.fatalf("* %d FETCH: bad UID %q", r.Num, s)
			}
			uid := uint32(n)
			if v.uid != 0 && v.uid != uid {
				return m.fatalf("* %d FETCH says UID %d; the session knows UID %d there", r.Num, uid, v.uid)
			}
			// UIDs ascend with sequence numbers (RFC 9051 section 2.3.1.1).
			for j := i - 1; j >= 0 && v.uid == 0; j-- {
				if m.msgs[j].uid != 0 {
					if m.msgs[j].uid >= uid {
						return m.fatalf("* %d FETCH says UID %d, not above UID %d of message %d", r.Num, uid, m.msgs[j].uid, j+1)
					}
					break
				}
			}
			for j := i + 1; j < len(m.msgs) && v.uid == 0; j++ {
				if m.msgs[j].uid != 0 {
					if m.msgs[j].uid <= uid {
						return m.fatalf("* %d FETCH says UID %d, not below UID %d of message %d", r.Num, uid, m.msgs[j].uid, j+1)
					}
					break
				}
			}
			v.uid = uid
		case "FLAGS":
			fl, ok := l[k+1].([]any)
			if !ok {
				return m.errorf("* %d FETCH: FLAGS not a list", r.Num)
			}
			fs := newFlagSet(strs(fl))
			flags = &fs
			m.newFlags = append(m.newFlags, fs.list()...)
		case "MODSEQ":
			ml, _ := l[k+1].([]any)
			var s string
			if len(ml) == 1 {
				s, _ = ml[0].(string)
			}
			ms, err := strconv.ParseUint(s, 10, 64)
			if err != nil || ms == 0 {
				return m.errorf("* %d FETCH: bad MODSEQ %v", r.Num, l[k+1])
			}
			// RFC 7162 section 3.1.3: a message's MODSEQ only grows.
			if ms < v.modseq {
				errs = append(errs, m.errorf("* %d FETCH: MODSEQ %d below %d the session saw for UID %d", r.Num, ms, v.modseq, v.uid))
			}
			v.modseq = max(v.modseq, ms)
			m.highest = max(m.highest, ms)
		}
	}
	if flags != nil {
		errs = append(errs, m.checkFlags(v, *flags))
		v.flags, v.known = *flags, true
	}
	return errors.Join(errs...)
}

// checkFlags compares the flags a FETCH reports with what the model says
// the message must have.
func (m *model) checkFlags(v *msgView, got flagSet) error {
	if want, ok := m.storing[v.uid]; ok && v.uid != 0 {
		if m.stored == nil {
			m.stored = map[uint32]bool{}
		}
		m.stored[v.uid] = true
		if m.exact && got != want {
			return m.errorf("STORE on UID %d answered FLAGS (%s); the session set (%s)", v.uid, got, want)
		}
		return nil
	}
	if m.exact && v.known && got != v.flags {
		return m.errorf("UID %d has FLAGS (%s), was (%s), and no session changed them", v.uid, got, v.flags)
	}
	return nil
}

// code applies the response code of an untagged OK.
func (m *model) code(text string) error {
	name, args, ok := responseCode(text)
	if !ok {
		return nil
	}
	switch name {
	case "HIGHESTMODSEQ":
		n, err := strconv.ParseUint(args, 10, 64)
		if err != nil {
			return m.errorf("[HIGHESTMODSEQ %s]", args)
		}
		// RFC 7162 section 3.1.2.1: never below a MODSEQ the server
		// reported.
		if n < m.highest {
			return m.errorf("[HIGHESTMODSEQ %d] below MODSEQ %d seen before", n, m.highest)
		}
		m.highest = n
	case "UIDVALIDITY":
		n, err := strconv.ParseUint(args, 10, 32)
		if err != nil || n == 0 {
			return m.errorf("[UIDVALIDITY %s]", args)
		}
		if m.uidValidity != 0 && uint32(n) != m.uidValidity {
			return m.fatalf("UIDVALIDITY changed from %d to %d", m.uidValidity, n)
		}
		m.uidValidity = uint32(n)
	case "UIDNEXT":
		n, err := strconv.ParseUint(args, 10, 32)
		if err != nil {
			return m.errorf("[UIDNEXT %s]", args)
		}
		if uint32(n) < m.uidNext {
			return m.errorf("[UIDNEXT %d] below %d seen before", n, m.uidNext)
		}
		m.uidNext = uint32(n)
	}
	return nil
}

// end checks what a command must have done when its tagged OK came.
func (m *model) end() error {
	var errs []error
	// RFC 9051 section 7.3.5: a flag in a message's FLAGS is one of the
	// mailbox's FLAGS; a new keyword brings an untagged FLAGS update.
	for _, f := range m.newFlags {
		if m.flags != nil && !m.flags[f] {
			errs = append(errs, m.errorf("flag %s in a FETCH but not in the mailbox's FLAGS", f))
			m.flags[f] = true
		}
	}
	// RFC 9051 section 6.4.6: STORE without .SILENT answers the new
	// flags of every message it names.
	for uid, want := range m.storing {
		if !m.stored[uid] {
			if seq := m.seqOf(uid); seq > 0 {
				errs = append(errs, m.errorf("STORE on UID %d answered no FETCH of its flags", uid))
				m.msgs[seq-1].flags = want
			}
		}
	}
	m.begin()
	return errors.Join(errs...)
}

// responseCode splits "[NAME args] text".
func responseCode(text string) (name, args string, ok bool) {
	if !strings.HasPrefix(text, "[") {
		return "", "", false
	}
	end := strings.IndexByte(text, ']')
	if end < 0 {
		return "", "", false
	}
	name, args, _ = strings.Cut(text[1:end], " ")
	return strings.ToUpper(name), args, true
}

// parseUIDSet expands a set of UIDs like 4,7:9 (no *).
func parseUIDSet(s string) ([]uint32, error) {
	var out []uint32
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil || a == 0 {
			return nil, fmt.Errorf("bad UID %q", lo)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil || b == 0 {
				return nil, fmt.Errorf("bad UID %q", hi)
			}
		}
		a, b = min(a, b), max(a, b)
		if b-a > 1<<20 {
			return nil, fmt.Errorf("range %s too large", part)
		}
		for u := a; u <= b; u++ {
			out = append(out, uint32(u))
		}
	}
	return out, nil
}

// strs returns the strings of a list; NIL and lists are skipped.
func strs(l []any) []string {
	out := make([]string, 0, len(l))
	for _, it := range l {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
