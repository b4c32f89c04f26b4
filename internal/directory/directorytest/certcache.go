package directorytest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"golang.org/x/crypto/acme/autocert"

	"casella/internal/directory"
)

// testCertCache checks directories that keep the ACME cache
// (directory.CertCaches); it is skipped for those that do not.
func testCertCache(t *testing.T, ctx context.Context, d directory.Directory) {
	cc, ok := d.(directory.CertCaches)
	if !ok {
		t.Skip("the directory keeps no ACME cache")
	}
	c := cc.CertCache()
	if _, err := c.Get(ctx, "account.key"); !errors.Is(err, autocert.ErrCacheMiss) {
		t.Fatalf("get of a missing key: %v, want autocert.ErrCacheMiss", err)
	}
	// Any bytes come back as they went in, and a second put replaces
	// the first.
	binary := []byte{0, 0xff, '\n', 0x80, 'k', 0}
	must(t, c.Put(ctx, "cert/mx.example.com", []byte("first")))
	must(t, c.Put(ctx, "cert/mx.example.com", binary))
	must(t, c.Put(ctx, "challenge/http-01/tok", []byte("answer")))
	got, err := c.Get(ctx, "cert/mx.example.com")
	must(t, err)
	if !bytes.Equal(got, binary) {
		t.Fatalf("get %q, want %q", got, binary)
	}
	must(t, c.Delete(ctx, "challenge/http-01/tok"))
	if _, err := c.Get(ctx, "challenge/http-01/tok"); !errors.Is(err, autocert.ErrCacheMiss) {
		t.Fatalf("get after delete: %v, want autocert.ErrCacheMiss", err)
	}
	must(t, c.Delete(ctx, "challenge/http-01/tok"))
	if got, err := c.Get(ctx, "cert/mx.example.com"); err != nil || !bytes.Equal(got, binary) {
		t.Fatalf("a delete of another key took this one: %q, %v", got, err)
	}
}
