package smtp

import (
	"errors"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"casella/internal/limit"
)

// authOnce dials submission, starts TLS and tries one AUTH PLAIN,
// returning the reply's code (235 for success).
func authOnce(addr, user, pw string) (int, error) {
	c, err := gosmtp.DialStartTLS(addr, clientTLS())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	err = c.Auth(saslPlain(user, pw))
	if err == nil {
		return 235, nil
	}
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return se.Code, nil
	}
	return 0, err
}

// The issue: a good password arriving while the throttle's wait ran got
// 454, because the lookup's timeout ran during the wait.
func TestSubmissionGoodPasswordAfterWait(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.AuthLimit = limit.NewAuth(limit.AuthOptions{Logger: discardLogger(), Free: 1, Base: 100 * time.Millisecond, Max: 100 * time.Millisecond})
	})
	for range 2 {
		if code, err := authOnce(e.submission, "alice@example.test", "wrong"); err != nil || code != 535 {
			t.Fatalf("wrong password: %d, %v; want 535", code, err)
		}
	}
	if code, err := authOnce(e.submission, "alice@example.test", "alice-pw"); err != nil || code != 235 {
		t.Fatalf("good password after failures: %d, %v; want 235", code, err)
	}
}

// The bypasses, over the wire: 45 parallel connections, and a
// guesser logging in to his own account between guesses. Waits past the
// free failures are an hour, so every attempt is either checked at once
// (535) or refused unchecked (454), and no test waits.
func TestSubmissionGuessingGainsNothing(t *testing.T) {
	newEnv := func() *testEnv {
		return newTestEnv(t, func(c *Config) {
			c.AuthLimit = limit.NewAuth(limit.AuthOptions{Logger: discardLogger(), Free: 3, Base: time.Hour, Max: time.Hour, MaxWait: time.Second})
		})
	}
	t.Run("parallel", func(t *testing.T) {
		e := newEnv()
		codes := make(chan int, 45)
		var wg sync.WaitGroup
		for range 45 {
			wg.Go(func() {
				code, err := authOnce(e.submission, "alice@example.test", "guess")
				if err != nil {
					t.Error(err)
				}
				codes <- code
			})
		}
		wg.Wait()
		close(codes)
		checked := 0
		for c := range codes {
			switch c {
			case 535:
				checked++
			case 454:
			default:
				t.Errorf("reply %d to a guess", c)
			}
		}
		if checked != 3 {
			t.Fatalf("45 parallel connections had %d guesses checked, want 3 as one connection", checked)
		}
	})
	t.Run("alternating", func(t *testing.T) {
		e := newEnv()
		checked := 0
		for range 10 {
			if code, err := authOnce(e.submission, "bob@example.test", "bob-pw"); err != nil || code != 235 {
				t.Fatalf("guesser's own login: %d, %v; want 235", code, err)
			}
			for range 3 {
				code, err := authOnce(e.submission, "alice@example.test", "guess")
				if err != nil {
					t.Fatal(err)
				}
				if code == 535 {
					checked++
				}
			}
		}
		if checked != 3 {
			t.Fatalf("%d guesses checked between the guesser's own logins, want 3", checked)
		}
	})
}
