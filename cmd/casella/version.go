package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the Makefile's -ldflags "-X main.version=... -X main.commit=...";
// a plain "go build" leaves them empty and the build information says
// what it knows (the module version; the commit, unless built with
// -buildvcs=false).
var (
	version string
	commit  string
)

func (c *cli) version(args []string) error {
	fs := c.flagsOnly("version", "", "Print the version and the commit this casella was built from.", "casella version", "casella --version")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, versionLine())
	return nil
}

// versionLine says which casella this is: "casella VERSION (commit
// REVISION[, modified], built with GO)".
func versionLine() string {
	v, rev, modified := version, commit, false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if rev == "" {
		rev = "unknown"
	}
	if modified {
		rev += ", modified"
	}
	return fmt.Sprintf("casella %s (commit %s, built with %s)", v, rev, runtime.Version())
}
