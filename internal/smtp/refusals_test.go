package smtp

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Every refusal is logged at info with its reason and handed to Refused,
// which the server counts in casella_refusals_total.
func TestRefusalsAreLoggedAndCounted(t *testing.T) {
	var mu sync.Mutex
	var reasons []string
	var logs bytes.Buffer
	e := newTestEnv(t, func(c *Config) {
		c.MaxMessageBytes = 100
		c.Logger = slog.New(slog.NewTextHandler(&syncWriter{w: &logs, mu: &mu}, nil))
		c.Refused = func(r string) {
			mu.Lock()
			defer mu.Unlock()
			reasons = append(reasons, r)
		}
	})
	rc := dialRaw(t, e.mx)
	rc.cmd("EHLO client.test", "250")
	rc.cmd("MAIL FROM:<s@remote.test>", "250")
	rc.cmd("RCPT TO:<nobody@example.test>", "550 5.1.1")
	rc.cmd("RCPT TO:<someone@remote.test>", "550 5.7.1")
	rc.cmd("RCPT TO:<alice@example.test>", "250")
	rc.cmd("DATA", "354")
	rc.send("Subject: big\r\n\r\n" + strings.Repeat("x", 200) + "\r\n.\r\n")
	rc.expect("552")
	rc.cmd("QUIT", "221")

	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"no_such_user", "relay", "size"} {
		if !slices.Contains(reasons, want) {
			t.Errorf("refusal %q not counted; counted %v", want, reasons)
		}
		if !strings.Contains(logs.String(), "reason="+want) {
			t.Errorf("refusal %q not logged:\n%s", want, logs.String())
		}
	}
}

type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
