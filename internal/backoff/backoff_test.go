package backoff

import (
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	const least, most = time.Second, time.Minute
	for attempts := 1; attempts < 20; attempts++ {
		want := least
		for i := 1; i < attempts && want < most; i++ {
			want *= 2
		}
		want = min(want, most)
		for range 50 {
			d := Delay(attempts, least, most)
			if d > want || d < max(want/2, least) {
				t.Fatalf("Delay(%d) = %v, want between %v and %v", attempts, d, max(want/2, least), want)
			}
		}
	}
}
