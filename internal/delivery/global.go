package delivery

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"casella/internal/sieve"
)

// Global is the administrator's Sieve script, run before each account's
// own (for example to file spam verdicts into Junk), and the directory of
// the scripts include :global names (RFC 6609 section 3.2). As in
// Pigeonhole's sieve_before, a stop in it ends the whole run and a return
// passes on to the account's script; the implicit keep and global
// variables are shared.
type Global struct {
	script  *sieve.Script
	dir     string
	wrapper *sieve.Script
}

// Names the wrapper includes; the Include of filter resolves them to the
// global and the active script.
const (
	globalName = "casella-global"
	activeName = "casella-active"
)

// LoadGlobal compiles the administrator's script at path. The scripts
// include :global names are read from the same directory, as
// "<name>.sieve".
func LoadGlobal(path string) (*Global, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("global sieve script: %w", err)
	}
	s, err := sieve.Compile(string(src))
	if err != nil {
		return nil, fmt.Errorf("global sieve script %s: %w", path, err)
	}
	w, err := sieve.Compile(`require "include"; include :global "` + globalName + `"; include :personal :optional "` + activeName + `";`)
	if err != nil {
		return nil, fmt.Errorf("global sieve script: %w", err)
	}
	return &Global{script: s, dir: filepath.Dir(path), wrapper: w}, nil
}

// globalScriptName is what include :global may name: no path, no
// leading dot.
var globalScriptName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// include returns the global script name, read and compiled at each
// include: global includes are rare and an administrator's edit then
// applies at once.
func (g *Global) include(name string) (*sieve.Script, error) {
	if g == nil || !globalScriptName.MatchString(name) {
		return nil, sieve.ErrNoScript
	}
	if name == globalName {
		return g.script, nil
	}
	src, err := os.ReadFile(filepath.Join(g.dir, name+".sieve"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, sieve.ErrNoScript
	}
	if err != nil {
		return nil, fmt.Errorf("global sieve script %q: %w", name, err)
	}
	return sieve.Compile(string(src))
}

// run runs the active script, after the global one when there is one.
func (f *Filters) run(active *sieve.Script, in *sieve.Input) *sieve.Result {
	if f.Global == nil {
		return sieve.Run(active, in)
	}
	personal := in.Include
	in.Include = func(global bool, name string) (*sieve.Script, error) {
		switch {
		case !global && name == activeName && active == nil:
			return nil, sieve.ErrNoScript
		case !global && name == activeName:
			return active, nil
		}
		return personal(global, name)
	}
	return sieve.Run(f.Global.wrapper, in)
}
