package config

import "testing"

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "50MiB", "1.5 GB", "-3KiB", "1e300TiB", "B", "9223372036854775807", "0x10KB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err != nil || v < 0 {
			return
		}
		back, err := ParseSize(v.String())
		if err != nil || back != v {
			t.Fatalf("ParseSize(%q) = %d, whose String %q parses to %d, %v", s, v, v.String(), back, err)
		}
	})
}

// FuzzParse checks that no configuration file makes Parse or Validate
// panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "hostname = \"x\"", "[smtp]\nmax_message_size = \"50MiB\"\n", "[smtp]\nlissen = 1",
		"[spool]\ndrain_rate = nan\n", "[imap]\nidle_timeout = \"-5s\"\n", "[[smtp]]", "a.b.c = 1",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err == nil {
			_ = c.Validate()
		}
	})
}
