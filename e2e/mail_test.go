package e2e

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// setupAccount adds a domain and an account through the CLI.
func setupAccount(t *testing.T, s *server, address, password string) {
	t.Helper()
	domain := address[strings.LastIndexByte(address, '@')+1:]
	if out, err := runCasella(s.data, s.config, "domain", "add", domain); err != nil && !strings.Contains(out, "exists") {
		t.Fatalf("domain add: %v\n%s", err, out)
	}
	s.casella("account", "add", address, "--password", password)
}

// testMessage makes a small message with a unique Message-ID.
func testMessage(id, from, to string, body string) []byte {
	return []byte(fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: test %s\r\nMessage-ID: <%s@e2e.test>\r\nDate: %s\r\n\r\n%s\r\n",
		from, to, id, id, time.Now().UTC().Format(time.RFC1123Z), body))
}

// stored returns every message of a mailbox, read with go-imap's client,
// keyed by position, in UID order.
func stored(t *testing.T, s *server, user, pass, mailbox string) [][]byte {
	t.Helper()
	c, err := imapclient.DialInsecure(s.addr("imap"), nil)
	if err != nil {
		t.Fatalf("imap dial: %v", err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("imap login: %v", err)
	}
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("imap select %s: %v", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	var seq imap.SeqSet
	seq.AddRange(1, sel.NumMessages)
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(seq, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatalf("imap fetch: %v", err)
	}
	out := make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, m.FindBodySection(section))
	}
	return out
}

// countStored returns the number of messages in a mailbox over IMAP.
func countStored(t *testing.T, s *server, user, pass, mailbox string) uint32 {
	t.Helper()
	c, err := imapclient.DialInsecure(s.addr("imap"), nil)
	if err != nil {
		t.Fatalf("imap dial: %v", err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("imap login: %v", err)
	}
	st, err := c.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatalf("imap status: %v", err)
	}
	return *st.NumMessages
}

// traceSplit splits a stored message into the trace headers Casella added
// (Return-Path, Delivered-To, Received) and the bytes the client sent.
func traceSplit(t *testing.T, stored []byte) (trace []string, original []byte) {
	t.Helper()
	rest := stored
	for {
		i := strings.Index(string(rest), "\r\n")
		if i < 0 {
			t.Fatalf("stored message has no CRLF-terminated header: %q", stored)
		}
		line := string(rest[:i])
		name := strings.ToLower(line[:max(0, strings.IndexByte(line, ':'))])
		if name != "return-path" && name != "delivered-to" && name != "received" {
			return trace, rest
		}
		// A header field may continue on lines starting with white space.
		end := i + 2
		for end < len(rest) && (rest[end] == ' ' || rest[end] == '\t') {
			j := strings.Index(string(rest[end:]), "\r\n")
			if j < 0 {
				t.Fatalf("unterminated folded trace header in %q", stored)
			}
			end += j + 2
		}
		trace = append(trace, string(rest[:end]))
		rest = rest[end:]
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// insecureTLS accepts the server's self-signed certificate.
var insecureTLS = &tls.Config{InsecureSkipVerify: true}
