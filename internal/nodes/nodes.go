// Package nodes is the register of a cluster's nodes: each node writes a
// heartbeat row every few seconds into the directory's database, the one
// database every node shares, and the cluster status lists the nodes seen
// recently with the mail waiting in their spools.
//
// Implementation notes:
//   - The register is a table of its own beside the directory's, with its
//     own version table (nodes_schema_version), so that it changes
//     independently of the directory's schema.
//   - A heartbeat is one upsert; a node that stops simply stops being
//     seen. Rows are never the only record of anything: losing them loses
//     nothing but the status page's list.
//   - Times are Unix milliseconds and the backlog is JSON, so that one
//     statement text serves SQLite and PostgreSQL.
package nodes

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"

	"casella/internal/migrate"
)

// Node is one node's last heartbeat.
type Node struct {
	Name    string
	Started time.Time
	Seen    time.Time
	// Backlog is the recipients waiting in the node's intake spool, per
	// cell.
	Backlog map[string]int
}

// Register is the node register in one database.
type Register struct {
	db *sql.DB
}

var schema = migrate.Schema{
	Name:  "node register",
	Table: "nodes_schema_version",
	Steps: []string{`CREATE TABLE nodes (
		name TEXT PRIMARY KEY,
		started BIGINT NOT NULL,
		seen BIGINT NOT NULL,
		backlog TEXT NOT NULL
	)`},
}

// Engines of Open.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Open opens the register in the database of the given engine: a SQLite
// file's path, or a PostgreSQL URL.
func Open(ctx context.Context, engine, target string) (*Register, error) {
	s := schema
	var db *sql.DB
	var err error
	switch engine {
	case SQLite:
		db, err = sql.Open("sqlite", target+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	case Postgres:
		db, err = sql.Open("pgx", target)
		// Nodes starting together create the table once.
		s.Lock = "SELECT pg_advisory_xact_lock(7402011)"
	default:
		return nil, fmt.Errorf("node register: unknown engine %q", engine)
	}
	if err != nil {
		return nil, fmt.Errorf("node register: %w", err)
	}
	db.SetMaxOpenConns(2)
	if _, _, err := migrate.Apply(ctx, db, s); err != nil {
		db.Close()
		return nil, fmt.Errorf("node register: %w", err)
	}
	return &Register{db: db}, nil
}

// Beat records a heartbeat of n.
func (r *Register) Beat(ctx context.Context, n Node) error {
	backlog, err := json.Marshal(n.Backlog)
	if err != nil {
		return err
	}
	_, err = r.db.ExecContext(ctx, `INSERT INTO nodes (name, started, seen, backlog) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET started = excluded.started, seen = excluded.seen, backlog = excluded.backlog`,
		n.Name, n.Started.UnixMilli(), n.Seen.UnixMilli(), string(backlog))
	if err != nil {
		return fmt.Errorf("node register: heartbeat: %w", err)
	}
	return nil
}

// Seen returns the nodes whose last heartbeat is after since, by name.
func (r *Register) Seen(ctx context.Context, since time.Time) ([]Node, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT name, started, seen, backlog FROM nodes WHERE seen > $1 ORDER BY name`, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("node register: %w", err)
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		var n Node
		var started, seen int64
		var backlog string
		if err := rows.Scan(&n.Name, &started, &seen, &backlog); err != nil {
			return nil, fmt.Errorf("node register: %w", err)
		}
		n.Started, n.Seen = time.UnixMilli(started).UTC(), time.UnixMilli(seen).UTC()
		if err := json.Unmarshal([]byte(backlog), &n.Backlog); err != nil {
			return nil, fmt.Errorf("node register: backlog of %s: %w", n.Name, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("node register: %w", err)
	}
	return out, nil
}

// Close closes the database.
func (r *Register) Close() error { return r.db.Close() }
