package sqlite

import (
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"casella/internal/migrate"
	"casella/internal/store"
)

// TestMigrateRecentKeywordsSubscriptions opens a version 2 database with
// messages and checks what versions 3 to 5 derive from it: no message
// already stored is recent, every keyword in use is listed once, and
// subscriptions stay.
func TestMigrateRecentKeywordsSubscriptions(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := migrate.Apply(ctx, db, migrate.Schema{Name: "mailbox store", Steps: steps[:2]}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO accounts (id) VALUES (1)`,
		`INSERT INTO mailboxes (id, account, name, uidvalidity, uidnext, subscribed) VALUES (1, 1, 'INBOX', 1, 4, 1), (2, 1, 'Other', 2, 1, 0)`,
		`INSERT INTO messages (account, mailbox, uid, email_id, thread_id, modseq, flags, keywords, internal, saved, size, blob)
			VALUES (1, 1, 1, 1, 1, 1, 0, '$Junk Work', 0, 0, 1, 'x'), (1, 1, 2, 2, 2, 2, 0, 'work $Forwarded', 0, 0, 1, 'x'),
			(1, 1, 3, 3, 3, 3, 0, '', 0, 0, 1, 'x')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := openPath(t, path)
	mb, err := s.Mailbox(ctx, 1, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if subs, err := s.Subscriptions(ctx, 1); err != nil || !slices.Equal(subs, []string{store.Inbox}) || !mb.Subscribed {
		t.Errorf("subscriptions after migration %q, %v; INBOX subscribed %v", subs, err, mb.Subscribed)
	}
	if mb.RecentMark != 3 {
		t.Errorf("recent mark %d after migration, want 3", mb.RecentMark)
	}
	kw, err := s.Keywords(ctx, 1, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Either spelling of "work" may win: keywords compare without case.
	for i := range kw {
		kw[i] = strings.ToLower(kw[i])
	}
	slices.Sort(kw)
	if want := []string{"$forwarded", "$junk", "work"}; !slices.Equal(kw, want) {
		t.Errorf("keywords %q after migration, want %q", kw, want)
	}
}
