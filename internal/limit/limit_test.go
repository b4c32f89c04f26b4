package limit

import (
	"net"
	"strings"
	"testing"
)

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 25}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 25}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 25}, "2001:db8:1:2::/64"},
	} {
		if got := Key(tc.addr); got != tc.want {
			t.Errorf("Key(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestConns(t *testing.T) {
	c := NewConns(2)
	r1, ok1 := c.Acquire("a")
	_, ok2 := c.Acquire("a")
	_, ok3 := c.Acquire("a")
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("acquire = %v %v %v, want true true false", ok1, ok2, ok3)
	}
	if _, ok := c.Acquire("b"); !ok {
		t.Fatal("other key refused")
	}
	r1()
	r1() // a second release must not free another slot
	if got := c.Active("a"); got != 1 {
		t.Fatalf("active after release = %d, want 1", got)
	}
	if _, ok := c.Acquire("a"); !ok {
		t.Fatal("slot not freed by release")
	}
}

func TestGate(t *testing.T) {
	var refusals []string
	count := func(p, r string) { refusals = append(refusals, p+" "+r) }
	total := NewConns(3)
	g := &Gate{Protocol: "imap", Total: total, Proto: NewConns(2), PerAddress: NewConns(1), PerUserAddr: NewConns(1), Refused: count}
	other := &Gate{Protocol: "pop3", Total: total, Refused: count}

	r1, why := g.Admit("a")
	if why != "" {
		t.Fatalf("first connection refused: %s", why)
	}
	if _, why := g.Admit("a"); why != RefusedAddress {
		t.Fatalf("second from a: %q, want %s", why, RefusedAddress)
	}
	if _, why := g.Admit("b"); why != "" {
		t.Fatalf("first from b refused: %s", why)
	}
	if _, why := g.Admit("c"); why != RefusedProtocol {
		t.Fatalf("third imap: %q, want %s", why, RefusedProtocol)
	}
	if got := g.PerAddress.Active("c"); got != 0 {
		t.Fatalf("a refused connection holds %d address slots", got)
	}
	if _, why := other.Admit("d"); why != "" {
		t.Fatalf("pop3 refused: %s", why)
	}
	if _, why := other.Admit("e"); why != RefusedTotal {
		t.Fatalf("fourth connection: %q, want %s", why, RefusedTotal)
	}
	r1()
	if _, why := other.Admit("e"); why != "" {
		t.Fatalf("after a release: %s", why)
	}

	l1, ok1 := g.Login("alice", "a")
	_, ok2 := g.Login("alice", "a")
	_, ok3 := g.Login("alice", "b")
	_, ok4 := g.Login("bob", "a")
	if !ok1 || ok2 || !ok3 || !ok4 {
		t.Fatalf("logins = %v %v %v %v, want true false true true", ok1, ok2, ok3, ok4)
	}
	l1()
	if _, ok := g.Login("alice", "a"); !ok {
		t.Fatal("login slot not freed")
	}
	want := []string{"imap address", "imap protocol_full", "pop3 server_full", "imap user_address"}
	if strings.Join(refusals, ",") != strings.Join(want, ",") {
		t.Fatalf("refusals %q, want %q", refusals, want)
	}

	var none *Gate
	if r, why := none.Admit("a"); why != "" || r == nil {
		t.Fatal("a nil Gate refused")
	}
}
