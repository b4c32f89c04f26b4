package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A cluster lists its MX hosts in [smtp] mx_hosts: casella dns prints an
// MX record for each name, and the MTA-STS policy served names them all,
// the pattern too.
func TestClusterMXHosts(t *testing.T) {
	data, config := newData(t, "")
	setConfig(t, config, "smtp", `mx_hosts = ["mx1.example.net", "mx2.example.net", "*.pool.example.net"]`)
	s := startServer(t, data, config)
	s.casella("domain", "add", "example.test")

	zone := s.casella("dns", "example.test")
	for _, want := range []string{"IN\tMX\t10 mx1.example.net.", "IN\tMX\t10 mx2.example.net."} {
		if !strings.Contains(zone, want) {
			t.Errorf("casella dns lacks %q:\n%s", want, zone)
		}
	}
	if strings.Contains(zone, "MX\t10 *.pool") {
		t.Errorf("casella dns prints the pattern as an MX:\n%s", zone)
	}

	req, _ := http.NewRequest("GET", "http://"+s.addr("http")+"/.well-known/mta-sts.txt", nil)
	req.Host = "mta-sts.example.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := "mx: mx1.example.net\r\nmx: mx2.example.net\r\nmx: *.pool.example.net\r\n"; resp.StatusCode != 200 || !strings.Contains(string(body), want) {
		t.Fatalf("policy: %s %q, want the lines %q", resp.Status, body, want)
	}
}
