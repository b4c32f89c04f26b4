package drill

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// startTimeout bounds how long a server may take to print its banner.
const startTimeout = 2 * time.Minute

// Local is a casella server that the drill runs as a child process on a
// data directory of its own, with fault injection allowed.
//
// Its listeners get fixed loopback ports, picked once, so that the load can
// reconnect to the same addresses after a kill.
type Local struct {
	Exe    string // the casella binary
	Dir    string // holds the data directory, the configuration and the server's log
	Data   string
	Config string

	ports  []string          // the fixed ports written into Config
	addrs  map[string]string // listener name -> host:port, from the banner
	cmd    *exec.Cmd
	exited chan struct{}
}

// NewLocal prepares a server in dir: a configuration with free loopback
// ports and short retry delays, so that recovery after a cleared fault is
// quick, and room for conns SMTP connections from one address.
func NewLocal(exe, dir string, conns int) (*Local, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	l := &Local{Exe: exe, Dir: dir, Data: filepath.Join(dir, "data"), Config: filepath.Join(dir, "casella.toml"), ports: ports}
	config := fmt.Sprintf(`# Written by casella drill.
hostname = "mx.drill.test"
[smtp]
listen = "127.0.0.1:%s"
submission = "127.0.0.1:0"
submissions = "127.0.0.1:0"
max_connections_per_ip = %d
# The drill's senders are made up: no DNS vouches for them.
check_senders = false
[imap]
listen = "127.0.0.1:%s"
tls_listen = "127.0.0.1:0"
[pop3]
listen = "127.0.0.1:0"
tls_listen = "127.0.0.1:0"
[http]
listen = "127.0.0.1:%s"
[managesieve]
listen = "127.0.0.1:0"
[spool]
retry_min = "100ms"
retry_max = "2s"
breaker_cooldown = "1s"
[demo]
enabled = false
`, ports[0], conns+10, ports[1], ports[2])
	if err := os.WriteFile(l.Config, []byte(config), 0o644); err != nil {
		return nil, fmt.Errorf("writing the drill's configuration: %w", err)
	}
	return l, nil
}

// freePorts returns n distinct loopback ports that were free a moment
// ago; all are held open until all are found, so none repeats.
func freePorts(n int) ([]string, error) {
	ports := make([]string, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer ln.Close()
		_, ports[i], _ = net.SplitHostPort(ln.Addr().String())
	}
	return ports, nil
}

// newPorts moves the server to other free ports, rewriting them in its
// configuration: a port that was free when NewLocal picked it may have been
// taken since by any process of the machine before the server bound it.
func (l *Local) newPorts() error {
	config, err := os.ReadFile(l.Config)
	if err != nil {
		return err
	}
	ports, err := freePorts(len(l.ports))
	if err != nil {
		return err
	}
	text := string(config)
	for i, p := range l.ports {
		text = strings.ReplaceAll(text, `"127.0.0.1:`+p+`"`, `"127.0.0.1:`+ports[i]+`"`)
	}
	if err := os.WriteFile(l.Config, []byte(text), 0o644); err != nil {
		return fmt.Errorf("rewriting the drill's configuration: %w", err)
	}
	l.ports = ports
	return nil
}

// Casella runs an admin command of the binary on the server's data
// directory.
func (l *Local) Casella(ctx context.Context, args ...string) error {
	args = append(args, "--data", l.Data, "--config", l.Config)
	out, err := exec.CommandContext(ctx, l.Exe, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("casella %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// LogFile is where the server's output goes, appended to at every start.
func (l *Local) LogFile() string { return filepath.Join(l.Dir, "server.log") }

var bannerLine = regexp.MustCompile(`^\s+(\w+)\s+(\S+:\d+)\s*$`)

// Start starts casella serve --allow-faults and waits for its banner. At
// the first start, a server that finds one of its ports taken is moved to
// others, up to three times; after that the ports stay, so that the load
// finds a restarted server where it was.
func (l *Local) Start(ctx context.Context) error {
	for try := 1; ; try++ {
		err := l.start(ctx)
		if err == nil || l.addrs != nil || try == 3 || !errors.Is(err, errPortTaken) {
			return err
		}
		if err := l.newPorts(); err != nil {
			return err
		}
	}
}

// errPortTaken marks a server that could not bind one of its ports.
var errPortTaken = errors.New("a listening port was taken")

func (l *Local) start(ctx context.Context) error {
	logf, err := os.OpenFile(l.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening the server log: %w", err)
	}
	from, err := logf.Seek(0, io.SeekEnd)
	if err != nil {
		logf.Close()
		return fmt.Errorf("opening the server log: %w", err)
	}
	cmd := exec.Command(l.Exe, "serve", "--data", l.Data, "--config", l.Config, "--allow-faults")
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting casella serve: %w", err)
	}
	exited := make(chan struct{})
	l.cmd, l.exited = cmd, exited
	banner := make(chan map[string]string, 1)
	go func() {
		readBanner(stdout, logf, banner)
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	select {
	case addrs := <-banner:
		l.addrs = addrs
		return nil
	case <-exited:
		l.cmd = nil
		tail := l.logTail(from)
		err := fmt.Errorf("casella serve exited before it was ready: %v; its log (%s) ends:\n%s", cmd.ProcessState, l.LogFile(), tail)
		if strings.Contains(tail, "address already in use") {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return err
	case <-time.After(startTimeout):
	case <-ctx.Done():
	}
	l.Kill()
	return fmt.Errorf("casella serve was not ready within %v; see %s", startTimeout, l.LogFile())
}

// logTail returns the last lines the server logged since offset from, for
// an error message: a failed start in CI leaves nothing else to read.
func (l *Local) logTail(from int64) string {
	f, err := os.Open(l.LogFile())
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return err.Error()
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// readBanner copies the server's stdout to log and sends the listener
// addresses once the banner ends with "Casella is ready".
func readBanner(stdout io.Reader, log io.Writer, banner chan<- map[string]string) {
	addrs := map[string]string{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(log, line)
		if addrs == nil {
			continue
		}
		if m := bannerLine.FindStringSubmatch(line); m != nil {
			addrs[m[1]] = m[2]
		}
		if strings.HasPrefix(line, "Casella is ready") {
			banner <- addrs
			addrs = nil
		}
	}
}

// Addr returns the address of a listener the banner named.
func (l *Local) Addr(name string) (string, error) {
	a, ok := l.addrs[name]
	if !ok {
		return "", fmt.Errorf("the server's banner names no %s listener", name)
	}
	return a, nil
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it.
func (l *Local) Kill() {
	if l.cmd == nil {
		return
	}
	l.cmd.Process.Signal(syscall.SIGKILL)
	<-l.exited
	l.cmd = nil
}

// Stop ends the server with SIGTERM and waits up to a minute for a clean
// exit, then kills it.
func (l *Local) Stop() error {
	if l.cmd == nil {
		return nil
	}
	cmd := l.cmd
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.exited:
		l.cmd = nil
	case <-time.After(time.Minute):
		l.Kill()
		return errors.New("casella serve did not stop within a minute of SIGTERM; killed it")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("casella serve exited with status %d after SIGTERM; see %s", code, l.LogFile())
	}
	return nil
}
