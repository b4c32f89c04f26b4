// Package postgres implements the mailbox store (package store) on
// PostgreSQL, with pgx through database/sql: the store of a cell in a
// cluster. The store's logic is package sqlstore's, shared with the
// embedded SQLite store; this package connects, owns the schema and
// carries change notifications between nodes.
//
// Implementation notes:
//   - Several nodes write to one database at once. Every write
//     transaction first locks its account's row (SELECT ... FOR UPDATE),
//     so writes to one account are serialized across nodes: UIDs and
//     MODSEQs are handed out from values read under that lock and grow in
//     commit order. Writes to different accounts run in parallel.
//   - Commits are synchronous (PostgreSQL's default; never turn
//     synchronous_commit off for this database): Deliver and Append are
//     durable when they return (DESIGN.md invariant 1).
//   - Every write transaction calls pg_notify('casella_changes', account)
//     for each account it changed; PostgreSQL delivers it at commit. Each
//     Store keeps one connection that LISTENs and wakes its local
//     watchers. When that connection is lost, the Store reconnects with
//     growing delays and then wakes every watcher, so that each reads the
//     change log again: a lost notification delays a watcher, it never
//     loses a change.
//   - Every failure to reach the database wraps store.ErrUnavailable, so
//     the intake spool keeps the mail and retries; nothing is bounced.
//   - Moving accounts between cells: account IDs are the directory's,
//     the same in every cell, and each mailbox keeps its own UIDVALIDITY
//     and UIDNEXT, so an import into another cell's database can write
//     mailboxes, messages and change log with the UIDs, UIDVALIDITY and
//     MODSEQs they had. Mailbox and message IDs are identity columns of
//     this database, BY DEFAULT so that an import may give them too. A
//     message's email_id and thread_id hold 0 for "its own ID" (see
//     sqlstore): an import that gives new IDs writes the old ones there
//     instead, so EMAILID and THREADID survive the move, as long as it
//     then moves the sequences past every ID it wrote (setval), so that
//     no new row takes one of them.
package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"casella/internal/pglisten"
	"casella/internal/store"
	"casella/internal/store/sqlstore"
)

// connectTimeout bounds each connection attempt when the DSN does not set
// connect_timeout, so that an unreachable database fails Open and every
// call in bounded time instead of hanging.
const connectTimeout = 5 * time.Second

// Pool limits. Every node keeps a pool per cell (and one listening
// connection), and PostgreSQL allows 100 connections by default, shared
// by all nodes and the directory. Writes to one account wait for each
// other anyway, so a few connections serve many sessions.
const (
	maxConns    = 16
	maxIdleTime = 5 * time.Minute
)

// channel is the NOTIFY channel of committed changes; the payload is
// "node:account", the writing Store's random name and the account ID in
// decimal.
const channel = "casella_changes"

// Store is a store.Store on one PostgreSQL database.
type Store struct {
	*sqlstore.Store
	db *sql.DB
	l  *pglisten.Listener
}

// Open connects to the database named by dsn (a PostgreSQL URL or
// key=value string, as pgx reads it), applies pending schema migrations
// and starts listening for other nodes' changes. Several nodes may open
// one database at the same moment: one applies the migrations, the others
// wait for it under an advisory lock.
//
// Open fails when ctx ends or when the database cannot be reached within
// connect_timeout (5 seconds unless the DSN says otherwise); the error
// then wraps store.ErrUnavailable and the caller may try again later. A
// DSN that does not parse, or a schema newer than this casella knows,
// fails without it: trying again will not help.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the DSN, hiding its password only as far
		// as it can tell where the password is: say less.
		return nil, errors.New("open mailbox store: the DSN is neither a postgres:// URL nor a key=value string that PostgreSQL accepts")
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "casella"
	}
	// node tells this Store's notifications from other nodes': its own
	// commits have woken its watchers already.
	node := rand.Text()
	where := fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(maxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open mailbox store %s: %w: %w", where, store.ErrUnavailable, err)
	}
	if err := migrateSchema(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open mailbox store %s: %w", where, err)
	}
	st := sqlstore.New(db, db, sqlstore.Dialect{
		LockAccount: " FOR UPDATE",
		// Changes reads the highest MODSEQ and the entries in one
		// snapshot, which READ COMMITTED would not give.
		Snapshot: sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		Notify:   "SELECT pg_notify('" + channel + "', '" + node + ":' || $1)",
	})
	lcfg := cfg.Copy()
	lcfg.RuntimeParams["application_name"] = cfg.RuntimeParams["application_name"] + "-listen"
	l, err := listen(ctx, lcfg, node, st, slog.Default().With("store", where))
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("open mailbox store %s: %w: %w", where, store.ErrUnavailable, err)
	}
	return &Store{Store: st, db: db, l: l}, nil
}

// Close stops listening and closes the connections.
func (s *Store) Close() error {
	s.l.Close()
	return s.Store.Close()
}
