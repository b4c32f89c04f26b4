package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"casella/internal/cell"
	"casella/internal/config"
	"casella/internal/directory"
	"casella/internal/server"
	"casella/internal/store"
)

// globals are the flags every command takes.
type globals struct {
	configFile string
	dataDir    string
}

// newFlags returns the flag set of a command with the global flags, and a
// usage text made of the arguments synopsis, a description and examples.
func (c *cli) newFlags(name, synopsis, description string, examples ...string) (*flag.FlagSet, *globals) {
	fs := c.flagsOnly(name, synopsis, description, examples...)
	g := &globals{}
	fs.StringVar(&g.configFile, "config", "", "configuration `file` (TOML); default: built-in defaults")
	fs.StringVar(&g.dataDir, "data", "", "data `directory`; default: $"+config.DataDirEnv+", the file's data_dir, or "+config.DefaultDataDir)
	return fs, g
}

// flagsOnly returns the flag set of a command that does not open a data
// directory (a client of a server, like "casella bench"), with the usage
// text of newFlags.
func (c *cli) flagsOnly(name, synopsis, description string, examples ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: casella %s [flags] %s\n\n%s\n\nFlags:\n", name, synopsis, description)
		fs.PrintDefaults()
		if len(examples) > 0 {
			fmt.Fprintf(w, "\nExamples:\n")
			for _, e := range examples {
				fmt.Fprintf(w, "  %s\n", e)
			}
		}
	}
	return fs
}

// parse parses args, allowing flags after the positional arguments
// ("casella domain add example.com --data /srv"), and checks the number of
// positional arguments is within [least, most] (most < 0: no limit). An
// explicit help request prints the usage to standard output.
func (c *cli) parse(fs *flag.FlagSet, args []string, least, most int) ([]string, error) {
	var pos []string
	// The flag package would print the whole usage with every error; the
	// one-line error below says where to find it instead.
	fs.SetOutput(io.Discard)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(c.stdout)
				fs.Usage()
				return nil, err
			}
			return nil, usageError{fmt.Sprintf("%s: %v; run \"casella %s --help\"", fs.Name(), err, fs.Name())}
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if len(rest) == 0 {
			break
		}
		if consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) < least || (most >= 0 && len(pos) > most) {
		return nil, usageError{fmt.Sprintf("%s: wrong number of arguments; run \"casella %s --help\"", fs.Name(), fs.Name())}
	}
	return pos, nil
}

// loadConfig loads the configuration named by the global flags and
// returns it with the data directory resolved (config.DataDir).
func (g *globals) loadConfig() (config.Config, error) {
	cfg, err := config.Load(g.configFile)
	if err != nil {
		return config.Config{}, fmt.Errorf("%w; fix the file or point --config elsewhere", err)
	}
	cfg.DataDir = config.DataDir(g.dataDir, cfg)
	return cfg, nil
}

// env is an opened data directory: the configuration, the directory and
// the mailbox store.
type env struct {
	Config    config.Config
	Directory directory.Directory
	// Store routes each account to the store of its cell; in embedded
	// mode, the data directory's.
	Store *cell.Router
}

// openData loads the configuration and opens the directory and the
// mailbox stores it names (in embedded mode, the data directory's),
// creating the data directory if needed. A cell that cannot be reached
// is reported on standard error; its accounts' commands fail.
func (g *globals) openData() (*env, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create data directory: %w; choose another with --data or %s, or fix its permissions", err, config.DataDirEnv)
	}
	ctx := context.Background()
	dir, err := server.OpenDirectory(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w; check that data directory %s is writable and [directory] store is right", err, cfg.DataDir)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := server.OpenCells(ctx, cfg, dir, log)
	if err != nil {
		dir.Close()
		return nil, err
	}
	if !cfg.Cluster() {
		if err := st.Cell("").Err(); err != nil {
			st.Close()
			dir.Close()
			return nil, fmt.Errorf("%w; check that data directory %s is writable", err, cfg.DataDir)
		}
	}
	return &env{Config: cfg, Directory: dir, Store: st}, nil
}

// Close closes the directory and the store.
func (e *env) Close() error {
	return errors.Join(e.Store.Close(), e.Directory.Close())
}

// hints say what to do about the directory's errors.
var hints = []struct {
	err  error
	hint string
}{
	{directory.ErrExists, "choose another address, or remove the existing one first"},
	{directory.ErrNotLocal, "add the domain first with \"casella domain add\""},
	{directory.ErrInUse, "remove its accounts and aliases first (\"casella account list DOMAIN\", \"casella alias list DOMAIN\")"},
	{directory.ErrInvalid, "check the spelling"},
	{directory.ErrNotFound, "check the spelling; \"casella account list\" and \"casella domain list\" show what exists"},
	{store.ErrUnavailable, "check the data directory's disk and permissions, then try again"},
}

// advise appends to err what to do about it, unless it says so already.
func advise(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "; ") {
		return msg
	}
	for _, h := range hints {
		if errors.Is(err, h.err) {
			return msg + "; " + h.hint
		}
	}
	return msg
}

// parseOpen parses a command's arguments like parse, then opens the data
// directory; the caller closes the env.
func (c *cli) parseOpen(fs *flag.FlagSet, g *globals, args []string, least, most int) ([]string, *env, error) {
	pos, err := c.parse(fs, args, least, most)
	if err != nil {
		return nil, nil, err
	}
	e, err := g.openData()
	if err != nil {
		return nil, nil, err
	}
	return pos, e, nil
}

// optionalArg returns the single optional positional argument, or "".
func optionalArg(pos []string) string {
	if len(pos) == 0 {
		return ""
	}
	return pos[0]
}
