package sqldir

import (
	"context"
	"fmt"

	"casella/internal/directory"
)

// readChanges runs query, which selects id, modseq, the modseq of
// creation and whether the record is destroyed for the records changed
// after since ($2), by modseq, and returns them as changes; what names
// them in errors.
func readChanges(ctx context.Context, q queryer, what, query string, acct int64, since int64) ([]directory.Change, error) {
	rows, err := q.QueryContext(ctx, query, acct, since)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []directory.Change
	for rows.Next() {
		var c directory.Change
		var created int64
		if err := rows.Scan(&c.ID, &c.ModSeq, &created, &c.Destroyed); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		c.Created = created > since
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
