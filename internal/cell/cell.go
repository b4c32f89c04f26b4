// Package cell routes every account to its cell. A cell is one mailbox
// store and one blob store holding a share of the accounts (DESIGN.md,
// "Cluster and cells"); the directory says which cell holds each
// account. The Router opens the cells a node is configured with, keeps
// retrying those it cannot reach, and is itself a store.Store that sends
// each call to the account's cell, so that protocol servers and the
// delivery loop need not know there are cells at all. Blob keys name no
// account, so blob stores are found by account instead (BlobsOf,
// Deliverer).
//
// Implementation notes:
//   - A cell that cannot be reached at start does not stop the node: the
//     node serves the other cells and opens the missing one in the
//     background. Until then its accounts' calls fail with an error
//     wrapping store.ErrUnavailable, which every caller treats as
//     temporary (NO [UNAVAILABLE], -ERR [SYS/TEMP], mail kept in the
//     spool), never as permanent.
//   - An account whose cell the configuration does not list, or that has
//     none, is an operator's error, and also temporary: its mail waits in
//     the spool, never bounced, and the error names the account and the
//     cell.
//   - The account-to-cell map is cached per node for CacheTTL and kept
//     when the directory cannot be read, so that a directory outage does
//     not stop mail for accounts already seen (DESIGN.md: a directory
//     outage freezes administration, not mail). Moving an account between
//     cells must allow for that delay.
//   - Embedded mode is one cell named "": every account is in it, and the
//     directory is never asked.
package cell

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"casella/internal/blob"
	"casella/internal/directory"
	"casella/internal/store"
)

// Backends are a cell's opened stores.
type Backends struct {
	Store store.Store
	Blobs blob.Store
	// Close, if set, releases what Store.Close does not, like the blob
	// backends' connections.
	Close func() error
}

// Spec describes a cell to open.
type Spec struct {
	Name string
	// Open connects the cell's stores. While it fails the cell is down,
	// and the router calls it again in the background.
	Open func(ctx context.Context) (*Backends, error)
}

// Directory tells where an account lives; directory.Directory
// implements it.
type Directory interface {
	AccountByID(ctx context.Context, id store.Account) (directory.Account, error)
}

// Options tune a Router. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// Retry is the pause between two attempts to open a cell that is
	// down; default 5 s.
	Retry time.Duration
	// OpenTimeout bounds one attempt to open a cell; default 10 s.
	OpenTimeout time.Duration
	// CacheTTL is how long an account's cell is taken from the cache
	// before the directory is asked again; default 30 s.
	CacheTTL time.Duration
}

// Router holds a node's cells and finds each account's. It is safe for
// concurrent use.
type Router struct {
	dir   Directory
	opts  Options
	specs []Spec
	cells map[string]*Cell
	names []string // sorted

	mu    sync.RWMutex
	where map[store.Account]placed

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// placed is a cached answer of the directory.
type placed struct {
	cell string
	at   time.Time
}

// Cell is one cell of a Router.
type Cell struct {
	Name string

	cur     atomic.Pointer[Backends]
	ready   chan struct{} // closed once cur is set
	lastErr atomic.Pointer[string]
}

// New returns a router over the cells, none opened yet. The directory may
// be nil for a single cell named "" (embedded mode).
func New(dir Directory, specs []Spec, opts Options) *Router {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Retry <= 0 {
		opts.Retry = 5 * time.Second
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = 10 * time.Second
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 30 * time.Second
	}
	r := &Router{dir: dir, opts: opts, specs: specs, cells: map[string]*Cell{}, where: map[store.Account]placed{}}
	for _, sp := range specs {
		r.cells[sp.Name] = &Cell{Name: sp.Name, ready: make(chan struct{})}
		r.names = append(r.names, sp.Name)
	}
	sort.Strings(r.names)
	return r
}

// Open tries every cell once, concurrently, and returns when each has
// opened or failed. Cells that failed are logged and tried again in the
// background until they open or Close is called. Open fails only when
// ctx does.
func (r *Router) Open(ctx context.Context) error {
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	var first sync.WaitGroup
	for _, sp := range r.specs {
		c := r.cells[sp.Name]
		first.Add(1)
		r.wg.Go(func() {
			err := r.tryOpen(ctx, c, sp)
			first.Done()
			if err == nil {
				return
			}
			r.opts.Logger.Error("cell is down; serving the others and retrying it in the background",
				"cell", c.Name, "err", err, "retry", r.opts.Retry)
			r.keepOpening(bg, c, sp)
		})
	}
	first.Wait()
	return ctx.Err()
}

// tryOpen makes one attempt to open a cell.
func (r *Router) tryOpen(ctx context.Context, c *Cell, sp Spec) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.OpenTimeout)
	defer cancel()
	b, err := sp.Open(ctx)
	if err != nil {
		msg := err.Error()
		c.lastErr.Store(&msg)
		return err
	}
	c.cur.Store(b)
	c.lastErr.Store(nil)
	close(c.ready)
	return nil
}

// keepOpening tries to open a cell every Retry until it opens or ctx is
// done.
func (r *Router) keepOpening(ctx context.Context, c *Cell, sp Spec) {
	t := time.NewTicker(r.opts.Retry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.tryOpen(ctx, c, sp); err != nil {
			r.opts.Logger.Debug("cell still down", "cell", c.Name, "err", err)
			continue
		}
		r.opts.Logger.Info("cell is open", "cell", c.Name)
		return
	}
}

// Cells returns the cells, sorted by name.
func (r *Router) Cells() []*Cell {
	out := make([]*Cell, len(r.names))
	for i, n := range r.names {
		out[i] = r.cells[n]
	}
	return out
}

// Cell returns the cell of that name, or nil.
func (r *Router) Cell(name string) *Cell { return r.cells[name] }

// Backends returns the cell's stores, or nil while it is down.
func (c *Cell) Backends() *Backends { return c.cur.Load() }

// Err returns why the cell is down, or nil once it is open.
func (c *Cell) Err() error {
	if c.cur.Load() != nil {
		return nil
	}
	if p := c.lastErr.Load(); p != nil {
		return fmt.Errorf("cell %s: %s: %w", c.display(), *p, store.ErrUnavailable)
	}
	return fmt.Errorf("cell %s is not open yet: %w", c.display(), store.ErrUnavailable)
}

func (c *Cell) display() string {
	if c.Name == "" {
		return `""`
	}
	return c.Name
}

// ErrNoCell is wrapped by the errors for an account whose cell the node
// does not know. They also wrap store.ErrUnavailable: the mail waits.
var ErrNoCell = errors.New("account's cell is not configured")

// Locate returns the cell that holds an account.
func (r *Router) Locate(ctx context.Context, acct store.Account) (*Cell, error) {
	if len(r.names) == 1 && r.names[0] == "" {
		return r.cells[""], nil
	}
	name, err := r.cellOf(ctx, acct)
	if err != nil {
		return nil, err
	}
	c := r.cells[name]
	if c == nil {
		if name == "" {
			return nil, fmt.Errorf("account %d has no cell in the directory (it was made before the cluster had cells) and cannot be served until it is moved into one: %w: %w", acct, ErrNoCell, store.ErrUnavailable)
		}
		return nil, fmt.Errorf("account %d is in cell %q, which this node's configuration does not list; add a [[cell]] named %q: %w: %w",
			acct, name, name, ErrNoCell, store.ErrUnavailable)
	}
	return c, nil
}

// cellOf returns the name of an account's cell, from the cache when it is
// fresh, from the directory otherwise, and from the stale cache when the
// directory fails.
func (r *Router) cellOf(ctx context.Context, acct store.Account) (string, error) {
	r.mu.RLock()
	p, ok := r.where[acct]
	r.mu.RUnlock()
	now := time.Now()
	if ok && now.Sub(p.at) < r.opts.CacheTTL {
		return p.cell, nil
	}
	a, err := r.dir.AccountByID(ctx, acct)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		r.mu.Lock()
		delete(r.where, acct)
		r.mu.Unlock()
		return "", fmt.Errorf("account %d is not in the directory: %w", acct, store.ErrNotFound)
	case err != nil && ok:
		r.opts.Logger.Warn("directory unavailable; routing by the cell last seen", "account", acct, "cell", p.cell, "err", err)
		return p.cell, nil
	case err != nil:
		return "", fmt.Errorf("finding the cell of account %d: %v: %w", acct, err, store.ErrUnavailable)
	}
	r.mu.Lock()
	r.where[acct] = placed{a.Cell, now}
	r.mu.Unlock()
	return a.Cell, nil
}

// storeOf returns the mailbox store of an account's cell.
func (r *Router) storeOf(ctx context.Context, acct store.Account) (store.Store, error) {
	c, err := r.Locate(ctx, acct)
	if err != nil {
		return nil, err
	}
	b := c.cur.Load()
	if b == nil {
		return nil, c.Err()
	}
	return b.Store, nil
}

// BlobsOf returns the blob store of an account's cell, for a session that
// has just logged in. The store stays the same object when the cell is
// down and reopens: its calls fail while the cell is down.
func (r *Router) BlobsOf(ctx context.Context, a directory.Account) (blob.Store, error) {
	c, err := r.Locate(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	return cellBlobs{c}, nil
}

// Close stops reopening cells and closes those that are open.
func (r *Router) Close() error {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	var errs []error
	for _, c := range r.Cells() {
		if b := c.cur.Load(); b != nil {
			errs = append(errs, b.Store.Close())
			if b.Close != nil {
				errs = append(errs, b.Close())
			}
		}
	}
	return errors.Join(errs...)
}

// Ready returns a channel closed once the cell is open.
func (c *Cell) Ready() <-chan struct{} { return c.ready }

// ForNewAccount returns the cell where a new account goes: the one with
// the fewest accounts by counts, the first by name on a tie, so that the
// cells fill evenly and a new cell takes the new accounts first.
func (r *Router) ForNewAccount(counts map[string]int) string {
	best := r.names[0]
	for _, n := range r.names[1:] {
		if counts[n] < counts[best] {
			best = n
		}
	}
	return best
}
