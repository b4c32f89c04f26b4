package e2e

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"casella/internal/blast"
)

// usage returns an account's stored bytes and messages from "casella
// account show".
func usage(t *testing.T, s *server, addr string) (bytes int64, messages int) {
	t.Helper()
	out := s.casella("account", "show", addr)
	m := regexp.MustCompile(`usage:\s+(\d+)(B|KiB|MiB|GiB) in (\d+) messages`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("account show has no usage line:\n%s", out)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	n <<= map[string]int{"B": 0, "KiB": 10, "MiB": 20, "GiB": 30}[m[2]]
	messages, _ = strconv.Atoi(m[3])
	return n, messages
}

// The issue: ten concurrent 1 MB messages to an account with 0.5 MB of
// quota were all stored (10.4 MB used). Now usage never passes the quota
// and its 10% grace, and every message is either delivered or answered
// 452 4.2.2. The second account has room for two of them.
func TestQuotaHoldsUnderConcurrentMail(t *testing.T) {
	data, config := newData(t, "")
	s := startServer(t, data, config)
	s.casella("domain", "add", "example.test")
	line := strings.Repeat("q", 76) + "\r\n"
	body := strings.Repeat(line, 1_000_000/len(line))
	for _, tc := range []struct {
		addr      string
		quota     int64
		delivered int
	}{
		{"small@example.test", 512 << 10, 0},
		{"room@example.test", 2560 << 10, 2},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			s.casella("account", "add", "--password", "pw", "--quota", strconv.FormatInt(tc.quota, 10)+"B", tc.addr)
			limit := tc.quota + tc.quota/10
			codes := make(chan int, 10)
			var wg sync.WaitGroup
			for i := range 10 {
				wg.Go(func() {
					c, err := smtp.Dial(s.addr("smtp"))
					if err != nil {
						t.Error(err)
						return
					}
					defer c.Close()
					msg := testMessage(fmt.Sprintf("%s-%d", tc.addr, i), "sender@remote.test", tc.addr, body)
					err = blast.Send(c, "sender@remote.test", []string{tc.addr}, msg)
					var se *smtp.SMTPError
					switch {
					case err == nil:
						codes <- 250
					case errors.As(err, &se):
						codes <- se.Code
						if se.Code == 452 && se.EnhancedCode != (smtp.EnhancedCode{4, 2, 2}) {
							t.Errorf("452 with %v, want 4.2.2", se.EnhancedCode)
						}
					default:
						t.Error(err)
					}
				})
			}
			// Usage is watched while the messages come in and go out.
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			for watching := true; watching; {
				select {
				case <-done:
					watching = false
				case <-time.After(100 * time.Millisecond):
				}
				if b, _ := usage(t, s, tc.addr); b > limit {
					t.Fatalf("usage %d bytes, past quota and grace %d", b, limit)
				}
			}
			close(codes)
			accepted := 0
			for c := range codes {
				switch c {
				case 250:
					accepted++
				case 452:
				default:
					t.Errorf("reply %d to a message", c)
				}
			}
			waitFor(t, 30*time.Second, "the spool to drain", func() bool { return inboundDepth(t, s) == 0 })
			b, n := usage(t, s, tc.addr)
			if b > limit || n != accepted || n != tc.delivered {
				t.Fatalf("%d accepted, %d stored in %d bytes; want %d delivered within %d bytes", accepted, n, b, tc.delivered, limit)
			}
		})
	}
}
