package spool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// replier is a ReplyHandler: the first recipient is taken with a reply,
// the second fails once and is then taken, the third is refused for
// good.
type replier struct {
	mu    sync.Mutex
	tries map[int]int
}

func (r *replier) Handle(ctx context.Context, e *Entry, data []byte, rcpt int) error {
	_, err := r.HandleReply(ctx, e, data, rcpt)
	return err
}

func (r *replier) HandleReply(ctx context.Context, e *Entry, data []byte, rcpt int) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries[rcpt]++
	switch {
	case rcpt == 1 && r.tries[rcpt] == 1:
		return "", errors.New("451 4.3.0 try later")
	case rcpt == 2:
		return "", fmt.Errorf("550 5.1.1 no such user: %w", ErrPermanent)
	}
	return fmt.Sprintf("250 2.0.0 taken %d", rcpt), nil
}

type statusCall struct {
	rcpt  int
	reply string
	err   string
	sub   SubmissionRef
}

// OnStatus hears every recorded outcome of every recipient, with the
// reply of a ReplyHandler, and the entry's submission, which survived
// the trip through the entry file.
func TestOnStatus(t *testing.T) {
	s := openSpool(t, t.TempDir(), Options{RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond})
	var mu sync.Mutex
	var calls []statusCall
	s.opts.OnStatus = func(e *Entry, rcpt int, reply string, err error) {
		mu.Lock()
		defer mu.Unlock()
		c := statusCall{rcpt: rcpt, reply: reply, sub: *e.Envelope.Submission}
		if err != nil {
			c.err = err.Error()
		}
		calls = append(calls, c)
	}
	env := envFor(0, 0, 0)
	ref := SubmissionRef{Account: 7, ID: "Sabc"}
	env.Submission = &ref
	// Enqueued before the loop runs, the entry is read back from disk.
	enqueue(t, s, env, "x")
	runLoop(t, s, &replier{tries: map[int]int{}})
	waitFor(t, "entry finished", settled(s))
	mu.Lock()
	defer mu.Unlock()
	slices.SortStableFunc(calls, func(a, b statusCall) int { return a.rcpt - b.rcpt })
	want := []statusCall{
		{0, "250 2.0.0 taken 0", "", ref},
		{1, "", "451 4.3.0 try later", ref},
		{1, "250 2.0.0 taken 1", "", ref},
		{2, "", "550 5.1.1 no such user: permanent delivery failure", ref},
	}
	if !slices.Equal(calls, want) {
		t.Fatalf("OnStatus calls\n%+v\nwant\n%+v", calls, want)
	}
}
