package postgres

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/jackc/pgx/v5"

	"casella/internal/directory/sqldir"
	"casella/internal/pglisten"
	"casella/internal/store"
)

// sieveChannel is the channel of the notifications of changed Sieve
// scripts, app passwords and submissions (named when it had scripts
// alone, and kept so that nodes of two versions hear each other); the
// payload is the account's id. Every node listens on it, so that a
// change made on one node is pushed to the JMAP clients of every node.
const sieveChannel = "casella_directory_sieve"

// listen wakes the directory's watchers of each account whose records a
// notification says changed, and all of them after a lost connection.
// This node's own changes come back too; waking their watchers again
// costs one state read.
func listen(ctx context.Context, cfg *pgx.ConnConfig, d *sqldir.Dir, log *slog.Logger) (*pglisten.Listener, error) {
	return pglisten.Listen(ctx, cfg, sieveChannel, log, pglisten.Handler{
		Notify: func(payload string) {
			id, err := strconv.ParseInt(payload, 10, 64)
			if err != nil {
				log.Warn("directory: ignoring a notification", "payload", payload)
				return
			}
			d.WakeRecords(store.Account(id))
		},
		Lost: d.WakeAllRecords,
	})
}
