package sessionlog

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"regexp"
	"testing"
)

func TestSessionLines(t *testing.T) {
	client, server := net.Pipe()
	conn := Wrap(server)
	var buf bytes.Buffer
	s := Start(slog.New(slog.NewTextHandler(&buf, nil)), "pop3", conn)
	go func() {
		client.Write([]byte("USER a\r\n"))
		io.ReadFull(client, make([]byte, 5))
		client.Close()
	}()
	b := make([]byte, 8)
	if _, err := io.ReadFull(conn, b); err != nil {
		t.Fatal(err)
	}
	s.Command()
	conn.Write([]byte("+OK\r\n"))
	s.Login("a@example.org", "USER", true)
	if _, err := conn.Read(b); err != io.EOF {
		t.Fatalf("read after close: %v", err)
	}
	s.End("")
	for _, re := range []string{
		`msg="pop3 login" account=a@example.org tls=true mechanism=USER`,
		`msg="pop3 session ended" account=a@example.org duration=\S+ in=8 out=5 commands=1 reason="client closed the connection"`,
	} {
		if !regexp.MustCompile(re).Match(buf.Bytes()) {
			t.Errorf("log has no line matching %s:\n%s", re, buf.String())
		}
	}
}
