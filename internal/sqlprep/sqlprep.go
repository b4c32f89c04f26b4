// Package sqlprep prepares SQL statements once per database and runs them
// in transactions.
//
// The pure-Go SQLite driver parses and plans a query's SQL on every call
// that is not prepared. Intake profiles showed that as 3-4% of the
// server's CPU, in the directory's RCPT lookups and the store's delivery
// transactions. database/sql keeps a prepared statement per connection and
// binds it to a transaction on that connection without preparing again.
package sqlprep

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// Cache holds the statements prepared on one database. Only constant
// query texts may go in: each text is prepared once and kept until Close.
//
// Preparing on the database needs a free connection, and a transaction
// holds one: the store's writer has a single connection, so preparing
// from within its transaction would wait for itself. A text first met
// within a transaction is therefore prepared on the transaction alone,
// and on the database once the transaction ends. database/sql then keeps
// it prepared on each connection that runs it.
type Cache struct {
	db *sql.DB
	m  sync.Map // query text → *sql.Stmt

	mu      sync.Mutex
	pending map[string]bool // met within a transaction, not yet prepared
}

// New returns an empty Cache for db.
func New(db *sql.DB) *Cache {
	return &Cache{db: db, pending: map[string]bool{}}
}

// Stmt returns the statement for query, prepared on first use. The caller
// must not hold a transaction of the database (see Cache).
func (c *Cache) Stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.m.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := c.m.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// QueryContext runs query's prepared statement.
func (c *Cache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.Stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs query's prepared statement for one row. When
// preparing fails the query runs unprepared and its Scan reports the same
// failure (see Tx.QueryRowContext).
func (c *Cache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := c.Stmt(ctx, query)
	if err != nil {
		return c.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// preparePending prepares the texts met within transactions since the
// last call. One that fails is left to fail again where it is used.
func (c *Cache) preparePending() {
	c.mu.Lock()
	texts := c.pending
	if len(texts) > 0 {
		c.pending = map[string]bool{}
	}
	c.mu.Unlock()
	for q := range texts {
		c.Stmt(context.Background(), q)
	}
}

// Close closes the statements. The database stays open.
func (c *Cache) Close() error {
	var errs []error
	c.m.Range(func(q, st any) bool {
		errs = append(errs, st.(*sql.Stmt).Close())
		c.m.Delete(q)
		return true
	})
	return errors.Join(errs...)
}

// Begin starts a transaction on the cache's database.
func (c *Cache) Begin(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	tx, err := c.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Tx{c: c, tx: tx}, nil
}

// Tx is a transaction that runs the statements of a Cache. It has the
// query methods of *sql.Tx, so code written for a transaction takes it.
type Tx struct {
	c  *Cache
	tx *sql.Tx
}

// Commit commits the transaction.
func (t *Tx) Commit() error {
	err := t.tx.Commit()
	t.c.preparePending()
	return err
}

// Rollback aborts the transaction, unless it has ended already.
func (t *Tx) Rollback() error {
	err := t.tx.Rollback()
	if !errors.Is(err, sql.ErrTxDone) {
		t.c.preparePending()
	}
	return err
}

// Stmt returns the statement for query bound to the transaction; it is
// closed with the transaction.
func (t *Tx) Stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.c.m.Load(query); ok {
		return t.tx.StmtContext(ctx, st.(*sql.Stmt)), nil
	}
	st, err := t.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	t.c.mu.Lock()
	t.c.pending[query] = true
	t.c.mu.Unlock()
	return st, nil
}

// QueryContext runs query's prepared statement within the transaction.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.Stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs query's prepared statement for one row within the
// transaction. A *sql.Row cannot carry an error of its own, so when
// preparing fails the query runs unprepared and its Scan reports the same
// failure.
func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := t.Stmt(ctx, query)
	if err != nil {
		return t.tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// ExecContext runs query's prepared statement within the transaction.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.Stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}
