package loadgen

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Every message bench smtp sends passes the sink's checks; one sent
// twice, one whose recipient is not its To and one whose body changed are
// each counted as a contradiction.
func TestSink(t *testing.T) {
	addr := freeAddr(t)
	type result struct {
		r   *SinkReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := Sink(context.Background(), SinkOptions{Listen: addr, Expect: 53, Idle: 10 * time.Second})
		done <- result{r, err}
	}()
	waitListening(t, addr)
	_, err := SMTP(context.Background(), SMTPOptions{Server: Conn{Addr: addr}, Messages: 50, Connections: 3,
		Size: SizeRange{Min: 100, Max: 20000}, From: "a@load.test", Recipients: Users{Pattern: "u%d@sink.test", Count: 5}})
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	good := compose(rnd, "x", 1, "a@load.test", "u1@sink.test", time.Now(), 3000)
	send := func(rcpt string, msg []byte) {
		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.SendMail("a@load.test", []string{rcpt}, bytes.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
	}
	send("u1@sink.test", good)
	send("u1@sink.test", good)
	send("u2@sink.test", compose(rnd, "x", 2, "a@load.test", "u1@sink.test", time.Now(), 3000))
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.r.Accepted != 53 || res.r.Contradictions != 2 {
		t.Fatalf("report %+v, want 53 accepted and 2 contradictions (a duplicate, a wrong To)", res.r)
	}
	for _, want := range []string{"<x.1@bench.casella> arrived twice", "<x.2@bench.casella> for <u2@sink.test> has To <u1@sink.test>"} {
		if !strings.Contains(strings.Join(res.r.Errors, "\n"), want) {
			t.Errorf("errors %q lack %q", res.r.Errors, want)
		}
	}

	s := &sink{seen: map[string]bool{}}
	msg := compose(rnd, "y", 1, "a@load.test", "u1@sink.test", time.Now(), 5000)
	if bad := s.check("u1@sink.test", msg); bad != "" {
		t.Fatalf("a composed message: %s", bad)
	}
	altered := bytes.Clone(msg)
	altered[len(altered)-10] ^= 1
	if bad := s.check("u1@sink.test", altered); !strings.Contains(bad, "body not cut from the load's text") {
		t.Fatalf("an altered body: %q", bad)
	}
}

// A sink with --dns names itself as every domain's MX.
func TestSinkDNS(t *testing.T) {
	addr := freeAddr(t)
	stop, err := serveSinkDNS(addr, net.IPv4(127, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	mx, err := r.LookupMX(context.Background(), "anything.test")
	if err != nil || len(mx) != 1 || mx[0].Host != "sink.bench.test." {
		t.Fatalf("MX %v, %v", mx, err)
	}
	ips, err := r.LookupHost(context.Background(), "sink.bench.test")
	if err != nil || len(ips) == 0 || ips[0] != "127.0.0.1" {
		t.Fatalf("A %v, %v", ips, err)
	}
}

func FuzzSinkCheck(f *testing.F) {
	f.Add("u1@sink.test", compose(rand.New(rand.NewPCG(1, 2)), "f", 1, "a@load.test", "u1@sink.test", time.Now(), 500))
	f.Add("x@y", []byte("Message-ID: <1@bench.casella>\r\nTo: <x@y>\r\n\r\n\r\n\r\n"))
	f.Fuzz(func(t *testing.T, rcpt string, msg []byte) {
		(&sink{seen: map[string]bool{}}).check(rcpt, msg)
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}
