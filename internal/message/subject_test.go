package message

import "testing"

func TestBaseSubject(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Hello", "Hello"},
		{"Re: Hello", "Hello"},
		{"RE: re: Fwd: FW: hello", "hello"},
		{"Re[2]: hello", "hello"},
		{"[list] Re: hello", "hello"},
		{"Re: [list] hello", "hello"},
		{"[list]", "[list]"},
		{"hello (fwd)", "hello"},
		{"hello (Fwd) (fwd)  ", "hello"},
		{"[Fwd: Re: hello]", "hello"},
		{"  lots \t of   space ", "lots of space"},
		{"Review: plans", "Review: plans"},
		{"Fwd: [Fwd: hello (fwd)]", "hello"},
	} {
		if got := BaseSubject(tc.in); got != tc.want {
			t.Errorf("BaseSubject(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestIsReplyOrForward(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"Hello", false},
		{"[list] hello", false},
		{"Review: plans", false},
		{"Re: Hello", true},
		{"[list] Re[2]: hello", true},
		{"hello (fwd)", true},
		{"[Fwd: hello]", true},
	} {
		if got := IsReplyOrForward(tc.in); got != tc.want {
			t.Errorf("IsReplyOrForward(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
