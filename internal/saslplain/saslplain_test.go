package saslplain

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestCredentials(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		resp, user, pass string
		ok               bool
	}{
		{enc("\x00alice\x00secret"), "alice", "secret", true},
		{enc("alice\x00alice\x00secret"), "alice", "secret", true},
		{enc("bob\x00alice\x00secret"), "", "", false},
		{enc("alice\x00secret"), "", "", false},
	} {
		user, pass, err := Credentials(tc.resp)
		if (err == nil) != tc.ok || user != tc.user || pass != tc.pass {
			t.Errorf("Credentials(%q) = %q, %q, %v", tc.resp, user, pass, err)
		}
	}
	if _, _, err := Credentials("not base64!"); !errors.Is(err, ErrBase64) {
		t.Errorf("Credentials of bad base64: err = %v, want ErrBase64", err)
	}
}

func FuzzCredentials(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString([]byte("\x00alice\x00secret")))
	f.Add("*")
	f.Fuzz(func(t *testing.T, resp string) {
		user, pass, err := Credentials(resp)
		if err == nil && (strings.ContainsRune(user, 0) || strings.ContainsRune(pass, 0)) {
			t.Errorf("Credentials(%q) = %q, %q: a NUL inside", resp, user, pass)
		}
	})
}
