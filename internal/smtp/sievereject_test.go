package smtp

import (
	"strings"
	"testing"
)

// TestRejectText turns a script's reason into one line of printable
// US-ASCII, or the generic text.
func TestRejectText(t *testing.T) {
	const generic = "Refused by the recipient's mail filter"
	long := strings.Repeat("x", 300)
	for _, c := range []struct{ in, want string }{
		{"No offers, thanks.", "No offers, thanks."},
		{"  two\r\nlines\tand  spaces ", "two lines and spaces"},
		{"", generic},
		{" \r\n", generic},
		{"Keine Angebote, danke schön", generic},
		{"bell\x07", generic},
		{long, long[:maxRejectText-3] + "..."},
	} {
		if got := rejectText(c.in); got != c.want {
			t.Errorf("rejectText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
