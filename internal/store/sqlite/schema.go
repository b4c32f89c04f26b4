package sqlite

import (
	"context"
	"database/sql"

	"casella/internal/migrate"
)

// steps are the schema changes, in order (see migrate.Schema.Steps).
var steps = []string{
	// Version 1.
	`
CREATE TABLE accounts (
	id INTEGER PRIMARY KEY,
	modseq INTEGER NOT NULL DEFAULT 0,     -- last MODSEQ handed out
	uidvalidity INTEGER NOT NULL DEFAULT 0, -- last UIDVALIDITY handed out
	messages INTEGER NOT NULL DEFAULT 0,
	bytes INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE mailboxes (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	account INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	special_use TEXT NOT NULL DEFAULT '',
	subscribed INTEGER NOT NULL DEFAULT 0,
	uidvalidity INTEGER NOT NULL,
	uidnext INTEGER NOT NULL DEFAULT 1,
	highest_modseq INTEGER NOT NULL DEFAULT 0,
	messages INTEGER NOT NULL DEFAULT 0,
	unseen INTEGER NOT NULL DEFAULT 0,
	deleted INTEGER NOT NULL DEFAULT 0,
	size INTEGER NOT NULL DEFAULT 0,
	UNIQUE (account, name)
);

-- messages holds what listing a mailbox needs; the parsed metadata lives in
-- message_meta so that a FLAGS scan reads dense pages.
CREATE TABLE messages (
	id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: it is also the EMAILID
	account INTEGER NOT NULL,
	mailbox INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid INTEGER NOT NULL,
	email_id INTEGER NOT NULL,
	thread_id INTEGER NOT NULL,
	modseq INTEGER NOT NULL,
	flags INTEGER NOT NULL,              -- system flags, a bitmask
	keywords TEXT NOT NULL DEFAULT '',   -- space-separated atoms
	internal INTEGER NOT NULL,           -- Unix nanoseconds
	saved INTEGER NOT NULL,              -- Unix nanoseconds
	size INTEGER NOT NULL,
	blob TEXT NOT NULL,
	-- For SORT (RFC 5256) and cheap SEARCH without reading meta.
	sent INTEGER NOT NULL DEFAULT 0,     -- Date header, Unix seconds; 0 if none
	subject TEXT NOT NULL DEFAULT '',    -- base subject
	from_addr TEXT NOT NULL DEFAULT '',
	to_addr TEXT NOT NULL DEFAULT '',
	cc_addr TEXT NOT NULL DEFAULT '',
	message_id TEXT NOT NULL DEFAULT ''  -- without angle brackets
);
CREATE UNIQUE INDEX messages_mailbox_uid ON messages (mailbox, uid);
CREATE INDEX messages_blob ON messages (blob);
CREATE INDEX messages_account_message_id ON messages (account, message_id) WHERE message_id != '';

CREATE TABLE message_meta (
	message INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
	meta BLOB NOT NULL -- JSON of message.Meta
);

CREATE TABLE changes (
	account INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	modseq INTEGER NOT NULL,
	mailbox INTEGER NOT NULL,
	uid INTEGER NOT NULL,
	email_id INTEGER NOT NULL,
	kind INTEGER NOT NULL,
	PRIMARY KEY (account, modseq)
) WITHOUT ROWID;
CREATE INDEX changes_mailbox ON changes (mailbox, modseq);

CREATE TABLE deliveries (
	account INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	key TEXT NOT NULL,
	mailbox INTEGER NOT NULL,
	uid INTEGER NOT NULL,
	created INTEGER NOT NULL, -- Unix seconds, for pruning
	PRIMARY KEY (account, key)
) WITHOUT ROWID;
CREATE INDEX deliveries_created ON deliveries (created);
`,
	// Version 2. Delivery keys lead the primary key: the intake's keys
	// begin with the spool entry's arrival time, so new rows append at
	// the end of the tree. Keyed by account first, every delivery wrote a
	// page in a different part of it, one WAL page and one checkpointed
	// page per message. Deleting an account now scans the table for its
	// rows (the cascade has no index to use), which is rare, and
	// PruneDeliveries keeps the table to the keys a replay may need.
	`
CREATE TABLE deliveries_v2 (
	key TEXT NOT NULL,
	account INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	mailbox INTEGER NOT NULL,
	uid INTEGER NOT NULL,
	created INTEGER NOT NULL, -- Unix seconds, for pruning
	PRIMARY KEY (key, account)
) WITHOUT ROWID;
INSERT INTO deliveries_v2 (key, account, mailbox, uid, created)
	SELECT key, account, mailbox, uid, created FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_v2 RENAME TO deliveries;
CREATE INDEX deliveries_created ON deliveries (created);
`,
	// Version 3. What IMAP sessions share through the store:
	//   - the IMAP4rev1 \Recent claim (store.Store.ClaimRecent), so that
	//     one session in the whole cluster gets each message's \Recent;
	//     messages already stored are not recent;
	//   - the keywords in use in each mailbox (store.Store.Keywords), keyed
	//     by their ASCII lower case, filled from the messages;
	//   - subscriptions as names apart from the mailboxes: one outlives its
	//     mailbox's deletion (RFC 9051 section 6.3.4).
	`
ALTER TABLE mailboxes ADD COLUMN recent_mark INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET recent_mark = uidnext - 1;

CREATE TABLE mailbox_keywords (
	mailbox INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	folded TEXT NOT NULL,
	keyword TEXT NOT NULL,
	PRIMARY KEY (mailbox, folded)
) WITHOUT ROWID;
WITH RECURSIVE split(mailbox, rest, keyword) AS (
	SELECT mailbox, keywords || ' ', '' FROM messages WHERE keywords != ''
	UNION ALL
	SELECT mailbox, substr(rest, instr(rest, ' ') + 1), substr(rest, 1, instr(rest, ' ') - 1) FROM split WHERE rest != ''
)
INSERT OR IGNORE INTO mailbox_keywords (mailbox, folded, keyword)
	SELECT mailbox, lower(keyword), keyword FROM split WHERE keyword != '';

CREATE TABLE subscriptions (
	account INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	PRIMARY KEY (account, name)
) WITHOUT ROWID;
INSERT INTO subscriptions (account, name) SELECT account, name FROM mailboxes WHERE subscribed;
ALTER TABLE mailboxes DROP COLUMN subscribed;
`,
	// Version 4. Annotations (RFC 5464, store.Store.Metadata): of a
	// mailbox, or of the account itself when mailbox is 0.
	`
CREATE TABLE metadata (
	account INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	mailbox INTEGER NOT NULL,
	name TEXT NOT NULL,
	value BLOB NOT NULL,
	PRIMARY KEY (account, mailbox, name)
) WITHOUT ROWID;
`,
	// Version 5. The change log loses its index by mailbox: every write
	// added a page of it to the WAL, beside the log's own page, since each
	// mailbox's newest entries sit on a leaf of their own. A mailbox's
	// changes are read above a recent MODSEQ (a session catching up, the
	// cache refreshing), so the account's entries above it, in the
	// primary key's order, are few to filter; a QRESYNC from an old MODSEQ
	// reads the account's entries since then instead of the mailbox's.
	`
DROP INDEX changes_mailbox;
`,
	// Version 6. The account's message and byte counts are the sums of
	// its mailboxes' (sqlstore's Usage): an APPEND, EXPUNGE or COPY no
	// longer writes the account's row, one page of WAL fewer.
	`
ALTER TABLE accounts DROP COLUMN messages;
ALTER TABLE accounts DROP COLUMN bytes;
`,
	// Version 7. The blob index carries the account (store.Store's
	// MessagesWithBlob, for JMAP's Blob/lookup and downloads): a message
	// delivered to many accounts is one blob, and finding one account's
	// messages with it read the rows of all of them. BlobReferenced and
	// Blobs use the index's first column as before.
	`
DROP INDEX messages_blob;
CREATE INDEX messages_blob ON messages (blob, account);
`,
}

// migrateSchema brings the schema up to date. The write connection begins
// its transactions IMMEDIATE, which holds off other processes.
func migrateSchema(ctx context.Context, db *sql.DB) error {
	_, _, err := migrate.Apply(ctx, db, migrate.Schema{Name: "mailbox store", Steps: steps})
	return err
}
