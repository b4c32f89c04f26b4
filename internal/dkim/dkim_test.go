package dkim_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	dkimkeys "casella/internal/dkim"
	"casella/internal/resolver"
	"casella/internal/resolver/dnstest"
	"casella/internal/spool"
)

const msg = "From: Alice <alice@example.test>\r\nTo: bob@remote.test\r\nSubject: hello\r\nDate: Wed, 02 Dec 2026 09:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\r\nHello Bob,\r\nsee you.\r\n"

// verify checks data's signatures against the records published in a real
// DNS server and returns the selectors whose signature verified.
func verify(t *testing.T, srv *dnstest.Server, data []byte) []string {
	t.Helper()
	r := &resolver.Resolver{Servers: []string{srv.Addr}}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			res, err := r.TXT(context.Background(), name)
			return res.Records, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ok []string
	for _, v := range vs {
		if v.Err == nil && v.Domain == "example.test" {
			ok = append(ok, v.Identifier)
		} else {
			t.Logf("signature of %s: %v", v.Domain, v.Err)
		}
	}
	return ok
}

func TestSignVerifies(t *testing.T) {
	kr := dkimkeys.Open(t.TempDir())
	keys, err := kr.Generate("Example.TEST", "s1")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Selector != "s1-rsa" || keys[1].Selector != "s1-ed25519" {
		t.Fatalf("Generate = %+v", keys)
	}
	srv := dnstest.Start(t)
	for _, k := range keys {
		srv.Add(t, k.ZoneLine())
	}
	signed, err := kr.Sign("example.test", []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(signed, []byte("DKIM-Signature:")); n != 2 {
		t.Fatalf("%d signatures, want one RSA and one Ed25519:\n%s", n, signed)
	}
	if !bytes.HasSuffix(signed, []byte(msg)) {
		t.Fatal("signing changed the message")
	}
	if ok := verify(t, srv, signed); len(ok) != 2 {
		t.Fatalf("%d signatures verified, want 2", len(ok))
	}

	// Changing the body breaks both.
	tampered := bytes.Replace(signed, []byte("see you"), []byte("pay now"), 1)
	if ok := verify(t, srv, tampered); len(ok) != 0 {
		t.Fatalf("a tampered message verified: %v", ok)
	}
	// So does a second From added on the way (oversigning).
	added := bytes.Replace(signed, []byte("From: Alice"), []byte("From: Mallory <m@evil.test>\r\nFrom: Alice"), 1)
	if ok := verify(t, srv, added); len(ok) != 0 {
		t.Fatalf("a message with an added From verified: %v", ok)
	}
}

// After a rotation the newest key of each algorithm signs; the old ones
// stay listed until their files are removed.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	kr := dkimkeys.Open(dir)
	if _, err := kr.Generate("example.test", "old"); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "example.test")
	for _, f := range []string{"old-rsa.pem", "old-ed25519.pem"} {
		past := mustStat(t, filepath.Join(old, f)).ModTime().Add(-48 * 3600e9)
		os.Chtimes(filepath.Join(old, f), past, past)
	}
	if _, err := kr.Generate("example.test", "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Generate("example.test", "new"); err == nil {
		t.Fatal("a selector was reused")
	}
	keys, err := kr.Keys("")
	if err != nil || len(keys) != 4 || !strings.HasPrefix(keys[0].Selector, "new-") {
		t.Fatalf("Keys = %+v, %v", keys, err)
	}
	signed, err := kr.Sign("example.test", []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(signed, []byte("s=new-rsa")) || !bytes.Contains(signed, []byte("s=new-ed25519")) || bytes.Contains(signed, []byte("s=old-")) {
		t.Fatalf("signed with the wrong keys:\n%s", signed[:bytes.Index(signed, []byte("From:"))])
	}
}

// The queue signs mail whose author's domain has keys, and only that,
// keyed or not.
func TestSigningQueue(t *testing.T) {
	ctx := context.Background()
	kr := dkimkeys.Open(t.TempDir())
	if _, err := kr.Generate("example.test", "s1"); err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(t.TempDir(), spool.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	sq := dkimkeys.SigningQueue{Next: sp, Keys: kr, Log: slog.New(slog.DiscardHandler)}
	env := spool.Envelope{From: "alice@example.test", Recipients: []spool.Recipient{{Address: "bob@example.net"}}, Received: time.Now()}
	var ids []string
	for i, m := range []string{msg, strings.Replace(msg, "alice@example.test", "alice@other.test", 1), "From: <x@../../etc>\r\n\r\nbody\r\n", "no header at all", msg} {
		var id string
		var err error
		if i == 4 {
			id, _, err = sq.EnqueueKeyed(ctx, "key", env, []byte(m))
		} else {
			id, err = sq.Enqueue(ctx, env, []byte(m))
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i, want := range []int{2, 0, 0, 0, 2} {
		_, got, err := sp.Get(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(got, []byte("DKIM-Signature:")); n != want {
			t.Errorf("message %d: %d signatures, want %d", i, n, want)
		}
	}
}

func mustStat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func TestNewestRSA(t *testing.T) {
	kr := dkimkeys.Open(t.TempDir())
	if _, ok, err := kr.NewestRSA("example.test"); ok || err != nil {
		t.Fatalf("no keys: ok %v, err %v", ok, err)
	}
	keys, err := kr.Generate("example.test", "k1")
	if err != nil {
		t.Fatal(err)
	}
	k, ok, err := kr.NewestRSA("example.test")
	if err != nil || !ok || k.Selector != "k1-rsa" || k.Algorithm != dkimkeys.RSA || k.Signer == nil {
		t.Fatalf("NewestRSA = %+v, %v, %v; generated %v", k, ok, err, keys)
	}
}
