package loadgen

import (
	"bufio"
	"strings"
	"testing"
)

// parse reads the responses of a server transcript.
func parse(t *testing.T, transcript string) []*resp {
	t.Helper()
	c := &wire{r: bufio.NewReader(strings.NewReader(strings.ReplaceAll(transcript, "\n", "\r\n")))}
	var out []*resp
	for range strings.Count(transcript, "\n") {
		r, err := c.read()
		if err != nil {
			break
		}
		out = append(out, r)
	}
	return out
}

func TestWireRead(t *testing.T) {
	rs := parse(t, `* 3 FETCH (UID 7 FLAGS (\Seen $label1) MODSEQ (12) BODY[HEADER.FIELDS (FROM)] {5}
ab
c ENVELOPE (NIL "s\"q" NIL NIL NIL NIL NIL NIL NIL NIL))
* OK [HIGHESTMODSEQ 12] Highest
c1 OK [APPENDUID 9 7] done
+ go on
`)
	if len(rs) != 4 {
		t.Fatalf("%d responses: %+v", len(rs), rs)
	}
	f := rs[0]
	if f.Tag != "*" || f.Num != 3 || f.Kind != "FETCH" || len(f.Items) != 1 {
		t.Fatalf("FETCH: %+v", f)
	}
	l := f.Items[0].([]any)
	if l[0] != "UID" || l[1] != "7" || l[6] != "BODY[HEADER.FIELDS (FROM)]" || l[7] != "ab\r\nc" {
		t.Errorf("FETCH items %q", l)
	}
	if env := l[9].([]any); env[0] != nil || env[1] != `s"q` {
		t.Errorf("ENVELOPE %q", env)
	}
	if rs[1].Kind != "OK" || rs[1].Text != "[HIGHESTMODSEQ 12] Highest" {
		t.Errorf("untagged OK %+v", rs[1])
	}
	if rs[2].Tag != "c1" || rs[2].Kind != "OK" || rs[2].Text != "[APPENDUID 9 7] done" {
		t.Errorf("tagged OK %+v", rs[2])
	}
	if rs[3].Tag != "+" || rs[3].Text != "go on" {
		t.Errorf("continuation %+v", rs[3])
	}
}

// feed applies a transcript to m and returns the protocol errors.
func feed(t *testing.T, m *model, transcript string) []string {
	t.Helper()
	var errs []string
	add := func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				errs = append(errs, e.Error())
			}
		} else if err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, r := range parse(t, transcript) {
		if r.Tag == "*" {
			add(m.untagged(r))
		} else {
			add(m.end())
		}
	}
	return errs
}

// selected is a model after SELECT and a fetch of all flags.
func selected(t *testing.T) *model {
	m := &model{exact: true}
	errs := feed(t, m, `* FLAGS (\Seen \Deleted \Flagged)
* 3 EXISTS
* OK [UIDVALIDITY 5] x
* OK [UIDNEXT 10] x
* OK [HIGHESTMODSEQ 20] x
c1 OK SELECT done
* 1 FETCH (UID 2 FLAGS () MODSEQ (3))
* 2 FETCH (UID 4 FLAGS (\Seen) MODSEQ (4))
* 3 FETCH (UID 9 FLAGS (\Seen \Recent) MODSEQ (20))
c2 OK FETCH done
`)
	if len(errs) > 0 {
		t.Fatalf("a consistent transcript: %v", errs)
	}
	return m
}

func TestModel(t *testing.T) {
	for _, tc := range []struct {
		name, transcript string
		store            map[uint32]flagSet
		want             string // part of the only error; empty for none
		broken           bool
	}{
		{name: "expunge and new mail", transcript: "* 2 EXPUNGE\n* 3 EXISTS\n* 3 FETCH (UID 12 FLAGS ())\nc OK\n"},
		{name: "expunge past the view", transcript: "* 4 EXPUNGE\nc OK\n", want: "* 4 EXPUNGE with 3 messages", broken: true},
		{name: "expunge zero", transcript: "* 0 EXPUNGE\nc OK\n", want: "* 0 EXPUNGE", broken: true},
		{name: "exists shrinks", transcript: "* 2 EXISTS\nc OK\n", want: "without EXPUNGE", broken: true},
		{name: "fetch past the view", transcript: "* 4 FETCH (FLAGS ())\nc OK\n", want: "* 4 FETCH with 3", broken: true},
		{name: "uid changes", transcript: "* 2 FETCH (UID 5)\nc OK\n", want: "knows UID 4", broken: true},
		{name: "uids out of order", transcript: "* 4 EXISTS\n* 4 FETCH (UID 8)\nc OK\n", want: "not above UID 9", broken: true},
		{name: "vanished", transcript: "* VANISHED 4,9\nc OK\n"},
		{name: "vanished unknown", transcript: "* VANISHED 5\nc OK\n", want: "VANISHED names UID 5", broken: true},
		{name: "vanished earlier", transcript: "* VANISHED (EARLIER) 2\nc OK\n", want: "EARLIER"},
		{name: "modseq goes back", transcript: "* 2 FETCH (MODSEQ (3))\nc OK\n", want: "MODSEQ 3 below 4"},
		{name: "highestmodseq goes back", transcript: "* OK [HIGHESTMODSEQ 19] x\nc OK\n", want: "HIGHESTMODSEQ 19"},
		{name: "uidvalidity changes", transcript: "* OK [UIDVALIDITY 6] x\nc OK\n", want: "UIDVALIDITY changed", broken: true},
		{name: "flags change by themselves", transcript: "* 1 FETCH (FLAGS (\\Flagged))\nc OK\n", want: "no session changed them"},
		{name: "store answered", transcript: "* 1 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (21))\nc OK\n", store: map[uint32]flagSet{2: `\seen`}},
		{name: "store answered wrong", transcript: "* 1 FETCH (FLAGS (\\Flagged))\nc OK\n", store: map[uint32]flagSet{2: `\seen`}, want: "the session set"},
		{name: "store not answered", transcript: "c OK\n", store: map[uint32]flagSet{2: `\seen`}, want: "answered no FETCH"},
		{name: "keyword without FLAGS", transcript: "* 1 FETCH (FLAGS ($label1))\nc OK\n", store: map[uint32]flagSet{2: `$label1`}, want: "not in the mailbox's FLAGS"},
		{name: "keyword with FLAGS", transcript: "* FLAGS (\\Seen \\Deleted \\Flagged $label1)\n* 1 FETCH (FLAGS ($label1))\nc OK\n", store: map[uint32]flagSet{2: `$label1`}},
		{name: "bye", transcript: "* BYE going\n", want: "BYE", broken: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := selected(t)
			m.storing = tc.store
			errs := feed(t, m, tc.transcript)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("protocol errors %q", errs)
			case tc.want != "" && (len(errs) != 1 || !strings.Contains(errs[0], tc.want)):
				t.Errorf("protocol errors %q; want one with %q", errs, tc.want)
			}
			if m.broken != tc.broken {
				t.Errorf("broken %v; want %v", m.broken, tc.broken)
			}
		})
	}
}

func FuzzWireRead(f *testing.F) {
	f.Add("* 3 FETCH (UID 7 FLAGS (\\Seen) BODY[] {3}\r\nabc)\r\n")
	f.Add("* LIST (\\HasNoChildren) \"/\" INBOX\r\nc1 OK [APPENDUID 1 2] x\r\n")
	f.Add("* VANISHED (EARLIER) 1:3,5\r\n* 2 EXPUNGE\r\n+ \r\n")
	f.Add("* 1 FETCH (BINARY[1] ~{2}\r\n\x00\x01)\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		c := &wire{r: bufio.NewReader(strings.NewReader(s))}
		m := &model{exact: true}
		for range 100 {
			r, err := c.read()
			if err != nil {
				return
			}
			m.untagged(r)
			m.end()
		}
	})
}
