package pop3

import (
	"strings"
	"testing"
)

// FuzzParseCommand checks that the command-line parser never panics and
// that what it accepts is a well-formed keyword with a single-line
// argument.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"USER alice@example.org\r\n",
		"PASS secret with spaces\r\n",
		"retr 1\n",
		"TOP 1 10\r\n",
		"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
		"\r\n",
		"NOOP\x00\r\n",
		"CAPA",
		"ÜSER x\r\n",
		" STAT\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		cmd, err := parseCommand(line)
		if err != nil {
			if cmd != (command{}) {
				t.Fatalf("error %v with command %+v", err, cmd)
			}
			return
		}
		if len(cmd.name) < 3 || len(cmd.name) > 4 || strings.ToUpper(cmd.name) != cmd.name {
			t.Fatalf("keyword %q", cmd.name)
		}
		if strings.ContainsAny(cmd.arg, "\r\n\x00") {
			t.Fatalf("argument %q", cmd.arg)
		}
		if _, ok := commands[cmd.name]; ok && !strings.HasPrefix(strings.ToUpper(string(line)), cmd.name) {
			t.Fatalf("line %q parsed as %q", line, cmd.name)
		}
	})
}
