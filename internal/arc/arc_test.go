package arc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"casella/internal/arc"
	"casella/internal/dkim"
	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
)

const original = "From: Alice <alice@bank.test>\r\nTo: list@list.test\r\nSubject: statement\r\n" +
	"Date: Wed, 02 Dec 2026 09:00:00 +0000\r\nMessage-ID: <1@bank.test>\r\n\r\nYour statement is ready.\r\n"

// hops are the intermediaries of the tests, each with its key published
// in a real DNS server.
type hops struct {
	dns     *dnstest.Server
	lookup  arc.LookupTXT
	sealers map[string]*arc.Sealer
}

func newHops(t testing.TB, domains ...string) *hops {
	t.Helper()
	h := &hops{dns: dnstest.Start(t), sealers: map[string]*arc.Sealer{}}
	r := &resolver.Resolver{Servers: []string{h.dns.Addr}}
	h.lookup = func(name string) ([]string, error) {
		return resolver.Net{R: r}.LookupTXT(context.Background(), name)
	}
	kr := dkim.Open(t.TempDir())
	for _, d := range domains {
		if _, err := kr.Generate(d, "arc"); err != nil {
			t.Fatal(err)
		}
		k, ok, err := kr.NewestRSA(d)
		if err != nil || !ok {
			t.Fatalf("no RSA key for %s: %v", d, err)
		}
		h.dns.Add(t, k.ZoneLine())
		h.sealers[d] = &arc.Sealer{Domain: k.Domain, Selector: k.Selector, Key: k.Signer,
			Now: func() time.Time { return time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC) }}
	}
	return h
}

// pass hands msg through the intermediary domain: it verifies the chain,
// then seals with what it found.
func (h *hops) pass(t testing.TB, domain string, msg []byte) []byte {
	t.Helper()
	v := arc.Verify(msg, h.lookup)
	out, err := h.sealers[domain].Seal(msg, domain+"; arc="+string(v.Result), v)
	if err != nil {
		t.Fatalf("%s seals: %v", domain, err)
	}
	return out
}

func TestChains(t *testing.T) {
	h := newHops(t, "fwd.test", "list.test", "relay.test")
	msg := []byte(original)
	if v := arc.Verify(msg, h.lookup); v.Result != arc.None || v.Instances != 0 {
		t.Fatalf("unsealed message: %+v", v)
	}
	for i, d := range []string{"fwd.test", "list.test", "relay.test"} {
		msg = h.pass(t, d, msg)
		v := arc.Verify(msg, h.lookup)
		if v.Result != arc.Pass || v.Instances != i+1 || v.Sealer != d || v.OldestPass != 0 {
			t.Fatalf("after %s: %+v\n%s", d, v, msg)
		}
	}
	want := "ARC-Seal: i=3; a=rsa-sha256; cv=pass; d=relay.test; s=arc-rsa; t=1796202000; b="
	if !bytes.HasPrefix(msg, []byte(want)) {
		t.Errorf("newest seal does not start %q:\n%s", want, msg)
	}
	if !bytes.Contains(msg, []byte("ARC-Authentication-Results: i=2; list.test; arc=pass\r\n")) {
		t.Errorf("no AAR i=2 copying the hop's results:\n%s", msg)
	}
}

// A mailing list that verifies a chain, then adds a footer, seals the
// chain as it received it: the seals hold, the list's own AMS holds, the
// first one does not, and oldest-pass says where the changes start.
func TestOldestPass(t *testing.T) {
	h := newHops(t, "fwd.test", "list.test")
	msg := h.pass(t, "fwd.test", []byte(original))
	v := arc.Verify(msg, h.lookup)
	msg = append(msg, "-- \r\nlist footer\r\n"...)
	msg, err := h.sealers["list.test"].Seal(msg, "list.test; arc=pass", v)
	if err != nil {
		t.Fatal(err)
	}
	v = arc.Verify(msg, h.lookup)
	if v.Result != arc.Pass || v.OldestPass != 2 || v.Sealer != "list.test" {
		t.Fatalf("%+v", v)
	}
}

func TestTampering(t *testing.T) {
	h := newHops(t, "fwd.test", "list.test")
	one := h.pass(t, "fwd.test", []byte(original))
	two := h.pass(t, "list.test", one)
	tests := []struct {
		name   string
		msg    []byte
		reason string
	}{
		{"body changed", bytes.Replace(one, []byte("is ready"), []byte("is overdue"), 1), "body hash"},
		{"signed header changed", bytes.Replace(two, []byte("Subject: statement"), []byte("Subject: pay now"), 1), "ARC-Message-Signature i=2"},
		{"older AAR changed", bytes.Replace(two, []byte("i=1; fwd.test; arc=none"), []byte("i=1; fwd.test; arc=pass"), 1), "i=2"},
		{"older seal's cv changed", replaceIn(two, "ARC-Seal: i=1", "cv=none", "cv=pass"), "cv="},
		{"older seal's time changed", replaceIn(two, "ARC-Seal: i=1", "t=1796202000", "t=1796202001"), "ARC-Seal i=2"},
		{"older set removed", dropField(dropField(dropField(two, "ARC-Seal: i=1"), "ARC-Message-Signature: i=1"), "ARC-Authentication-Results: i=1"), "only 1"},
		{"newest seal removed", dropField(two, "ARC-Seal: i=2"), "incomplete"},
		{"a set duplicated", append(firstFields(two, 3), two...), "two ARC-Seal fields"},
		{"instance out of range", bytes.Replace(one, []byte("ARC-Authentication-Results: i=1;"), []byte("ARC-Authentication-Results: i=51;"), 1), "not 1 to 50"},
		{"key missing", one, "no key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := h.lookup
			if tt.name == "key missing" {
				empty := newHops(t)
				lookup = empty.lookup
			}
			v := arc.Verify(tt.msg, lookup)
			if v.Result != arc.Fail || !strings.Contains(v.Reason, tt.reason) {
				t.Fatalf("%+v, want fail with %q", v, tt.reason)
			}
		})
	}
}

// A chain an intermediary marked cv=fail fails, and no one seals it again
// (RFC 8617 section 5.1 step 1).
func TestFailedChainStaysFailed(t *testing.T) {
	h := newHops(t, "fwd.test", "list.test", "relay.test")
	one := h.pass(t, "fwd.test", []byte(original))
	tampered := bytes.Replace(one, []byte("is ready"), []byte("is overdue"), 1)
	v := arc.Verify(tampered, h.lookup)
	if v.Result != arc.Fail {
		t.Fatalf("%+v", v)
	}
	two, err := h.sealers["list.test"].Seal(tampered, "list.test; arc=fail", v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(two, []byte("cv=fail")) {
		t.Fatalf("no cv=fail:\n%s", two)
	}
	if v := arc.Verify(two, h.lookup); v.Result != arc.Fail || !strings.Contains(v.Reason, "cv=fail") {
		t.Fatalf("%+v", v)
	}
	if _, err := h.sealers["relay.test"].Seal(two, "relay.test; arc=fail", arc.Verify(two, h.lookup)); !errors.Is(err, arc.ErrNotSealable) {
		t.Fatalf("sealing a failed chain: %v", err)
	}
}

// A key the DNS cannot give for the moment leaves the chain's validity
// unknown: temperror, naming the sealer it claims, and not sealed over;
// a key that does not exist fails it.
func TestKeyLookupFails(t *testing.T) {
	h := newHops(t, "fwd.test", "list.test")
	two := h.pass(t, "list.test", h.pass(t, "fwd.test", []byte(original)))
	name := h.sealers["fwd.test"].Selector + "._domainkey.fwd.test"

	h.dns.Fail(name, dns.RcodeServerFailure)
	v := arc.Verify(two, h.lookup)
	if v.Result != arc.TempError || v.Sealer != "list.test" || !strings.Contains(v.Reason, name) {
		t.Fatalf("SERVFAIL for an older seal's key: %+v, want temperror naming the sealer", v)
	}
	if _, err := h.sealers["list.test"].Seal(two, "list.test; arc=temperror", v); err == nil || errors.Is(err, arc.ErrNotSealable) {
		t.Fatalf("sealing over an unverified chain: %v, want a temporary refusal", err)
	}

	h.dns.Fail(name, dns.RcodeNameError)
	if v := arc.Verify(two, h.lookup); v.Result != arc.Fail || v.Sealer != "" {
		t.Fatalf("no such key: %+v, want fail", v)
	}
}

// replaceIn replaces old by new in the field that starts with prefix.
func replaceIn(msg []byte, prefix, old, new string) []byte {
	i := bytes.Index(msg, []byte(prefix))
	if i < 0 {
		panic("no field " + prefix)
	}
	end := i + fieldLen(msg[i:])
	f := bytes.Replace(msg[i:end], []byte(old), []byte(new), 1)
	return append(append(append([]byte{}, msg[:i]...), f...), msg[end:]...)
}

// dropField removes the field that starts with prefix.
func dropField(msg []byte, prefix string) []byte {
	i := bytes.Index(msg, []byte(prefix))
	if i < 0 {
		panic("no field " + prefix)
	}
	return append(append([]byte{}, msg[:i]...), msg[i+fieldLen(msg[i:]):]...)
}

// firstFields returns the first n fields of msg.
func firstFields(msg []byte, n int) []byte {
	end := 0
	for range n {
		end += fieldLen(msg[end:])
	}
	return append([]byte{}, msg[:end]...)
}

// fieldLen returns the length of the field msg starts with, folded lines
// and CRLF included.
func fieldLen(msg []byte) int {
	end := 0
	for {
		end += bytes.Index(msg[end:], []byte("\r\n")) + 2
		if end >= len(msg) || (msg[end] != ' ' && msg[end] != '\t') {
			return end
		}
	}
}

// A chain may hold 50 sets and no more (RFC 8617 section 4.2.1), and a
// sender cannot make one message cost more than a few key lookups.
func TestLimits(t *testing.T) {
	h := newHops(t, "fwd.test")
	s := h.sealers["fwd.test"]
	rec := h.dns
	// The same key under more selectors than one message may use.
	kr := dkim.Open(t.TempDir())
	if _, err := kr.Generate("many.test", "arc"); err != nil {
		t.Fatal(err)
	}
	k, _, err := kr.NewestRSA("many.test")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(original)
	for i := range 17 {
		k.Selector = fmt.Sprintf("s%d", i)
		rec.Add(t, k.ZoneLine())
		many := &arc.Sealer{Domain: "many.test", Selector: k.Selector, Key: k.Signer}
		v := arc.Verify(msg, h.lookup)
		if msg, err = many.Seal(msg, "many.test; arc="+string(v.Result), v); err != nil {
			t.Fatal(err)
		}
	}
	if v := arc.Verify(msg, h.lookup); v.Result != arc.Fail || !strings.Contains(v.Reason, "more than 16 keys") {
		t.Fatalf("17 selectors: %+v", v)
	}

	msg = []byte(original)
	for range arc.MaxInstances {
		msg = h.pass(t, "fwd.test", msg)
	}
	v := arc.Verify(msg, h.lookup)
	if v.Result != arc.Pass || v.Instances != arc.MaxInstances {
		t.Fatalf("50 sets: %+v", v)
	}
	if _, err := s.Seal(msg, "fwd.test; arc=pass", v); !errors.Is(err, arc.ErrNotSealable) {
		t.Fatalf("sealing a 51st set: %v", err)
	}
}

// BenchmarkVerify verifies a chain of three sets with 2048-bit RSA keys,
// as a receiver does for a message that went through a forwarder, a list
// and a relay; the DNS server runs on loopback.
func BenchmarkVerify(b *testing.B) {
	h := newHops(b, "fwd.test", "list.test", "relay.test")
	msg := []byte(original)
	for _, d := range []string{"fwd.test", "list.test", "relay.test"} {
		msg = h.pass(b, d, msg)
	}
	for b.Loop() {
		if v := arc.Verify(msg, h.lookup); v.Result != arc.Pass {
			b.Fatal(v)
		}
	}
}

// BenchmarkSeal adds a first set with a 2048-bit RSA key.
func BenchmarkSeal(b *testing.B) {
	h := newHops(b, "fwd.test")
	s := h.sealers["fwd.test"]
	msg := []byte(original)
	for b.Loop() {
		if _, err := s.Seal(msg, "fwd.test; arc=none", arc.Verification{Result: arc.None}); err != nil {
			b.Fatal(err)
		}
	}
}
