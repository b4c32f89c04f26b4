package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
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
