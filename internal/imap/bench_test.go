package imap

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"casella/internal/blob"
	"casella/internal/message"
	"casella/internal/store"
	"casella/internal/store/cache"
)

// benchMessages is the size of the mailbox BenchmarkMailbox100k measures.
const benchMessages = 100_000

// benchMeta returns varied, realistic metadata for message n: a few
// hundred subjects with reply and forward prefixes, a thousand senders,
// dates over two years, and conversations linked by References.
func benchMeta(r *rand.Rand, n int, sent time.Time) *message.Meta {
	topic := r.IntN(400)
	subject := fmt.Sprintf("Project %d: status of item %d", topic, r.IntN(50))
	switch r.IntN(4) {
	case 0:
		subject = "Re: " + subject
	case 1:
		subject = "Fwd: " + subject
	}
	sender := r.IntN(1000)
	var refs []string
	if n > 0 && r.IntN(2) == 0 {
		refs = []string{fmt.Sprintf("%d@bench.example", r.IntN(n))}
	}
	return &message.Meta{
		Envelope: message.Envelope{
			Date:      sent,
			RawDate:   sent.Format(time.RFC1123Z),
			Subject:   subject,
			From:      []message.Address{{Name: fmt.Sprintf("Sender %d", sender), Local: fmt.Sprintf("user%d", sender), Host: "example.org"}},
			To:        []message.Address{{Local: "alice", Host: "example.org"}},
			Cc:        []message.Address{{Local: fmt.Sprintf("team%d", r.IntN(20)), Host: "example.com"}},
			MessageID: fmt.Sprintf("<%d@bench.example>", n),
		},
		Structure: &message.Part{
			Type: "text", Subtype: "plain", Params: map[string]string{"charset": "utf-8"},
			HeaderStart: 0, BodyStart: 600, BodyEnd: 4000, Lines: 60,
		},
		References:  refs,
		BaseSubject: message.BaseSubject(subject),
		Preview:     "Hello, here is where the project stands this week.",
	}
}

// fillMailbox appends n messages to INBOX of the test account in batches,
// with store.Append, the way an import would.
func fillMailbox(b *testing.B, e *testEnv, n int) {
	ctx := b.Context()
	if err := e.store.EnsureAccount(ctx, 1); err != nil {
		b.Fatal(err)
	}
	mb, err := e.store.Mailbox(ctx, 1, store.Inbox)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	const batch = 1000
	for i := 0; i < n; i += batch {
		msgs := make([]store.NewMessage, 0, batch)
		for j := i; j < min(n, i+batch); j++ {
			internal := start.Add(time.Duration(j) * 10 * time.Minute)
			m := store.NewMessage{
				Blob:     blob.KeyOf(fmt.Appendf(nil, "message %d", j)),
				Size:     int64(2000 + r.IntN(100_000)),
				Internal: internal,
				Meta:     benchMeta(r, j, internal.Add(-time.Duration(r.IntN(3600))*time.Second)),
			}
			if r.IntN(3) > 0 {
				m.Flags = append(m.Flags, store.FlagSeen)
			}
			if r.IntN(20) == 0 {
				m.Flags = append(m.Flags, store.FlagFlagged, "$Work")
			}
			msgs = append(msgs, m)
		}
		if _, err := e.store.Append(ctx, 1, mb.ID, msgs); err != nil {
			b.Fatal(err)
		}
	}
}

// drain reads responses up to the one tagged tag, counting the untagged
// ones, and fails unless it is OK.
func (rc *rawConn) drain(tag string) int {
	rc.t.Helper()
	n := 0
	for {
		l, err := rc.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			for err == bufio.ErrBufferFull {
				_, err = rc.r.ReadSlice('\n')
			}
		}
		if err != nil {
			rc.t.Fatalf("read: %v", err)
		}
		if strings.HasPrefix(string(l), tag+" ") {
			if !strings.HasPrefix(string(l), tag+" OK") {
				rc.t.Fatalf("%s", l)
			}
			return n
		}
		n++
	}
}

// BenchmarkMailbox100k measures commands on a 100,000-message mailbox in
// the SQLite store, over a loopback connection:
//
//	go test -run '^$' -bench Mailbox100k -benchtime 5x ./internal/imap/
//
// The mailbox is built once, in b.TempDir, before the sub-benchmarks. The
// store is behind the row cache, as the server runs it; the first command
// fills the cache before the timings start.
func BenchmarkMailbox100k(b *testing.B) {
	e := newTestEnv(b, func(s *Server) {
		s.Store = cache.New(s.Store, cache.Options{Limit: 2 * benchMessages, MinSpan: cache.DefaultMinSpan})
	})
	t0 := time.Now()
	fillMailbox(b, e, benchMessages)
	b.Logf("filled %d messages in %v", benchMessages, time.Since(t0).Round(time.Millisecond))
	rc := e.raw(b)
	rc.nc.SetDeadline(time.Time{})
	rc.login()
	rc.ok("s SELECT INBOX")
	io.WriteString(rc.nc, "w UID FETCH 1:* (FLAGS)\r\n")
	rc.drain("w")
	for _, bc := range []struct {
		name, cmd string
		want      int // untagged responses
	}{
		{"Select", "SELECT INBOX", -1},
		{"UIDFetchFlags", "UID FETCH 1:* (FLAGS)", benchMessages},
		{"UIDSearchSince", "UID SEARCH SINCE 1-Jan-2024", 1},
		{"UIDSortDate", "UID SORT (DATE) UTF-8 ALL", 1},
		{"UIDSortSubject", "UID SORT (SUBJECT) UTF-8 ALL", 1},
		{"UIDThreadReferences", "UID THREAD REFERENCES UTF-8 ALL", 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rc.t = b
			for b.Loop() {
				io.WriteString(rc.nc, "b "+bc.cmd+"\r\n")
				if n := rc.drain("b"); bc.want >= 0 && n != bc.want {
					b.Fatalf("%s: %d untagged responses, want %d", bc.cmd, n, bc.want)
				}
			}
		})
	}
}

// BenchmarkMailbox200 measures the commands of the IMAP mix of
// `casella bench imap` (bench/run.sh) on a 200-message mailbox like its
// mailboxes, in the SQLite store behind the row cache, over a loopback
// connection; each command is followed by the change log read every
// command ends with:
//
//	go test -run '^$' -bench Mailbox200 -benchmem ./internal/imap/
func BenchmarkMailbox200(b *testing.B) {
	e := newTestEnv(b, func(s *Server) {
		s.Store = cache.New(s.Store, cache.Options{Limit: 1000, MinSpan: cache.DefaultMinSpan})
	})
	fillMailbox(b, e, 200)
	rc := e.raw(b)
	rc.nc.SetDeadline(time.Time{})
	rc.login()
	rc.ok("s SELECT INBOX (CONDSTORE)")
	for _, bc := range []struct {
		name, cmd string
		want      int // untagged responses
	}{
		{"Select", "SELECT INBOX (CONDSTORE)", -1},
		{"FetchFlagsAll", "FETCH 1:* (UID FLAGS MODSEQ)", 200},
		{"FetchEnvelopes", "FETCH 181:200 (UID FLAGS ENVELOPE RFC822.SIZE INTERNALDATE MODSEQ)", 20},
		{"Status", "STATUS INBOX (MESSAGES UIDNEXT UNSEEN HIGHESTMODSEQ)", 1},
		{"List", `LIST "" "*"`, -1},
		{"Noop", "NOOP", 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rc.t = b
			b.ReportAllocs()
			for b.Loop() {
				io.WriteString(rc.nc, "b "+bc.cmd+"\r\n")
				if n := rc.drain("b"); bc.want >= 0 && n != bc.want {
					b.Fatalf("%s: %d untagged responses, want %d", bc.cmd, n, bc.want)
				}
			}
		})
	}
}
