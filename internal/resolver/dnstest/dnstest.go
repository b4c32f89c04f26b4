// Package dnstest runs a real DNS server on loopback for tests, over UDP
// and TCP on one random port, answering from records given in zone-file
// syntax (RFC 1035 section 5). It stands in for the recursive resolver a
// mail server asks, so answers carry the AD bit when the test says the
// zone is signed.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server is a running DNS server.
type Server struct {
	// Addr is host:port for both UDP and TCP.
	Addr string

	mu      sync.Mutex
	records []dns.RR
	signed  map[string]bool // zone suffixes answered with AD
	fail    map[string]int  // names answered SERVFAIL, with the rcode
	queries int
}

// Start starts a server answering from records, each one line of zone
// file syntax ("example.test. 300 IN MX 10 mx.example.test."). It stops
// when the test ends.
func Start(tb testing.TB, records ...string) *Server {
	tb.Helper()
	s := &Server{signed: map[string]bool{}, fail: map[string]int{}}
	for _, r := range records {
		s.Add(tb, r)
	}
	pc, l := listen(tb)
	s.Addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: l, Handler: s}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	tb.Cleanup(func() {
		udp.Shutdown()
		tcp.Shutdown()
	})
	return s
}

// listen finds a port free for both UDP and TCP, trying again when the
// TCP side of a free UDP port is taken.
func listen(tb testing.TB) (net.PacketConn, net.Listener) {
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l
		}
		pc.Close()
	}
	tb.Fatal("dnstest: no port free for both UDP and TCP")
	return nil, nil
}

// Add adds a record in zone file syntax.
func (s *Server) Add(tb testing.TB, record string) {
	tb.Helper()
	rr, err := dns.NewRR(record)
	if err != nil {
		tb.Fatalf("dnstest: record %q: %v", record, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, rr)
}

// Sign makes answers for names under zone carry the AD bit, as a
// validating resolver's do for a signed zone.
func (s *Server) Sign(zone string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signed[dns.Fqdn(strings.ToLower(zone))] = true
}

// Fail makes queries for name answer rcode (dns.RcodeServerFailure, say).
func (s *Server) Fail(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[dns.Fqdn(strings.ToLower(name))] = rcode
}

// Queries returns how many queries the server has answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// ServeDNS answers from the records: NXDOMAIN for a name with none,
// NOERROR with an empty answer for a name without the type asked.
func (s *Server) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries++
	m := new(dns.Msg)
	m.SetReply(q)
	m.RecursionAvailable = true
	if len(q.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	name := strings.ToLower(q.Question[0].Name)
	if rcode, ok := s.fail[name]; ok {
		m.Rcode = rcode
		w.WriteMsg(m)
		return
	}
	exists := false
	qtype := q.Question[0].Qtype
	// A CNAME is followed, as a recursive resolver does (RFC 1034
	// section 4.3.2), a few links at most.
	owner := name
	for range 8 {
		next := ""
		for _, rr := range s.records {
			h := rr.Header()
			if strings.ToLower(h.Name) != owner {
				continue
			}
			exists = true
			if h.Rrtype == qtype || h.Rrtype == dns.TypeCNAME {
				m.Answer = append(m.Answer, rr)
			}
			if c, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME {
				next = strings.ToLower(c.Target)
			}
		}
		if next == "" {
			break
		}
		owner = next
	}
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	for zone := range s.signed {
		if dns.IsSubDomain(zone, name) {
			m.AuthenticatedData = true
		}
	}
	w.WriteMsg(m)
}
