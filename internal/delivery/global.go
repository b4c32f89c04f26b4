package delivery

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"casella/internal/directory"
	"casella/internal/sieve"
)

// Global is the administrator's Sieve script, run before each account's
// own (for example to file spam verdicts into Junk), and the directory of
// the scripts include :global names (RFC 6609 section 3.2). As in
// Pigeonhole's sieve_before, a stop in it ends the whole run and a return
// passes on to the account's script; the implicit keep and global
// variables are shared.
type Global struct {
	script *sieve.Script
	dir    string
}

// wrapper runs the global script, the script of the JMAP
// VacationResponse and the active script, in that order, as includes:
// a stop in one ends the run, the implicit keep and global variables are
// shared (RFC 6609). Filters.run resolves its names.
var wrapper = func() *sieve.Script {
	s, err := sieve.Compile(`require "include";
include :global :optional "` + globalName + `";
include :personal :optional "` + directory.VacationScript + `";
include :personal :optional "` + activeName + `";`)
	if err != nil {
		panic(err)
	}
	return s
}()

// Names of the global and of the active script in the wrapper.
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
	return &Global{script: s, dir: filepath.Dir(path)}, nil
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
	src, err := os.ReadFile(filepath.Join(g.dir, name+".sieve"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, sieve.ErrNoScript
	}
	if err != nil {
		return nil, fmt.Errorf("global sieve script %q: %w", name, err)
	}
	return sieve.Compile(string(src))
}

// vacationScript returns the VacationResponse's script when it runs
// beside the active one, else nil.
func (f *Filters) vacationScript(c cachedScript) *sieve.Script {
	if c.name == directory.VacationScript || c.script != nil && c.script.Requires("vacation") {
		return nil
	}
	return c.vacation
}

// run runs the account's scripts: the active one alone, or within the
// wrapper when there is a global script or a VacationResponse to run too.
// The VacationResponse's script stays out when it is the active script
// or when the active script answers with a vacation of its own, which
// wins (docs/sieve.md).
func (f *Filters) run(c cachedScript, in *sieve.Input) *sieve.Result {
	vac := f.vacationScript(c)
	if f.Global == nil && vac == nil {
		return sieve.Run(c.script, in)
	}
	personal := in.Include
	in.Include = func(global bool, name string) (*sieve.Script, error) {
		var s *sieve.Script
		switch {
		case global && name == globalName && f.Global != nil:
			s = f.Global.script
		case !global && name == activeName:
			s = c.script
		case !global && name == directory.VacationScript:
			s = vac
		default:
			return personal(global, name)
		}
		if s == nil {
			return nil, sieve.ErrNoScript
		}
		return s, nil
	}
	return sieve.Run(wrapper, in)
}

// blame tells which script of a run failed with err. The error does not
// name it, so when the wrapper ran, the global script and then the
// VacationResponse's are run again alone (runs are pure, and failures
// rare): the first that fails alone is the one. A failure of the global
// script has no script of the account's to name.
func (f *Filters) blame(c cachedScript, in *sieve.Input, err error) *failure {
	if f.Global != nil && sieve.Run(f.Global.script, in).Err != nil {
		return &failure{err: err}
	}
	if vac := f.vacationScript(c); vac != nil && sieve.Run(vac, in).Err != nil {
		return &failure{script: directory.VacationScript, sum: c.vacationSum, err: err}
	}
	return &failure{script: c.name, sum: c.sum, err: err}
}
