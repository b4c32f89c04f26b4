package pop3

import (
	"errors"
	"strings"
)

// command is a parsed command line: the upper-cased keyword and the rest
// of the line after one space (RFC 1939 section 3).
type command struct {
	name string
	arg  string
}

// parseCommand parses one line read from the client, with its line break.
// The argument is kept whole: PASS takes the rest of the line as the
// password, which may contain spaces.
func parseCommand(line []byte) (command, error) {
	s := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return command{}, errors.New("control character in command line")
		}
	}
	name, arg, _ := strings.Cut(s, " ")
	if name == "" {
		return command{}, errors.New("empty command")
	}
	// Keywords are three or four printable characters (RFC 1939 section 3).
	if len(name) < 3 || len(name) > 4 {
		return command{}, errors.New("unknown command")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return command{}, errors.New("unknown command")
		}
	}
	return command{name: strings.ToUpper(name), arg: arg}, nil
}

// args splits an argument string at spaces.
func (c command) args() []string {
	return strings.Fields(c.arg)
}
