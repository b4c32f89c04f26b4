package directory

import (
	"strings"
	"testing"
)

func TestPassword(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q lacks the expected PHC prefix", h)
	}
	if !CheckPassword(h, "correct horse") {
		t.Error("right password rejected")
	}
	if CheckPassword(h, "correct horsE") {
		t.Error("wrong password accepted")
	}
	h2, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if h == h2 {
		t.Error("two hashes of one password are equal: salt not random")
	}
	if _, err := HashPassword(""); err == nil {
		t.Error("empty password hashed")
	}
	if _, err := HashPassword(strings.Repeat("x", MaxPasswordSize+1)); err == nil {
		t.Error("overlong password hashed")
	}
	if CheckPassword(h, strings.Repeat("x", MaxPasswordSize+1)) {
		t.Error("overlong password accepted")
	}
	if _, err := parseHash(DummyHash); err != nil {
		t.Errorf("DummyHash does not parse: %v", err)
	}
}

func TestParseHashRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=19456,t=2,p=1$ZtpTBRhur7ovYTNtKDkUag$4HmymyX3t0YgkLqx9LQCtPjd1Yrfp3PwRDyrvX4kSaw",
		"$argon2id$v=16$m=19456,t=2,p=1$ZtpTBRhur7ovYTNtKDkUag$4HmymyX3t0YgkLqx9LQCtPjd1Yrfp3PwRDyrvX4kSaw",
		"$argon2id$v=19$m=99999999,t=2,p=1$ZtpTBRhur7ovYTNtKDkUag$4HmymyX3t0YgkLqx9LQCtPjd1Yrfp3PwRDyrvX4kSaw",
		"$argon2id$v=19$m=19456,t=0,p=1$ZtpTBRhur7ovYTNtKDkUag$4HmymyX3t0YgkLqx9LQCtPjd1Yrfp3PwRDyrvX4kSaw",
		"$argon2id$v=19$m=19456,t=2,p=0$ZtpTBRhur7ovYTNtKDkUag$4HmymyX3t0YgkLqx9LQCtPjd1Yrfp3PwRDyrvX4kSaw",
		"$argon2id$v=19$m=8,t=2,p=4$ZtpTBRhur7ovYTNtKDkUag$4HmymyX3t0YgkLqx9LQCtPjd1Yrfp3PwRDyrvX4kSaw",
		"$argon2id$v=19$t=2,m=19456,p=1$ZtpTBRhur7ovYTNtKDkUag$4HmymyX3t0YgkLqx9LQCtPjd1Yrfp3PwRDyrvX4kSaw",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$4HmymyX3t0YgkLqx9LQCtPjd1Yrfp3PwRDyrvX4kSaw",
		"$argon2id$v=19$m=19456,t=2,p=1$ZtpTBRhur7ovYTNtKDkUag$4Hmy",
		"$argon2id$v=19$m=19456,t=2,p=1$ZtpTBRhur7ovYTNtKDkUag$4HmymyX3t0YgkLqx9LQCtPjd1Yrfp3PwRDyrvX4kSaw$",
	} {
		if _, err := parseHash(s); err == nil {
			t.Errorf("parseHash(%q) succeeded", s)
		}
		if CheckPassword(s, "x") {
			t.Errorf("CheckPassword(%q) accepted", s)
		}
	}
}

func BenchmarkCheckPassword(b *testing.B) {
	h, err := HashPassword("correct horse")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		CheckPassword(h, "correct horse")
	}
}
