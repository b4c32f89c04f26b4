package e2e

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// setFault sets a fault on a server started with --allow-faults through its
// HTTP endpoint.
func setFault(t *testing.T, s *server, target, fault string) {
	t.Helper()
	resp, err := http.PostForm("http://"+s.addr("http")+"/admin/faults", url.Values{"target": {target}, "fault": {fault}})
	if err != nil {
		t.Fatalf("setting fault: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("setting fault %s=%s: %s", target, fault, resp.Status)
	}
}

// TestSIGTERMThenRestartResumesSpool holds accepted mail in the spool with a
// failing store, stops the server cleanly, and checks that a restart with
// a working store delivers all of it, exactly once.
func TestSIGTERMThenRestartResumesSpool(t *testing.T) {
	data, config := newData(t, "")
	s := startServer(t, data, config, "--allow-faults")
	setupAccount(t, s, "alice@example.test", "alice-secret-1")
	setFault(t, s, "store", "error")

	accepted, attempted := load(s.addr("smtp"), "term", "alice@example.test", 4, 25)
	if len(accepted) != 100 {
		t.Fatalf("%d of 100 accepted while the store fails; intake must not depend on the store", len(accepted))
	}
	if d := inboundDepth(t, s); d != 100 {
		t.Fatalf("spool depth %d, want 100 held while the store fails", d)
	}
	s.stop()

	s = startServer(t, data, config)
	waitFor(t, 60*time.Second, "the spool to drain after restart", func() bool { return inboundDepth(t, s) == 0 })
	checkExactlyOnce(t, s, "alice@example.test", "alice-secret-1", accepted, attempted)
	s.stop()
}
