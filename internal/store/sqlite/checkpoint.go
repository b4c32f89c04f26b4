package sqlite

import (
	"database/sql"
	"fmt"
	"time"
)

// checkpointEvery is how often the checkpointer runs.
const checkpointEvery = time.Second

// checkpointer copies committed pages from the WAL back into the database
// file. SQLite does that by itself in the commit that crosses 1000 WAL
// pages, where the copy and the fsync of the database file add to the
// wait of that commit's whole group; here the writer's connection never
// checkpoints (wal_autocheckpoint=0) and the checkpointer does, once per
// checkpointEvery, on a connection of its own with synchronous=FULL, so
// the WAL is synced before pages leave it and the database file after
// they arrive. PASSIVE waits for no reader and no writer; what it cannot
// copy yet, or fails to, is copied next time, as SQLite leaves a failed
// automatic checkpoint. With nothing new in the WAL it costs a read of
// the WAL index.
type checkpointer struct {
	db   *sql.DB
	stop chan struct{}
	done chan struct{}
}

func newCheckpointer(dsn string) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("checkpointer: %w", err)
	}
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c, nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		case <-c.stop:
			return
		}
	}
}

func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
