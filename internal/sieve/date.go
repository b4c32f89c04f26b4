package sieve

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// dateParts are the date-part names of RFC 5260 section 4.2.
var dateParts = []string{"year", "month", "day", "date", "julian", "hour", "minute", "second", "time", "iso8601", "std11", "zone", "weekday"}

// datePart formats one part of t (RFC 5260 section 4.2).
func datePart(t time.Time, part string) string {
	switch strings.ToLower(part) {
	case "year":
		return fmt.Sprintf("%04d", t.Year())
	case "month":
		return fmt.Sprintf("%02d", int(t.Month()))
	case "day":
		return fmt.Sprintf("%02d", t.Day())
	case "date":
		return t.Format("2006-01-02")
	case "julian":
		// Modified Julian Day: days since 1858-11-17.
		y, m, d := t.Date()
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return strconv.FormatInt(int64(day.Sub(time.Date(1858, 11, 17, 0, 0, 0, 0, time.UTC)).Hours()/24), 10)
	case "hour":
		return fmt.Sprintf("%02d", t.Hour())
	case "minute":
		return fmt.Sprintf("%02d", t.Minute())
	case "second":
		return fmt.Sprintf("%02d", t.Second())
	case "time":
		return t.Format("15:04:05")
	case "iso8601":
		return t.Format("2006-01-02T15:04:05-07:00")
	case "std11":
		return t.Format("Mon, 02 Jan 2006 15:04:05 -0700")
	case "zone":
		return t.Format("-0700")
	case "weekday":
		return strconv.Itoa(int(t.Weekday()))
	}
	return ""
}

// parseZone reads a zone "+hhmm" or "-hhmm" (RFC 5260 section 4.1).
func parseZone(z string) (*time.Location, bool) {
	if len(z) != 5 || z[0] != '+' && z[0] != '-' || !isDigits(z[1:]) {
		return nil, false
	}
	h, _ := strconv.Atoi(z[1:3])
	m, _ := strconv.Atoi(z[3:5])
	if h > 23 || m > 59 {
		return nil, false
	}
	off := (h*60 + m) * 60
	if z[0] == '-' {
		off = -off
	}
	return time.FixedZone(z, off), true
}

// inZone converts t as the :zone and :originalzone tags ask; without
// either, to the local zone, that of Input.Now (RFC 5260 section 4.1).
func (r *run) inZone(n *node, t time.Time) (time.Time, bool) {
	if n.has("originalzone") {
		return t, true
	}
	if a, ok := n.tags["zone"]; ok {
		loc, ok := parseZone(r.expand(a.strs[0]))
		if !ok {
			// RFC 5260 section 4.1: a bad zone makes the test false.
			return t, false
		}
		return t.In(loc), true
	}
	return t.In(r.in.Now.Location()), true
}

// dateTest runs the date test (RFC 5260 section 4): a field that does not
// hold a valid date does not match.
func (r *run) dateTest(n *node) bool {
	name := strings.ToLower(r.expand(n.args[0].strs[0]))
	part := n.args[1].strs[0]
	var values []string
	for _, v := range r.fields(n, name) {
		if name != "date" && strings.Contains(v, ";") {
			// Received: the date follows the last ";" (RFC 5322 section 3.6.7).
			v = v[strings.LastIndexByte(v, ';')+1:]
		}
		t, err := mail.ParseDate(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		t, ok := r.inZone(n, t)
		if !ok {
			return false
		}
		values = append(values, datePart(t, part))
	}
	return r.matchValues(n, values, r.expandList(n.args[2].strs))
}

func (r *run) currentDate(n *node) bool {
	t, ok := r.inZone(n, r.in.Now)
	if !ok {
		return false
	}
	return r.matchValues(n, []string{datePart(t, n.args[0].strs[0])}, r.expandList(n.args[1].strs))
}
