package imap

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// idleClients is a Python program that opens n connections, logs each
// in, selects INBOX, optionally turns on COMPRESS=DEFLATE, and starts
// IDLE; it prints "ready" and holds them until its input closes. The
// clients run in another process so that they neither count in this
// one's memory nor share its file descriptor limit.
const idleClients = `
import resource, socket, sys, zlib
host, port, user, password, n, compress = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6] == '1'
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def read_until(s, marker, inflate=None):
    data = b''
    while marker not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit('connection closed: %r' % data)
        data += inflate.decompress(chunk) if inflate else chunk
    return data

conns = []
for i in range(n):
    s = socket.create_connection((host, port))
    s.sendall(b'a LOGIN "%s" "%s"\r\n' % (user.encode(), password.encode()))
    read_until(s, b'a OK')
    if compress:
        s.sendall(b'z COMPRESS DEFLATE\r\n')
        read_until(s, b'z OK')
        deflate = zlib.compressobj(wbits=-15)
        inflate = zlib.decompressobj(wbits=-15)
        s.sendall(deflate.compress(b's SELECT INBOX\r\ni IDLE\r\n') + deflate.flush(zlib.Z_SYNC_FLUSH))
        read_until(s, b'+ idling', inflate)
        conns.append((s, deflate, inflate))
    else:
        s.sendall(b's SELECT INBOX\r\ni IDLE\r\n')
        read_until(s, b'+ idling')
        conns.append((s, None, None))
print('ready', flush=True)
sys.stdin.read()
`

// memory is this process's memory use: live heap, goroutine stacks, and
// resident set size.
type memory struct {
	heap, stacks, rss uint64
}

func measureMemory(t *testing.T) memory {
	t.Helper()
	for range 3 {
		runtime.GC() // stacks shrink a little at each collection
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := memory{heap: ms.HeapInuse, stacks: ms.StackInuse}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			m.rss = kb << 10
		}
	}
	return m
}

// TestIdleMemory reports the memory each IDLE connection costs the
// server. It runs only when CASELLA_IDLE_CONNS gives the number of
// connections, for example:
//
//	CASELLA_IDLE_CONNS=10000 go test -run IdleMemory -v ./internal/imap/
//
// CASELLA_IDLE_COMPRESS=1 turns on COMPRESS=DEFLATE in every session.
func TestIdleMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CASELLA_IDLE_CONNS"))
	if n <= 0 {
		t.Skip("set CASELLA_IDLE_CONNS to the number of IDLE connections to measure")
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	compress := os.Getenv("CASELLA_IDLE_COMPRESS")
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", "", simpleMsg)
	rc.ok("x LOGOUT")

	before := measureMemory(t)
	host, port, _ := strings.Cut(e.addr, ":")
	cmd := exec.Command(python, "-c", idleClients, host, port, testUser, testPass, strconv.Itoa(n), compress)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("clients: %q, %v", line, err)
	}
	t.Logf("%d connections idling after %v", n, time.Since(start).Round(time.Millisecond))
	after := measureMemory(t)
	per := func(a, b uint64) string {
		return fmt.Sprintf("%.1f KiB", (float64(b)-float64(a))/float64(n)/1024)
	}
	t.Logf("per IDLE connection (compress=%q): heap %s, goroutine stacks %s, heap+stacks %s, RSS %s; goroutines %d",
		compress, per(before.heap, after.heap), per(before.stacks, after.stacks),
		per(before.heap+before.stacks, after.heap+after.stacks), per(before.rss, after.rss), runtime.NumGoroutine())
	if got := (after.rss - before.rss) / uint64(n); got > 64<<10 {
		t.Errorf("%d bytes of RSS per IDLE connection, want at most 64 KiB", got)
	}
}
