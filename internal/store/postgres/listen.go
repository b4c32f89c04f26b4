package postgres

import (
	"context"
	"log/slog"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"casella/internal/pglisten"
	"casella/internal/store"
	"casella/internal/store/sqlstore"
)

// listen wakes the store's watchers of each account another node
// notifies a change of, and all of them after a lost connection. node is
// this Store's name in notifications: its own changes have woken its
// watchers already.
func listen(ctx context.Context, cfg *pgx.ConnConfig, node string, st *sqlstore.Store, log *slog.Logger) (*pglisten.Listener, error) {
	return pglisten.Listen(ctx, cfg, channel, log, pglisten.Handler{
		Notify: func(payload string) {
			from, acct, _ := strings.Cut(payload, ":")
			if from == node {
				return
			}
			id, err := strconv.ParseInt(acct, 10, 64)
			if err != nil {
				log.Warn("mailbox store: ignoring a change notification", "payload", payload)
				return
			}
			st.Wake(store.Account(id))
		},
		Lost: st.WakeAll,
	})
}
