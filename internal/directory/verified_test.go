package directory

import (
	"testing"
	"time"
)

func TestVerified(t *testing.T) {
	hash, err := HashPassword("right horse")
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerified(time.Minute, 2)
	now := time.Now()
	v.now = func() time.Time { return now }
	if v.Check(hash, "wrong horse") || len(v.seen) != 0 {
		t.Fatalf("a wrong password passed or was remembered")
	}
	if !v.Check(hash, "right horse") || len(v.seen) != 1 {
		t.Fatalf("the right password failed or was not remembered")
	}
	// Only the exact pair of stored hash and password hits the cache.
	if !v.Check(hash, "right horse") {
		t.Fatalf("a remembered login failed")
	}
	if v.Check(hash, "right horse ") || v.Check(hash+"x", "right horse") {
		t.Fatalf("a different password or stored hash hit the cache")
	}
	// A new password is a new stored hash: the old one no longer counts.
	newHash, _ := HashPassword("new horse")
	if v.Check(newHash, "right horse") {
		t.Fatalf("the old password passed against the new hash")
	}
	// Entries expire.
	now = now.Add(2 * time.Minute)
	for d, exp := range v.seen {
		if now.Before(exp) {
			t.Fatalf("entry %x not expired", d)
		}
	}
	if !v.Check(hash, "right horse") {
		t.Fatalf("an expired entry is not checked again")
	}
	// The cache stays within its bound.
	other, _ := HashPassword("other")
	third, _ := HashPassword("third")
	v.Check(other, "other")
	v.Check(third, "third")
	if len(v.seen) > 2 {
		t.Fatalf("%d entries, bound 2", len(v.seen))
	}
	if v.Check(hash, string(make([]byte, MaxPasswordSize+1))) {
		t.Fatalf("an overlong password passed")
	}
}

func BenchmarkVerified(b *testing.B) {
	hash, _ := HashPassword("right horse")
	b.Run("argon2id", func(b *testing.B) {
		for b.Loop() {
			CheckPassword(hash, "right horse")
		}
	})
	b.Run("verified", func(b *testing.B) {
		v := NewVerified(time.Hour, 10)
		for b.Loop() {
			v.Check(hash, "right horse")
		}
	})
}
