package loadgen

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

func TestParseSizeRange(t *testing.T) {
	for in, want := range map[string]SizeRange{
		"5KB-50KB": {5000, 50000},
		"10KiB":    {10240, 10240},
		"100-200":  {100, 200},
	} {
		got, err := ParseSizeRange(in)
		if err != nil || got != want {
			t.Errorf("ParseSizeRange(%q) = %v, %v; want %v", in, got, err, want)
		}
		if again, err := ParseSizeRange(got.String()); err != nil || again != got {
			t.Errorf("%v formats as %q, which reads as %v, %v", got, got.String(), again, err)
		}
	}
	for _, in := range []string{"", "50KB-5KB", "0", "big", "1KB-"} {
		if _, err := ParseSizeRange(in); err == nil {
			t.Errorf("ParseSizeRange(%q) did not fail", in)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(d, 50); p != 50*time.Millisecond {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile(d, 99); p != 99*time.Millisecond {
		t.Errorf("p99 = %v", p)
	}
	if p := percentile(d[:1], 99); p != time.Millisecond {
		t.Errorf("p99 of one = %v", p)
	}
	s := summarize("x", []time.Duration{3, 1, 2}, 1, time.Second)
	if s.Count != 3 || s.Errors != 1 || s.PerSecond != 3 {
		t.Errorf("summarize = %+v", s)
	}
}

func TestCompose(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{100, 5000, 50000, 200000} {
		msg := compose(rnd, "run", 7, "a@x.test", "b@x.test", time.Now(), size)
		// A message is never smaller than its header, about 250 bytes.
		if size > 1000 && (len(msg) > size || len(msg) < size-2) {
			t.Errorf("asked for %d bytes, got %d", size, len(msg))
		}
		for _, line := range bytes.Split(msg, []byte("\r\n")) {
			if len(line) > 998 {
				t.Fatalf("line of %d bytes exceeds RFC 5322's limit", len(line))
			}
		}
		if !bytes.Contains(msg, []byte("Message-ID: <run.7@bench.casella>")) {
			t.Errorf("no Message-ID in %q", msg[:200])
		}
	}
}

func TestUsers(t *testing.T) {
	u := Users{Pattern: "user%d@example.test", Count: 3}
	if err := u.check(); err != nil {
		t.Fatal(err)
	}
	if got := u.name(0) + " " + u.name(2) + " " + u.name(3); got != "user1@example.test user3@example.test user1@example.test" {
		t.Errorf("names: %s", got)
	}
	for _, p := range []string{"user@example.test", "u%d%d@x", "u%s@x"} {
		if err := (Users{Pattern: p, Count: 1}).check(); err == nil {
			t.Errorf("pattern %q accepted", p)
		}
	}
}

func TestParseStat(t *testing.T) {
	pid, ppid, ok := parseStat([]byte("123 (imap (x) y) S 45 123 123 0 -1"))
	if !ok || pid != 123 || ppid != 45 {
		t.Errorf("parseStat = %d, %d, %v", pid, ppid, ok)
	}
}

func TestReadMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	m, err := readMemory([]int{os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if m.Processes < 1 || m.RSS <= 0 {
		t.Errorf("readMemory of this process = %+v", m)
	}
	if _, err := readMemory([]int{1 << 30}); err == nil {
		t.Error("no error for a process that does not exist")
	}
}

func TestStuff(t *testing.T) {
	for in, want := range map[string]string{
		"a\r\nb\r\n":        "a\r\nb\r\n",
		"a\r\nb":            "a\r\nb\r\n",
		".a\r\n":            "..a\r\n",
		"a\r\n.\r\n..b\r\n": "a\r\n..\r\n...b\r\n",
		"a\r\n.":            "a\r\n..\r\n",
	} {
		if got := stuff([]byte(in)); string(got) != want {
			t.Errorf("stuff(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConnForSpreadsOverServers(t *testing.T) {
	c := Conn{Addr: "127.0.0.1:1, 127.0.0.1:2", StartTLS: true}
	for i, want := range []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:1"} {
		got := c.For(i)
		if got.Addr != want || !got.StartTLS {
			t.Errorf("For(%d) = %+v, want %s with STARTTLS", i, got, want)
		}
	}
	if got := (Conn{Addr: "127.0.0.1:1"}).For(5).Addr; got != "127.0.0.1:1" {
		t.Errorf("one server: For(5) = %s", got)
	}
}
