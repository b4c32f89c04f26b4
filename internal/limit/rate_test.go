package limit

import "testing"

func TestRate(t *testing.T) {
	r := NewRate(3, 3600e9)
	for i := range 3 {
		if !r.Allow("a") {
			t.Fatalf("event %d of 3 refused", i+1)
		}
	}
	if r.Allow("a") {
		t.Fatal("a fourth event in the hour allowed")
	}
	if !r.Allow("b") {
		t.Fatal("another key refused")
	}
	var off *Rate = NewRate(0, 1)
	for range 100 {
		if !off.Allow("a") {
			t.Fatal("a limit of 0 refused")
		}
	}
}
