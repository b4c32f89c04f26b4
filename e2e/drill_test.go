package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"casella/internal/drill"
)

func TestDrillReport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "drill", "--messages", "500", "--connections", "5", "--fault", "error", "--json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("casella drill: %v\n%s\n%s", err, out, stderr.String())
	}
	var r struct {
		Sent, Accepted, Deferred, Rejected, Delivered, Duplicated, Missing, Mismatched, Unexpected int
		FaultInjectedAt, FaultClearedAt, IngestRate                                                float64
		Passed                                                                                     bool
		Problems                                                                                   []string
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("drill report is not JSON: %v\n%s", err, out)
	}
	if !r.Passed || len(r.Problems) != 0 {
		t.Fatalf("drill failed: %q\n%s", r.Problems, out)
	}
	if r.Sent != 500 || r.Accepted != 500 || r.Rejected != 0 || r.Missing != 0 || r.Duplicated != 0 ||
		r.Mismatched != 0 || r.Unexpected != 0 || r.Delivered != r.Accepted {
		t.Fatalf("drill report:\n%s", out)
	}
	if r.FaultInjectedAt <= 0 || r.FaultClearedAt < r.FaultInjectedAt {
		t.Fatalf("the fault was not injected and cleared during the drill:\n%s", out)
	}
	if !strings.Contains(stderr.String(), "accepted") {
		t.Errorf("no progress line on standard error:\n%s", stderr.String())
	}
	t.Logf("drill: %d accepted at %.0f msg/s, all delivered once", r.Accepted, r.IngestRate)
}

func TestFaultCommandNeedsAllowFaults(t *testing.T) {
	data, config := newData(t, "")
	s := startServer(t, data, config)
	out, err := runCasella(s.data, s.config, "fault", "inject", "store", "error", "--server", "http://"+s.addr("http"))
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("casella fault inject on a server without --allow-faults: %v, want exit status 1\n%s", err, out)
	}
	want := "this server does not allow fault injection; start it with casella serve --allow-faults (never in production)"
	if !strings.Contains(out, want) {
		t.Fatalf("casella fault inject said %q, want %q", out, want)
	}
	// And nothing changed: mail still flows.
	setupAccount(t, s, "alice@example.test", "alice-secret-1")
	acc, _ := load(s.addr("smtp"), "after", "alice@example.test", 1, 1)
	if len(acc) != 1 {
		t.Fatal("message not accepted")
	}
	waitFor(t, 30*time.Second, "delivery", func() bool {
		return countStored(t, s, "alice@example.test", "alice-secret-1", "INBOX") == 1
	})
}

// TestDrillCluster runs the blast-radius drill of a local cluster, short,
// and checks its report: cell a's outage cost cell b nothing, cell a's
// sessions got temporary errors, and every accepted message arrived once.
func TestDrillCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "drill", "--cluster", "--messages", "200", "--connections", "4", "--json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && strings.Contains(stderr.String(), "install it") {
		if os.Getenv("CI") != "" {
			t.Fatalf("the cluster drill needs PostgreSQL and versitygw, which .ci/run installs: %s", stderr.String())
		}
		t.Skipf("the cluster drill needs PostgreSQL and versitygw: %s", stderr.String())
	}
	if err != nil {
		t.Fatalf("casella drill --cluster: %v\n%s\n%s", err, out, stderr.String())
	}
	var r struct {
		Sent, Accepted, Deferred, Rejected, Interrupted int
		Lost, Duplicated, Mismatched, Unexpected        int
		Cells                                           map[string]struct{ Accepted, Delivered int }
		HealthyOK                                       int `json:"healthyCommandsOK"`
		HealthyFailed                                   int `json:"healthyCommandsFailed"`
		FailedTemporary                                 int `json:"failedCellTemporaryErrors"`
		FailedOther                                     int `json:"failedCellOtherAnswers"`
		OutageSeconds, DrainSeconds                     float64
		Passed                                          bool
		Problems                                        []string
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("cluster drill report is not JSON: %v\n%s", err, out)
	}
	if !r.Passed || len(r.Problems) != 0 {
		t.Fatalf("cluster drill failed: %q\n%s", r.Problems, out)
	}
	if r.Sent != 200 || r.Accepted+r.Deferred != 200 || r.Rejected != 0 || r.Interrupted != 0 ||
		r.Lost != 0 || r.Duplicated != 0 || r.Mismatched != 0 || r.Unexpected != 0 {
		t.Fatalf("cluster drill report:\n%s", out)
	}
	for _, cell := range []string{"a", "b"} {
		if c := r.Cells[cell]; c.Accepted == 0 || c.Delivered != c.Accepted {
			t.Fatalf("cell %s: %d delivered of %d accepted\n%s", cell, c.Delivered, c.Accepted, out)
		}
	}
	// 3 rounds at least, on 2 nodes: an IMAP session for cell b, and one
	// for cell a, that ends in NO [UNAVAILABLE] or -ERR [SYS/TEMP].
	if r.HealthyOK == 0 || r.HealthyFailed != 0 || r.FailedTemporary < 6 || r.FailedOther != 0 || r.OutageSeconds <= 0 {
		t.Fatalf("sessions during the outage:\n%s", out)
	}
	if !strings.Contains(stderr.String(), "PostgreSQL stopped") {
		t.Errorf("no progress on standard error:\n%s", stderr.String())
	}
	t.Logf("cluster drill: %d accepted, cell b answered %d commands OK during a %.1f s outage of cell a, drained in %.1f s",
		r.Accepted, r.HealthyOK, r.OutageSeconds, r.DrainSeconds)

	out, err = exec.CommandContext(ctx, binary, "drill", "--cluster", "--fault", "hang").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "drop --fault") {
		t.Fatalf("casella drill --cluster --fault hang: %v\n%s", err, out)
	}
}

// TestDrillServerMovesOffATakenPort takes the SMTP port the drill picked
// for its server before the server starts, as another process of a busy
// machine may: the server must start on another port, not fail the drill.
func TestDrillServerMovesOffATakenPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := drill.NewLocal(binary, t.TempDir(), 5)
	if err != nil {
		t.Fatal(err)
	}
	config, err := os.ReadFile(l.Config)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^listen = "(127\.0\.0\.1:\d+)"`).FindSubmatch(config)
	if m == nil {
		t.Fatalf("no SMTP listener in the drill's configuration:\n%s", config)
	}
	taken, err := net.Listen("tcp", string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	addr, err := l.Addr("smtp")
	if err != nil {
		t.Fatal(err)
	}
	if addr == string(m[1]) {
		t.Fatalf("the server claims the taken port %s", addr)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("the server does not listen where its banner says: %v", err)
	}
	c.Close()
}
