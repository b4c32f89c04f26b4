package message

import "strings"

// BaseSubject returns the base subject of a decoded subject, the key that
// SORT and THREAD compare (RFC 5256 section 2.1): white space normalised,
// "(fwd)" trailers and "Re:", "Fw:", "Fwd:" and "[blob]" leaders removed,
// and "[fwd: ...]" wrappers unwrapped, repeatedly.
func BaseSubject(subject string) string {
	base, _ := baseSubject(subject)
	return base
}

// IsReplyOrForward reports whether a decoded subject marks its message as
// a reply or a forward, which THREAD=REFERENCES needs (RFC 5256 section 4,
// step 5): extracting the base subject removed a "Re:" or "Fwd:" leader, a
// "(fwd)" trailer or a "[fwd: ...]" wrapper (section 2.1).
func IsReplyOrForward(subject string) bool {
	_, reply := baseSubject(subject)
	return reply
}

func baseSubject(subject string) (base string, reply bool) {
	// Step 1: tabs and continuations become spaces, runs of spaces one.
	s := strings.Join(strings.Fields(subject), " ")
	for {
		// Step 2: remove "(fwd)" trailers and trailing white space.
		for {
			t := strings.TrimRight(s, " ")
			if !hasSuffixFold(t, "(fwd)") {
				s = t
				break
			}
			s = t[:len(t)-len("(fwd)")]
			reply = true
		}
		// Steps 3 to 5: remove leaders and blobs until none is left.
		for {
			t := strings.TrimLeft(s, " ")
			if u := stripRefwd(t); u != t {
				t, reply = u, true
			}
			if b, ok := cutBlob(t); ok && b != "" {
				t = b
			}
			if t == s {
				break
			}
			s = t
		}
		// Step 6: "[fwd: subject]" (RFC 5256 subj-fwd) is unwrapped.
		if len(s) >= len("[fwd:]") && strings.EqualFold(s[:5], "[fwd:") && strings.HasSuffix(s, "]") {
			s = s[5 : len(s)-1]
			reply = true
			continue
		}
		return s, reply
	}
}

// stripRefwd removes one subj-leader: *subj-blob subj-refwd, where
// subj-refwd is ("re" / ("fw" ["d"])) *WSP [subj-blob] ":". It returns s
// unchanged when s does not start with one.
func stripRefwd(s string) string {
	t := s
	for {
		b, ok := cutBlob(t)
		if !ok {
			break
		}
		t = b
	}
	switch {
	case hasPrefixFold(t, "re"):
		t = t[2:]
	case hasPrefixFold(t, "fwd"):
		t = t[3:]
	case hasPrefixFold(t, "fw"):
		t = t[2:]
	default:
		return s
	}
	t = strings.TrimLeft(t, " ")
	if b, ok := cutBlob(t); ok {
		t = b
	}
	if !strings.HasPrefix(t, ":") {
		return s
	}
	return t[1:]
}

// cutBlob removes a leading subj-blob, "[" *BLOBCHAR "]" *WSP, where
// BLOBCHAR is any character but "[" and "]".
func cutBlob(s string) (string, bool) {
	if !strings.HasPrefix(s, "[") {
		return s, false
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return s, false
	}
	return strings.TrimLeft(s[end+2:], " "), true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}
