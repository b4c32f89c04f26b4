package sieve

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// fold applies the comparator's case rule: i;ascii-casemap folds A-Z only
// (RFC 4790 section 9.2).
func fold(cmp, s string) string {
	if cmp != "i;ascii-casemap" {
		return s
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// fold is fold for values of the message, which many tests of a script
// compare: a long one is folded once per run.
func (r *run) fold(cmp, s string) string {
	if cmp != "i;ascii-casemap" || len(s) < 256 {
		return fold(cmp, s)
	}
	if f, ok := r.folded[s]; ok {
		return f
	}
	f := fold(cmp, s)
	if r.folded == nil {
		r.folded = map[string]string{}
	}
	r.folded[s] = f
	return f
}

// numeric is the value of a string under i;ascii-numeric (RFC 4790 section
// 9.1): its leading digits, or infinity (ok false) without any.
func numeric(s string) (n uint64, ok bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimLeft(s[:i], "0")+"0", 10, 64)
	if err != nil {
		return ^uint64(0), true
	}
	return v / 10, true
}

// compare orders a and b under the comparator: -1, 0 or 1.
func compare(cmp, a, b string) int {
	if cmp == "i;ascii-numeric" {
		x, xok := numeric(a)
		y, yok := numeric(b)
		switch {
		case !xok && !yok:
			return 0
		case !xok:
			return 1
		case !yok:
			return -1
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(fold(cmp, a), fold(cmp, b))
}

// relation evaluates a relational operator on an ordering (RFC 5231
// section 4).
func relation(rel string, c int) bool {
	switch rel {
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	}
	return false
}

// matchValues applies n's match type to the values against the keys
// (RFC 5228 section 2.7.1): true when any value matches any key. With
// :matches and variables, the last successful match sets the match
// variables (RFC 5229 section 3.2).
func (r *run) matchValues(n *node, values, keys []string) bool {
	if n.match == "count" {
		// RFC 5231 section 4.2: the number of values, compared with
		// i;ascii-numeric semantics under the comparator.
		cnt := strconv.Itoa(len(values))
		for _, k := range keys {
			if relation(n.rel, compare("i;ascii-numeric", cnt, k)) {
				return true
			}
		}
		return false
	}
	for _, v := range values {
		for _, k := range keys {
			r.step(1 + (len(v)+len(k))/256)
			if r.err != nil {
				return false
			}
			if r.match1(n, v, k) {
				return true
			}
		}
	}
	return false
}

func (r *run) match1(n *node, v, k string) bool {
	switch n.match {
	case "is":
		return compare(n.cmp, v, k) == 0
	case "contains":
		return strings.Contains(r.fold(n.cmp, v), fold(n.cmp, k))
	case "value":
		return relation(n.rel, compare(n.cmp, v, k))
	case "matches":
		caps, ok := wildmatch(fold(n.cmp, k), r.fold(n.cmp, v), v)
		if ok && r.vars {
			r.matchVars = caps
		}
		return ok
	}
	return false
}

// wildmatch matches value against a :matches pattern: "*" any sequence,
// "?" one character, "\" escapes (RFC 5228 section 2.7.1). It backtracks
// only to the last "*", which keeps it O(len(pattern)*len(value)) and
// makes every "*" but the last match as little as it can, as RFC 5229
// section 3.2 shows. It returns the match variables taken from orig (the
// value before case folding): ${0} the whole value, then one per wildcard.
func wildmatch(pattern, value, orig string) ([]string, bool) {
	type wild struct {
		star       bool
		start, end int // span in value
	}
	var ws []wild
	// Backtracking point: the index in ws of the last star, where the
	// pattern resumes after it, and where the value resumes.
	lastStar, pAfter, vNext := -1, 0, 0
	p, v := 0, 0
	for v < len(value) || p < len(pattern) {
		if p < len(pattern) {
			c := pattern[p]
			switch {
			case c == '*':
				ws = append(ws, wild{star: true, start: v, end: v})
				lastStar, pAfter, vNext = len(ws)-1, p+1, v
				p++
				continue
			case c == '?' && v < len(value):
				_, size := utf8.DecodeRuneInString(value[v:])
				ws = append(ws, wild{start: v, end: v + size})
				p++
				v += size
				continue
			case c == '\\' && p+1 < len(pattern) && v < len(value) && pattern[p+1] == value[v]:
				p += 2
				v++
				continue
			case c != '?' && c != '\\' && v < len(value) && c == value[v]:
				p++
				v++
				continue
			}
		}
		if lastStar < 0 || vNext >= len(value) {
			return nil, false
		}
		// Grow the last star by one character and retry after it.
		_, size := utf8.DecodeRuneInString(value[vNext:])
		vNext += size
		ws = ws[:lastStar+1]
		ws[lastStar].end = vNext
		p, v = pAfter, vNext
	}
	caps := make([]string, 0, len(ws)+1)
	caps = append(caps, orig)
	for _, w := range ws {
		if w.end <= len(orig) {
			caps = append(caps, orig[w.start:w.end])
		}
	}
	return caps, true
}
