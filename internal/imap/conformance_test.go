package imap

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The conformance audit: one rule of RFC 9051 or RFC 3501 per case, each
// checked over a real server on loopback. docs/imap-conformance.md lists
// them by section with their test names (TestConformance/<name>).

// confStep is one command and what must come back.
type confStep struct {
	// cmd is a tagged command line without CRLF; "{n}\r\n" sends a
	// synchronizing literal. "B:" before it sends it on a second session
	// of the same user.
	cmd string
	// tagged is a regular expression the tagged response must match after
	// its tag, such as `^OK` or `^NO \[TRYCREATE\]`; "" for `^OK`. "*"
	// means the server answers with an untagged BAD instead, and "BYE"
	// that it ends the session.
	tagged string
	// has are regular expressions, each of which some untagged line must
	// match; one beginning with "!" must match no untagged line.
	has []string
}

// confRule is one rule and the steps that check it.
type confRule struct {
	name  string // the test name: section and rule, short
	state string // "none" (not authenticated), "auth", "sel" (INBOX with confMsgs selected)
	rev2  bool   // ENABLE IMAP4rev2 first
	steps []confStep
}

// confMsgs are INBOX's messages in the "sel" state, with their flags.
var confMsgs = []struct{ flags, msg string }{
	{"", simpleMsg},
	{`\Flagged`, multipartMsg},
	{`\Seen $Label`, simpleMsg},
}

func s(cmd, tagged string, has ...string) confStep {
	return confStep{cmd: cmd, tagged: tagged, has: has}
}

var confRules = []confRule{
	// RFC 9051 section 6.1: any state.
	{"9051-6.1.1/capability-lists-imap4rev2", "none", false, []confStep{
		s("a CAPABILITY", "", `^\* CAPABILITY IMAP4rev1 .*IMAP4rev2`)}},
	{"9051-6.1.1/capability-takes-no-arguments", "none", false, []confStep{
		s("a CAPABILITY IMAP4rev2", "^BAD")}},
	{"9051-6.1.2/noop-in-every-state", "none", false, []confStep{
		s("a NOOP", ""), s("L LOGIN alice@example.org \"secret password\"", ""), s("b NOOP", ""),
		s("c SELECT INBOX", ""), s("d NOOP", "")}},
	{"9051-6.1.2/noop-takes-no-arguments", "auth", false, []confStep{
		s("a NOOP now", "^BAD")}},
	{"9051-6.1.3/logout-sends-bye-first", "auth", false, []confStep{
		s("a LOGOUT", "^OK", `^\* BYE`)}},
	{"9051-6.1.3/logout-before-login", "none", false, []confStep{
		s("a LOGOUT", "^OK", `^\* BYE`)}},

	// Section 6.2: not authenticated state.
	{"9051-6.2/selected-command-before-login-is-bad", "none", false, []confStep{
		s("a SELECT INBOX", "^BAD"), s("b FETCH 1 FLAGS", "^BAD"), s("c LIST \"\" *", "^BAD")}},
	{"9051-6.2.1/starttls-without-tls-not-offered", "none", false, []confStep{
		s("a CAPABILITY", "", `!STARTTLS`), s("b STARTTLS", "^(BAD|NO)")}},
	{"9051-6.2.2/authenticate-unknown-mechanism-no", "none", false, []confStep{
		s("a AUTHENTICATE X-UNKNOWN", "^NO")}},
	{"9051-6.2.2/authenticate-plain-initial-response", "none", false, []confStep{
		s("a AUTHENTICATE PLAIN "+plainIR(testUser, testPass), "^OK"), s("b SELECT INBOX", "")}},
	{"9051-6.2.2/authenticate-bad-credentials-no", "none", false, []confStep{
		s("a AUTHENTICATE PLAIN "+plainIR(testUser, "wrong"), `^NO \[AUTHENTICATIONFAILED\]`)}},
	{"9051-6.2.2/authenticate-cancel-is-bad", "none", false, []confStep{
		s("a AUTHENTICATE PLAIN\r\n*", "^BAD")}},
	{"9051-6.2.2/authenticate-twice-is-bad", "auth", false, []confStep{
		s("a AUTHENTICATE PLAIN "+plainIR(testUser, testPass), "^BAD")}},
	{"9051-6.2.3/login-bad-password-no", "none", false, []confStep{
		s(`a LOGIN alice@example.org "nope"`, `^NO \[AUTHENTICATIONFAILED\]`), s("b SELECT INBOX", "^BAD")}},
	{"9051-6.2.3/login-literal-password", "none", false, []confStep{
		s("a LOGIN alice@example.org {15}\r\nsecret password", "^OK")}},
	{"9051-6.2.3/login-in-authenticated-state-bad", "auth", false, []confStep{
		s(`a LOGIN alice@example.org "secret password"`, "^BAD")}},
	{"9051-6.2.3/login-missing-password-bad", "none", false, []confStep{
		s(`a LOGIN alice@example.org`, "^BAD")}},

	// Section 6.3: authenticated state.
	{"9051-6.3.1/enable-reports-enabled", "auth", false, []confStep{
		s("a ENABLE CONDSTORE", "", `^\* ENABLED CONDSTORE$`)}},
	{"9051-6.3.1/enable-ignores-unknown", "auth", false, []confStep{
		s("a ENABLE X-UNKNOWN", "", `^\* ENABLED$`)}},
	{"9051-6.3.1/enable-needs-an-argument", "auth", false, []confStep{
		s("a ENABLE", "^BAD")}},
	{"9051-6.3.1/enable-before-login-bad", "none", false, []confStep{
		s("a ENABLE CONDSTORE", "^BAD")}},
	{"9051-6.3.2/select-responses", "auth", true, []confStep{
		s("a SELECT INBOX", `^OK \[READ-WRITE\]`, `^\* FLAGS \(`, `^\* 0 EXISTS$`, `^\* LIST \(.*\) "/" INBOX$`,
			`^\* OK \[UIDVALIDITY \d+\]`, `^\* OK \[UIDNEXT 1\]`, `^\* OK \[PERMANENTFLAGS \(.*\\\*\)\]`, `!RECENT`)}},
	{"3501-6.3.1/select-responses-rev1", "sel", false, []confStep{
		s("a SELECT INBOX", `^OK \[READ-WRITE\]`, `^\* 3 EXISTS$`, `^\* 0 RECENT$`, `^\* OK \[UNSEEN 1\]`, `^\* OK \[UIDNEXT 4\]`, `!^\* LIST`)}},
	{"9051-6.3.2/select-inbox-case-insensitive", "auth", false, []confStep{
		s("a SELECT inBox", `^OK`)}},
	{"9051-6.3.2/select-nonexistent-no-and-deselects", "sel", false, []confStep{
		s("a SELECT nosuch", "^NO"), s("b FETCH 1 FLAGS", "^BAD")}},
	{"9051-6.3.2/select-again-sends-closed", "sel", true, []confStep{
		s("a SELECT INBOX", "^OK", `^\* OK \[CLOSED\]`)}},
	{"9051-6.3.3/examine-read-only", "sel", false, []confStep{
		s("a EXAMINE INBOX", `^OK \[READ-ONLY\]`), s(`b STORE 1 +FLAGS (\Deleted)`, "^NO"), s("c EXPUNGE", "^NO")}},
	{"9051-6.3.3/examine-fetch-body-does-not-set-seen", "sel", true, []confStep{
		s("a EXAMINE INBOX", "^OK"), s("b FETCH 1 BODY[]", "^OK", `!Seen`), s("c FETCH 1 FLAGS", "^OK", `^\* 1 FETCH \(FLAGS \(\)\)$`)}},
	{"9051-6.3.4/create-existing-no", "auth", false, []confStep{
		s("a CREATE Box", ""), s("b CREATE box", "^(OK|NO)"), s("c CREATE Box", `^NO \[ALREADYEXISTS\]`)}},
	{"9051-6.3.4/create-inbox-no", "auth", false, []confStep{
		s("a CREATE inbox", "^NO")}},
	{"9051-6.3.4/create-trailing-separator", "auth", false, []confStep{
		s("a CREATE Trail/", ""), s(`b LIST "" Trail*`, "", `^\* LIST \(.*\) "/" Trail$`)}},
	{"9051-6.3.4/create-makes-superiors", "auth", false, []confStep{
		s("a CREATE p/q/r", ""), s(`b LIST "" p*`, "", `^\* LIST \(.*\) "/" p$`, `^\* LIST \(.*\) "/" p/q$`, `^\* LIST \(.*\) "/" p/q/r$`)}},
	{"9051-6.3.4/create-bad-utf7-no", "auth", false, []confStep{
		s("a CREATE &Jjo", "^NO")}},
	{"9051-6.3.5/delete-inbox-no", "auth", false, []confStep{
		s("a DELETE INBOX", "^NO")}},
	{"9051-6.3.5/delete-nonexistent-no", "auth", false, []confStep{
		s("a DELETE nosuch", `^NO \[NONEXISTENT\]`)}},
	{"9051-7.1/delete-with-inferiors-haschildren", "auth", false, []confStep{
		s("a CREATE d/e", ""), s("b DELETE d", `^NO \[HASCHILDREN\]`), s(`c LIST "" d*`, "", `"/" d$`, `"/" d/e$`),
		s("d DELETE d/e", ""), s("e DELETE d", "")}},
	{"9051-6.3.5/delete-selected-mailbox", "auth", false, []confStep{
		s("a CREATE Gone", ""), s("b SELECT Gone", ""), s("c DELETE Gone", "^(OK|NO)"), s("d NOOP", "^(OK|BAD)")}},
	{"9051-6.3.6/rename-to-existing-no", "auth", false, []confStep{
		s("a CREATE r1", ""), s("b CREATE r2", ""), s("c RENAME r1 r2", `^NO \[ALREADYEXISTS\]`)}},
	{"9051-6.3.6/rename-nonexistent-no", "auth", false, []confStep{
		s("a RENAME nosuch other", `^NO \[NONEXISTENT\]`)}},
	{"9051-6.3.6/rename-moves-inferiors", "auth", false, []confStep{
		s("a CREATE top/sub", ""), s("b RENAME top new", ""), s(`c LIST "" *`, "", `"/" new/sub$`, `!"/" top`)}},
	{"9051-6.3.6/rename-inbox-moves-messages", "sel", false, []confStep{
		s("a RENAME INBOX Old", ""), s("b STATUS Old (MESSAGES)", "", `^\* STATUS Old \(MESSAGES 3\)$`),
		s("c STATUS INBOX (MESSAGES)", "", `^\* STATUS INBOX \(MESSAGES 0\)$`)}},
	{"9051-6.3.7/subscribe-lsub", "auth", false, []confStep{
		s("a CREATE Sub", ""), s("b SUBSCRIBE Sub", ""), s(`c LSUB "" Sub`, "", `^\* LSUB \(.*\) "/" Sub$`)}},
	{"9051-6.3.8/unsubscribe", "auth", false, []confStep{
		s("a CREATE Sub", ""), s("b SUBSCRIBE Sub", ""), s("c UNSUBSCRIBE Sub", ""), s(`d LSUB "" Sub`, "", `!LSUB`)}},
	{"9051-6.3.9/list-empty-pattern-gives-delimiter", "auth", false, []confStep{
		s(`a LIST "" ""`, "", `^\* LIST \(\\Noselect\) "/" ""$`)}},
	{"9051-6.3.9/list-percent-stops-at-delimiter", "auth", false, []confStep{
		s("a CREATE x/y", ""), s(`b LIST "" %`, "", `"/" x$`, `!"/" x/y$`), s(`c LIST "" *`, "", `"/" x/y$`)}},
	{"9051-6.3.9/list-reference-prefixes-pattern", "auth", false, []confStep{
		s("a CREATE x/y", ""), s(`b LIST x/ %`, "", `^\* LIST \(.*\) "/" x/y$`)}},
	{"9051-6.3.9/list-inbox-any-case", "auth", false, []confStep{
		s(`a LIST "" inbox`, "", `^\* LIST \(.*\) "/" INBOX$`)}},
	{"9051-6.3.9/list-children-attributes", "auth", false, []confStep{
		s("a CREATE x/y", ""), s(`b LIST "" x`, "", `^\* LIST \(\\HasChildren\) "/" x$`)}},
	{"9051-6.3.9/list-special-use", "auth", true, []confStep{
		s(`a LIST "" *`, "", `^\* LIST \(.*\\Sent.*\) "/" Sent$`, `^\* LIST \(.*\\Trash.*\) "/" Trash$`)}},
	{"9051-6.3.9/list-no-match-is-ok", "auth", false, []confStep{
		s(`a LIST "" nosuch*`, "", `!LIST`)}},
	{"9051-6.3.9/list-quotes-names", "auth", false, []confStep{
		s(`a CREATE "with space"`, ""), s(`b LIST "" with*`, "", `^\* LIST \(.*\) "/" "with space"$`)}},
	{"9051-6.3.9/list-escapes-quote", "auth", true, []confStep{
		s(`a CREATE "q\"x"`, ""), s(`b LIST "" q*`, "", `^\* LIST \(.*\) "/" "q\\"x"$`)}},
	{"9051-6.3.10/namespace", "auth", false, []confStep{
		s("a NAMESPACE", "", `^\* NAMESPACE \(\("" "/"\)\) NIL NIL$`)}},
	{"9051-6.3.11/status-items", "sel", true, []confStep{
		s("a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE)", "",
			`^\* STATUS INBOX \(MESSAGES 3 UIDNEXT 4 UIDVALIDITY \d+ UNSEEN 2 DELETED 0 SIZE \d+\)$`)}},
	{"9051-6.3.11/status-nonexistent-no", "auth", false, []confStep{
		s("a STATUS nosuch (MESSAGES)", "^NO")}},
	{"9051-6.3.11/status-empty-list-bad", "auth", false, []confStep{
		s("a STATUS INBOX ()", "^BAD")}},
	{"9051-6.3.11/status-unknown-item-bad", "auth", false, []confStep{
		s("a STATUS INBOX (COLOUR)", "^BAD")}},
	{"3501-6.3.10/status-recent", "auth", false, []confStep{
		s("a STATUS INBOX (RECENT)", "", `^\* STATUS INBOX \(RECENT 0\)$`)}},
	{"9051-6.3.12/append-appenduid", "auth", false, []confStep{
		s("a APPEND INBOX {5+}\r\nHi\r\n\r\n", `^OK \[APPENDUID \d+ 1\]`)}},
	{"9051-6.3.12/append-synchronizing-literal", "auth", false, []confStep{
		s("a APPEND INBOX {5}\r\nHi\r\n\r\n", `^OK`)}},
	{"9051-6.3.12/append-flags-and-date", "auth", true, []confStep{
		s(`a APPEND INBOX (\Seen \Flagged) " 7-Jul-1996 02:44:25 -0700" {5+}`+"\r\nHi\r\n\r\n", `^OK`),
		s("b SELECT INBOX", ""), s("c FETCH 1 (FLAGS INTERNALDATE)", "", `^\* 1 FETCH \(FLAGS \(\\Seen \\Flagged\) INTERNALDATE "( 7|07)-Jul-1996 (02:44:25 -0700|09:44:25 \+0000)"\)$`)}},
	{"9051-6.3.12/append-nonexistent-trycreate", "auth", false, []confStep{
		s("a APPEND nosuch {5+}\r\nHi\r\n\r\n", `^NO \[TRYCREATE\]`)}},
	{"9051-6.3.12/append-bad-date-bad", "auth", false, []confStep{
		s(`a APPEND INBOX "31-Foo-2020 00:00:00 +0000" {5+}`+"\r\nHi\r\n\r\n", `^BAD`)}},
	{"9051-6.3.12/append-selected-sends-exists", "sel", false, []confStep{
		s("a APPEND INBOX {5+}\r\nHi\r\n\r\n", `^OK`, `^\* 4 EXISTS$`)}},
	{"9051-6.3.12/append-recent-flag-refused", "auth", false, []confStep{
		s(`a APPEND INBOX (\Recent) {5+}`+"\r\nHi\r\n\r\n", `^BAD`)}},
	{"9051-6.3.13/idle-continuation-and-done", "auth", false, []confStep{
		s("a IDLE\r\nDONE", `^OK`)}},

	// Section 6.4: selected state.
	{"9051-6.4.1/close-expunges-silently", "sel", false, []confStep{
		s(`a STORE 1 +FLAGS.SILENT (\Deleted)`, ""), s("b CLOSE", "", `!EXPUNGE`), s("c FETCH 1 FLAGS", "^BAD"),
		s("d STATUS INBOX (MESSAGES)", "", `MESSAGES 2\)$`)}},
	{"9051-6.4.1/close-examined-does-not-expunge", "sel", false, []confStep{
		s(`a STORE 1 +FLAGS.SILENT (\Deleted)`, ""), s("b EXAMINE INBOX", ""), s("c CLOSE", ""),
		s("d STATUS INBOX (MESSAGES)", "", `MESSAGES 3\)$`)}},
	{"9051-6.4.2/unselect-does-not-expunge", "sel", false, []confStep{
		s(`a STORE 1 +FLAGS.SILENT (\Deleted)`, ""), s("b UNSELECT", ""), s("c STATUS INBOX (MESSAGES)", "", `MESSAGES 3\)$`)}},
	{"9051-6.4.3/expunge-reports-each", "sel", false, []confStep{
		s(`a STORE 1:3 +FLAGS.SILENT (\Deleted)`, ""), s("b EXPUNGE", "", `^\* [1-3] EXPUNGE$`),
		s("c NOOP", "", `!EXISTS`), s("d FETCH 1 FLAGS", "^BAD")}},
	{"9051-6.4.3/expunge-sequence-numbers-shift", "sel", false, []confStep{
		s(`a STORE 2:3 +FLAGS.SILENT (\Deleted)`, ""), s("b EXPUNGE", "", `^\* 2 EXPUNGE$`), s("c FETCH 1 UID", "", `^\* 1 FETCH \(UID 1\)$`), s("d FETCH 2 UID", "^BAD")}},
	{"9051-6.4.3/uid-expunge-only-listed", "sel", false, []confStep{
		s(`a STORE 1:3 +FLAGS.SILENT (\Deleted)`, ""), s("b UID EXPUNGE 2", "", `^\* 2 EXPUNGE$`, `!^\* 1 EXPUNGE`)}},
	{"9051-6.4.4/search-rev2-esearch", "sel", true, []confStep{
		s("a SEARCH FLAGGED", "", `^\* ESEARCH \(TAG "a"\) ALL 2$`)}},
	{"3501-6.4.4/search-rev1", "sel", false, []confStep{
		s("a SEARCH UNSEEN", "", `^\* SEARCH 1 2$`), s("b UID SEARCH SEEN", "", `^\* SEARCH 3$`)}},
	{"9051-6.4.4/search-unknown-charset-badcharset", "sel", false, []confStep{
		s("a SEARCH CHARSET X-UNKNOWN TEXT fox", `^NO \[BADCHARSET`)}},
	{"9051-6.4.4/search-charset-utf8", "sel", false, []confStep{
		s("a SEARCH CHARSET UTF-8 SUBJECT hello", "", `^\* SEARCH 1 3$`)}},
	{"9051-6.4.4/search-unknown-key-bad", "sel", false, []confStep{
		s("a SEARCH COLOUR red", "^BAD")}},
	{"9051-6.4.4/search-keyword", "sel", false, []confStep{
		s("a SEARCH KEYWORD $label", "", `^\* SEARCH 3$`), s("b SEARCH UNKEYWORD $Label", "", `^\* SEARCH 1 2$`)}},
	{"9051-6.4.4/search-or-not", "sel", false, []confStep{
		s("a SEARCH OR FLAGGED SEEN", "", `^\* SEARCH 2 3$`), s("b SEARCH NOT SEEN NOT FLAGGED", "", `^\* SEARCH 1$`)}},
	{"9051-6.4.4/search-parenthesized-and", "sel", false, []confStep{
		s("a SEARCH (UNSEEN FROM carol)", "", `^\* SEARCH 2$`)}},
	{"9051-6.4.4/search-sequence-set", "sel", false, []confStep{
		s("a SEARCH 2:*", "", `^\* SEARCH 2 3$`), s("b SEARCH UID 1,3", "", `^\* SEARCH 1 3$`)}},
	{"9051-6.4.4/search-header-empty-matches-present", "sel", false, []confStep{
		s(`a SEARCH HEADER Message-ID ""`, "", `^\* SEARCH 1 3$`)}},
	{"9051-6.4.4/search-dates", "sel", false, []confStep{
		s("a SEARCH SENTBEFORE 3-Jan-2006", "", `^\* SEARCH 1 3$`), s("b SEARCH SENTON 3-Jan-2006", "", `^\* SEARCH 2$`),
		s("c SEARCH SINCE 1-Jan-1990", "", `^\* SEARCH 1 2 3$`), s("d SEARCH BEFORE 1-Jan-1990", "", `^\* SEARCH$`)}},
	{"9051-6.4.4/search-bad-date-bad", "sel", false, []confStep{
		s("a SEARCH SINCE 32-Jan-2006", "^BAD")}},
	{"9051-6.4.4/search-larger-smaller", "sel", false, []confStep{
		s("a SEARCH LARGER 1", "", `^\* SEARCH 1 2 3$`), s("b SEARCH SMALLER 1", "", `^\* SEARCH$`)}},
	{"9051-6.4.4/search-body-text", "sel", false, []confStep{
		s("a SEARCH BODY fox", "", `^\* SEARCH 1 3$`), s("b SEARCH TEXT Hello", "", `^\* SEARCH 1 3$`)}},
	{"9051-6.4.4/search-substring-case-insensitive", "sel", false, []confStep{
		s("a SEARCH SUBJECT HELLO", "", `^\* SEARCH 1 3$`)}},
	{"9051-6.4.4.1/search-return-min-max-count", "sel", true, []confStep{
		s("a SEARCH RETURN (MIN MAX COUNT) ALL", "", `^\* ESEARCH \(TAG "a"\) MIN 1 MAX 3 COUNT 3$`)}},
	{"9051-6.4.4.1/search-return-empty-result", "sel", true, []confStep{
		s("a SEARCH RETURN (MIN MAX) DRAFT", "", `^\* ESEARCH \(TAG "a"\)$`)}},
	{"9051-6.4.4.1/uid-search-esearch-uid", "sel", true, []confStep{
		s("a UID SEARCH RETURN (ALL) ALL", "", `^\* ESEARCH \(TAG "a"\) UID ALL 1:3$`)}},
	{"9051-6.4.4.2/search-save-and-dollar", "sel", true, []confStep{
		s("a SEARCH RETURN (SAVE) FLAGGED", "", `!ESEARCH`), s("b FETCH $ (FLAGS)", "", `^\* 2 FETCH \(FLAGS \(\\Flagged\)\)$`)}},
	{"9051-6.4.5/fetch-flags-and-uid", "sel", true, []confStep{
		s("a FETCH 1:3 (UID FLAGS)", "", `^\* 1 FETCH \(UID 1 FLAGS \(\)\)$`, `^\* 3 FETCH \(UID 3 FLAGS \(\\Seen \$Label\)\)$`)}},
	{"9051-6.4.5/fetch-internaldate-format", "sel", false, []confStep{
		s("a FETCH 1 INTERNALDATE", "", `^\* 1 FETCH \(INTERNALDATE "[ 0-3]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}"\)$`)}},
	{"9051-6.4.5/fetch-rfc822-size", "sel", false, []confStep{
		s("a FETCH 1 RFC822.SIZE", "", fmt.Sprintf(`^\* 1 FETCH \(RFC822.SIZE %d\)$`, len(simpleMsg)))}},
	{"9051-6.4.5/fetch-envelope", "sel", false, []confStep{
		s("a FETCH 1 ENVELOPE", "", `^\* 1 FETCH \(ENVELOPE \("Mon, 02 Jan 2006 15:04:05 \+0000" "Hello there" \(\("Alice" NIL "alice" "example.org"\)\) \(\("Alice" NIL "alice" "example.org"\)\) \(\("Alice" NIL "alice" "example.org"\)\) \(\("Bob" NIL "bob" "example.org"\)\) NIL NIL NIL "<one@example.org>"\)\)$`)}},
	{"9051-6.4.5/fetch-body-sets-seen", "sel", true, []confStep{
		s("a FETCH 1 BODY[]", "", `^\* 1 FETCH \(.*FLAGS \(\\Seen\)`), s("b FETCH 1 FLAGS", "", `\\Seen`)}},
	{"9051-6.4.5/fetch-body-peek-keeps-unseen", "sel", true, []confStep{
		s("a FETCH 1 BODY.PEEK[]", "", `!Seen`), s("b FETCH 1 FLAGS", "", `^\* 1 FETCH \(FLAGS \(\)\)$`)}},
	{"9051-6.4.5/fetch-partial-origin", "sel", false, []confStep{
		s("a FETCH 1 BODY.PEEK[]<0.4>", "", `^\* 1 FETCH \(BODY\[\]<0> \{4\}From\)$`)}},
	{"9051-6.4.5/fetch-partial-past-end-empty", "sel", false, []confStep{
		s("a FETCH 1 BODY.PEEK[]<100000.4>", "", `^\* 1 FETCH \(BODY\[\]<100000> (""|\{0\})\)$`)}},
	{"9051-6.4.5/fetch-header-fields", "sel", false, []confStep{
		s("a FETCH 1 BODY.PEEK[HEADER.FIELDS (subject)]", "", `^\* 1 FETCH \(BODY\[HEADER\.FIELDS \((?i:subject)\)\] \{24\}Subject: Hello there\r\n\r\n\)$`)}},
	{"9051-6.4.5/fetch-header-fields-not", "sel", false, []confStep{
		s("a FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (From To Date Message-ID)]", "", `\{24\}Subject: Hello there\r\n\r\n\)$`)}},
	{"9051-6.4.5/fetch-text", "sel", false, []confStep{
		s("a FETCH 1 BODY.PEEK[TEXT]", "", `^\* 1 FETCH \(BODY\[TEXT\] \{31\}Hi Bob,\r\nthe quick brown fox\.\r\n\)$`)}},
	{"9051-6.4.5/fetch-part-of-non-multipart", "sel", false, []confStep{
		s("a FETCH 1 BODY.PEEK[1]", "", `^\* 1 FETCH \(BODY\[1\] \{31\}Hi Bob,`)}},
	{"9051-6.4.5/fetch-part-mime", "sel", false, []confStep{
		s("a FETCH 2 BODY.PEEK[2.MIME]", "", `^\* 2 FETCH \(BODY\[2\.MIME\] \{\d+\}Content-Type: application/octet-stream`)}},
	{"9051-6.4.5/fetch-missing-part-empty", "sel", false, []confStep{
		s("a FETCH 2 BODY.PEEK[7]", "", `^\* 2 FETCH \(BODY\[7\] (""|NIL|\{0\})\)$`)}},
	{"9051-6.4.5/fetch-binary-decodes", "sel", false, []confStep{
		s("a FETCH 2 BINARY.PEEK[2]", "", `^\* 2 FETCH \(BINARY\[2\] ~\{5\}\x00\x01\x02\x03\x04\)$`),
		s("b FETCH 2 BINARY.SIZE[2]", "", `^\* 2 FETCH \(BINARY\.SIZE\[2\] 5\)$`)}},
	{"9051-6.4.5/fetch-bodystructure-text", "sel", false, []confStep{
		s("a FETCH 1 BODYSTRUCTURE", "", `^\* 1 FETCH \(BODYSTRUCTURE \("TEXT" "PLAIN" \("CHARSET" "(?i:us-ascii)"\) NIL NIL "7BIT" 31 2 `)}},
	{"9051-6.4.5/fetch-bodystructure-multipart", "sel", false, []confStep{
		s("a FETCH 2 BODYSTRUCTURE", "", `^\* 2 FETCH \(BODYSTRUCTURE \(\("TEXT" "PLAIN" \("CHARSET" "utf-8"\) NIL NIL "QUOTED-PRINTABLE" \d+ \d+ .*\)\("APPLICATION" "OCTET-STREAM" \("NAME" "data.bin"\) NIL NIL "BASE64" \d+ .*\) "MIXED" \("BOUNDARY" "b1"\)`)}},
	{"9051-6.4.5/fetch-body-non-extensible", "sel", false, []confStep{
		s("a FETCH 1 BODY", "", `^\* 1 FETCH \(BODY \("TEXT" "PLAIN" \("CHARSET" "(?i:us-ascii)"\) NIL NIL "7BIT" 31 2\)\)$`)}},
	{"9051-6.4.5/fetch-macros", "sel", true, []confStep{
		s("a FETCH 1 FAST", "", `^\* 1 FETCH \(FLAGS \(\) INTERNALDATE "[^"]+" RFC822\.SIZE \d+\)$`),
		s("b FETCH 1 ALL", "", `^\* 1 FETCH \(FLAGS \(\) INTERNALDATE "[^"]+" RFC822\.SIZE \d+ ENVELOPE \(`),
		s("c FETCH 1 FULL", "", `BODY \("TEXT"`)}},
	{"9051-6.4.5/fetch-out-of-range-bad", "sel", false, []confStep{
		s("a FETCH 4 FLAGS", "^BAD"), s("b FETCH 0 FLAGS", "^BAD")}},
	{"9051-6.4.5/fetch-star-is-last", "sel", false, []confStep{
		s("a FETCH * UID", "", `^\* 3 FETCH \(UID 3\)$`)}},
	{"9051-6.4.5/fetch-reversed-range", "sel", false, []confStep{
		s("a FETCH 3:2 UID", "", `^\* 2 FETCH \(UID 2\)$`, `^\* 3 FETCH \(UID 3\)$`)}},
	{"9051-6.4.5/fetch-unknown-item-bad", "sel", false, []confStep{
		s("a FETCH 1 COLOUR", "^BAD")}},
	{"9051-6.4.5/fetch-empty-list-bad", "sel", false, []confStep{
		s("a FETCH 1 ()", "^BAD")}},
	{"3501-6.4.5/fetch-rfc822-items", "sel", false, []confStep{
		s("a FETCH 1 RFC822.HEADER", "", `^\* 1 FETCH \(RFC822\.HEADER \{\d+\}From:`),
		s("b FETCH 1 RFC822.TEXT", "", `^\* 1 FETCH \(.*RFC822\.TEXT \{31\}Hi Bob`),
		s("c FETCH 3 RFC822", "", `RFC822 \{\d+\}From:`)}},
	{"9051-6.4.6/store-answers-flags", "sel", true, []confStep{
		s(`a STORE 1 +FLAGS (\Answered)`, "", `^\* 1 FETCH \((UID 1 )?FLAGS \(\\Answered\)( UID 1)?\)$`)}},
	{"9051-6.4.6/store-silent", "sel", false, []confStep{
		s(`a STORE 1 +FLAGS.SILENT (\Answered)`, "", `!FETCH`)}},
	{"9051-6.4.6/store-replace-and-remove", "sel", true, []confStep{
		s(`a STORE 3 FLAGS (\Draft)`, "", `^\* 3 FETCH \(FLAGS \(\\Draft\)\)$`),
		s(`b STORE 3 -FLAGS (\Draft)`, "", `^\* 3 FETCH \(FLAGS \(\)\)$`)}},
	{"9051-6.4.6/uid-store-includes-uid", "sel", true, []confStep{
		s(`a UID STORE 2 +FLAGS (\Seen)`, "", `^\* 2 FETCH \((UID 2 FLAGS \(\\Seen \\Flagged\)|FLAGS \(\\Seen \\Flagged\) UID 2|UID 2 FLAGS \(\\Flagged \\Seen\)|FLAGS \(\\Flagged \\Seen\) UID 2)\)$`)}},
	{"9051-6.4.6/store-recent-refused", "sel", false, []confStep{
		s(`a STORE 1 +FLAGS (\Recent)`, "^BAD")}},
	{"9051-6.4.6/store-unknown-system-flag-refused", "sel", false, []confStep{
		s(`a STORE 1 +FLAGS (\Colour)`, "^(BAD|NO)")}},
	{"9051-6.4.6/store-bad-operation-bad", "sel", false, []confStep{
		s(`a STORE 1 *FLAGS (\Seen)`, "^BAD")}},
	{"9051-6.4.7/copy-copyuid", "sel", false, []confStep{
		s("a CREATE Dest", ""), s("b COPY 1:2 Dest", `^OK \[COPYUID \d+ 1:2 1:2\]`), s("c STATUS Dest (MESSAGES)", "", `MESSAGES 2\)$`)}},
	{"9051-6.4.7/copy-keeps-flags", "sel", false, []confStep{
		s("a CREATE Dest", ""), s("b COPY 3 Dest", ""), s("c EXAMINE Dest", ""), s("d FETCH 1 FLAGS", "", `\\Seen \$Label`)}},
	{"9051-6.4.7/copy-nonexistent-trycreate", "sel", false, []confStep{
		s("a COPY 1 nosuch", `^NO \[TRYCREATE\]`)}},
	{"9051-6.4.8/move-expunges-and-copyuid", "sel", false, []confStep{
		s("a CREATE Dest", ""), s("b MOVE 2 Dest", "^OK", `^\* OK \[COPYUID \d+ 2 1\]`, `^\* 2 EXPUNGE$`),
		s("c FETCH 2 UID", "", `^\* 2 FETCH \(UID 3\)$`)}},
	{"9051-6.4.8/move-nonexistent-trycreate", "sel", false, []confStep{
		s("a MOVE 1 nosuch", `^NO \[TRYCREATE\]`)}},
	{"9051-6.4.9/uid-fetch-missing-uids-ignored", "sel", false, []confStep{
		s("a UID FETCH 7:9 FLAGS", "", `!FETCH`)}},
	{"9051-6.4.9/uid-fetch-star-is-last", "sel", false, []confStep{
		s("a UID FETCH 100:* FLAGS", "", `^\* 3 FETCH \(UID 3 FLAGS`)}},
	{"9051-6.4.9/uid-search-uid-set", "sel", false, []confStep{
		s("a UID SEARCH UID 2:*", "", `^\* SEARCH 2 3$`)}},
	{"9051-6.4.9/uid-unknown-command-bad", "sel", false, []confStep{
		s("a UID NOOP", "^BAD")}},
	{"9051-6.4.8/check-is-noop", "sel", false, []confStep{
		s("a CHECK", "")}},
	{"9051-6.5/unknown-command-bad", "auth", false, []confStep{
		s("a XYZZY", "^BAD"), s("b NOOP", "")}},

	{"9051-6.3.9/list-multiple-patterns", "auth", false, []confStep{
		s(`a LIST "" (INBOX Sent)`, "", `"/" INBOX$`, `"/" Sent$`, `!"/" Trash$`)}},
	{"9051-6.3.9/list-select-subscribed", "auth", false, []confStep{
		s("a CREATE Sub", ""), s("b SUBSCRIBE Sub", ""), s("c CREATE NotSub", ""),
		s(`d LIST (SUBSCRIBED) "" *`, "", `^\* LIST \(.*\\Subscribed.*\) "/" Sub$`, `!"/" NotSub$`)}},
	{"9051-6.3.9/list-return-children", "auth", false, []confStep{
		s("a CREATE x/y", ""), s(`b LIST "" x RETURN (CHILDREN)`, "", `^\* LIST \(\\HasChildren\) "/" x$`)}},
	{"9051-6.3.9/list-unknown-selection-option-bad", "auth", false, []confStep{
		s(`a LIST (COLOUR) "" *`, "^BAD")}},
	{"9051-6.3.9/list-return-status", "auth", false, []confStep{
		s(`a LIST "" INBOX RETURN (STATUS (MESSAGES))`, "", `^\* LIST .* INBOX$`, `^\* STATUS INBOX \(MESSAGES 0\)$`)}},
	{"9051-6.3.4/create-wildcard-name-no", "auth", false, []confStep{
		s(`a CREATE "a*b"`, "^NO"), s(`b CREATE "a%b"`, "^NO")}},
	{"9051-6.3.4/create-empty-name-refused", "auth", false, []confStep{
		s(`a CREATE ""`, "^(NO|BAD)")}},
	{"9051-6.3.6/rename-under-itself", "auth", false, []confStep{
		s("a CREATE r1", ""), s("b APPEND r1 {5+}\r\nHi\r\n\r\n", ""), s("c RENAME r1 r1/r2", ""),
		s(`d LIST "" r1*`, "", `^\* LIST \(.*\) "/" r1/r2$`), s("e STATUS r1/r2 (MESSAGES)", "", `MESSAGES 1\)$`)}},
	{"9051-6.3.11/status-selected-mailbox", "sel", false, []confStep{
		s("a STATUS INBOX (MESSAGES)", "", `^\* STATUS INBOX \(MESSAGES 3\)$`)}},
	{"9051-6.3.12/append-too-big-toobig", "auth", false, []confStep{
		s("a APPEND INBOX {2000000}\r\n", `^NO \[TOOBIG\]`), s("b NOOP", "")}},
	{"9051-6.3.12/append-to-other-mailbox-no-exists", "sel", false, []confStep{
		s("a APPEND Trash {5+}\r\nHi\r\n\r\n", "", `!EXISTS`)}},
	{"9051-6.3.2/select-flags-lists-keywords", "sel", false, []confStep{
		s("a SELECT INBOX", "", `^\* FLAGS \(.*\$Label.*\)$`)}},
	{"9051-6.3.3/examine-then-select-read-write", "sel", false, []confStep{
		s("a EXAMINE INBOX", `^OK \[READ-ONLY\]`), s("b SELECT INBOX", `^OK \[READ-WRITE\]`), s(`c STORE 1 +FLAGS (\Seen)`, "")}},
	{"9051-6.4.4/search-literal-argument", "sel", false, []confStep{
		s("a SEARCH SUBJECT {5+}\r\nhello", "", `^\* SEARCH 1 3$`)}},
	{"9051-6.4.4/search-not-all-empty", "sel", false, []confStep{
		s("a SEARCH NOT ALL", "", `^\* SEARCH$`)}},
	{"9051-6.4.4/search-empty-mailbox", "auth", false, []confStep{
		s("a SELECT Trash", ""), s("b SEARCH ALL", "", `^\* SEARCH$`)}},
	{"9051-6.4.4/search-missing-argument-bad", "sel", false, []confStep{
		s("a SEARCH SUBJECT", "^BAD"), s("b SEARCH", "^BAD")}},
	{"9051-6.4.5/fetch-binary-bad-encoding-unknown-cte", "auth", true, []confStep{
		s("a APPEND INBOX {71+}\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-unknown\r\n\r\nabc\r\n", ""),
		s("b SELECT INBOX", ""), s("c FETCH 1 BINARY.PEEK[1]", `^NO \[UNKNOWN-CTE\]`)}},
	{"9051-6.4.5/fetch-header-partial", "sel", false, []confStep{
		s("a FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject)]<0.7>", "", `^\* 1 FETCH \(BODY\[HEADER\.FIELDS \((?i:subject)\)\]<0> \{7\}Subject\)$`)}},
	{"9051-6.4.5/fetch-nested-missing-part", "sel", false, []confStep{
		s("a FETCH 2 BODY.PEEK[1.2.3]", "", `^\* 2 FETCH \(BODY\[1\.2\.3\] (""|NIL|\{0\})\)$`)}},
	{"9051-6.4.5/fetch-partial-number-overflow-bad", "sel", false, []confStep{
		s("a FETCH 1 BODY.PEEK[]<0.99999999999>", "^BAD")}},
	{"9051-6.4.5/uid-fetch-adds-uid", "sel", false, []confStep{
		s("a UID FETCH 2 FLAGS", "", `^\* 2 FETCH \(.*UID 2.*\)$`)}},
	{"9051-6.4.6/store-unchangedsince-modified", "sel", false, []confStep{
		s("a FETCH 1 MODSEQ", "", `^\* 1 FETCH \(MODSEQ \(\d+\)\)$`), s(`b STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\Seen)`, `^OK \[MODIFIED 1\]`)}},
	{"9051-7.3.1/exists-after-other-session-append", "sel", false, []confStep{
		s("B:a APPEND INBOX {5+}\r\nHi\r\n\r\n", ""), s("b NOOP", "", `^\* 4 EXISTS$`)}},
	{"9051-7.4.1/no-expunge-during-fetch-store-search", "sel", false, []confStep{
		s("B:a SELECT INBOX", ""), s(`B:b STORE 1 +FLAGS.SILENT (\Deleted)`, ""), s("B:c EXPUNGE", ""),
		s("d FETCH 1:3 UID", "", `!EXPUNGE`, `^\* 3 FETCH \(UID 3\)$`), s(`e STORE 3 +FLAGS.SILENT (\Answered)`, "", `!EXPUNGE`),
		s("f SEARCH ALL", "", `!EXPUNGE`), s("g NOOP", "", `^\* 1 EXPUNGE$`), s("h FETCH 3 UID", "^BAD")}},
	{"9051-7.4.1/uid-commands-may-get-expunge", "sel", false, []confStep{
		s("B:a SELECT INBOX", ""), s(`B:b STORE 1 +FLAGS.SILENT (\Deleted)`, ""), s("B:c EXPUNGE", ""),
		s("d UID FETCH 1:* UID", "", `^\* 1 EXPUNGE$`, `^\* [23] FETCH \(UID 3\)$`), s("e FETCH 2 UID", "", `^\* 2 FETCH \(UID 3\)$`)}},
	{"9051-7.5.2/unsolicited-flags-after-other-store", "sel", true, []confStep{
		s("B:a SELECT INBOX", ""), s(`B:b STORE 1 +FLAGS.SILENT (\Answered)`, ""), s("c NOOP", "", `^\* 1 FETCH \((UID 1 )?FLAGS \(\\Answered\)( UID 1)?\)$`)}},
	{"9051-6.3.5/other-session-selected-mailbox-deleted-bye", "auth", false, []confStep{
		s("a CREATE Gone", ""), s("b SELECT Gone", ""), s("B:c DELETE Gone", ""), s("d NOOP", "BYE")}},

	{"3501-6.4.5/fetch-rfc822-sets-seen", "sel", false, []confStep{
		s("a FETCH 1 RFC822.HEADER", "", `!Seen`), s("b FETCH 1 RFC822", "", `\\Seen`)}},
	{"3501-6.4.5/fetch-rfc822-peek-bad", "sel", false, []confStep{
		s("a FETCH 1 RFC822.PEEK", "^BAD")}},
	{"3501-9/fetch-unclosed-list-bad", "sel", false, []confStep{
		s("a FETCH 1 (FLAGS", "^BAD"), s("b NOOP", "")}},
	{"9051-6.3.2/select-rev2-no-unseen-recent", "sel", true, []confStep{
		s("a SELECT INBOX", "", `!UNSEEN`, `!RECENT`)}},
	{"9051-6.3.2/select-nonexistent-nonexistent-code", "auth", false, []confStep{
		s("a SELECT nosuch", `^NO \[NONEXISTENT\]`)}},
	{"9051-6.3.13/idle-other-than-done-bad", "auth", false, []confStep{
		s("a IDLE\r\nNOTDONE", "^BAD"), s("b NOOP", "")}},
	{"9051-6.3.13/idle-done-any-case", "auth", false, []confStep{
		s("a IDLE\r\ndone", "")}},
	{"9051-6.2.2/authenticate-plain-continuation", "none", false, []confStep{
		s("a AUTHENTICATE PLAIN\r\n"+plainIR(testUser, testPass), ""), s("b SELECT INBOX", "")}},
	{"9051-6.2.2/authenticate-bad-base64-bad", "none", false, []confStep{
		s("a AUTHENTICATE PLAIN\r\n!!!", "^BAD"), s("b NOOP", "")}},
	{"9051-6.4.7/copy-out-of-range-bad", "sel", false, []confStep{
		s("a COPY 9 Trash", "^BAD")}},
	{"9051-6.4.9/uid-copy-missing-uids-ok", "sel", false, []confStep{
		s("a UID COPY 100:200 Trash", "^OK"), s("b STATUS Trash (MESSAGES)", "", `MESSAGES 0\)$`)}},
	{"9051-6.4.9/uid-store-missing-uids-ok", "sel", false, []confStep{
		s(`a UID STORE 100:200 +FLAGS (\Seen)`, "^OK", `!FETCH`)}},
	{"9051-6.4.9/uid-move-missing-uids-ok", "sel", false, []confStep{
		s("a UID MOVE 100:200 Trash", "^OK", `!EXPUNGE`)}},
	{"9051-7.1/fetch-after-other-expunge", "sel", false, []confStep{
		s("B:a SELECT INBOX", ""), s(`B:b STORE 1 +FLAGS.SILENT (\Deleted)`, ""), s("B:c EXPUNGE", ""),
		s("d FETCH 1 BODY.PEEK[]", `^(OK|NO \[EXPUNGEISSUED\])`), s("e NOOP", "", `^\* 1 EXPUNGE$`)}},
	{"9051-6.4.5/fetch-message-rfc822-part", "auth", false, []confStep{
		s("a APPEND INBOX {157+}\r\nSubject: outer\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"+
			"From: Inner <in@example.org>\r\nSubject: inner\r\nMessage-ID: <in@example.org>\r\n\r\ninner body\r\n", ""),
		s("b SELECT INBOX", ""),
		s("c FETCH 1 BODYSTRUCTURE", "", `^\* 1 FETCH \(BODYSTRUCTURE \("MESSAGE" "RFC822" NIL NIL NIL "7BIT" \d+ \(NIL "inner" \(\("Inner" NIL "in" "example.org"\)\) .*\) \("TEXT" "PLAIN" .*\) \d+ `),
		s("d FETCH 1 BODY.PEEK[1.HEADER]", "", `^\* 1 FETCH \(BODY\[1\.HEADER\] \{\d+\}From: Inner`),
		s("e FETCH 1 BODY.PEEK[1.TEXT]", "", `^\* 1 FETCH \(BODY\[1\.TEXT\] \{12\}inner body\r\n\)$`)}},

	// Section 7: responses.
	{"9051-7.1/tagged-response-echoes-tag", "none", false, []confStep{
		s("Tag.9 NOOP", "^OK")}},
	{"9051-7.1.2/no-keeps-session", "auth", false, []confStep{
		s("a SELECT nosuch", "^NO"), s("b SELECT INBOX", "")}},
	{"9051-7.1.5/logout-bye", "sel", false, []confStep{
		s("a LOGOUT", "", `^\* BYE `)}},
	{"9051-7.2.2/capability-after-login", "auth", false, []confStep{
		s("a CAPABILITY", "", `!AUTH=PLAIN`, `!LOGINDISABLED`)}},
	{"9051-7.3.1/exists-after-append-elsewhere", "sel", false, []confStep{
		s("a APPEND INBOX {5+}\r\nHi\r\n\r\n", "", `^\* 4 EXISTS$`), s("b NOOP", "", `!EXISTS`)}},
	{"9051-7.5.1/no-expunge-during-fetch", "sel", false, []confStep{
		s(`a STORE 1 +FLAGS.SILENT (\Deleted)`, ""), s("b UID EXPUNGE 1", "", `^\* 1 EXPUNGE$`), s("c FETCH 1 UID", "", `^\* 1 FETCH \(UID 2\)$`)}},
	{"9051-7.5.2/fetch-flags-seen-on-body", "sel", true, []confStep{
		s("a FETCH 2 BODY[TEXT]", "", `FLAGS \(\\Seen \\Flagged\)|FLAGS \(\\Flagged \\Seen\)`)}},

	// Section 9: formal syntax.
	{"9051-9/command-names-case-insensitive", "none", false, []confStep{
		s("a capability", ""), s(`b login alice@example.org "secret password"`, ""), s("c select inbox", ""), s("d uid fetch 1:* flags", "")}},
	{"9051-9/missing-tag-untagged-bad", "none", false, []confStep{
		s("", "*")}},
	{"9051-9/tag-with-plus-bad", "none", false, []confStep{
		s("a+ NOOP", "*")}},
	{"9051-9/double-space-bad", "none", false, []confStep{
		s("a  NOOP", "^BAD"), s("b NOOP", "")}},
	{"9051-9/trailing-space-bad", "auth", false, []confStep{
		s("a SELECT INBOX ", "^BAD")}},
	{"9051-9/quoted-escapes", "auth", false, []confStep{
		s(`a CREATE "back\\slash"`, ""), s(`b LIST "" "back\\*"`, "", `"back\\\\slash"$`)}},
	{"9051-9/quoted-bad-escape-bad", "auth", false, []confStep{
		s(`a CREATE "bad\qescape"`, "^BAD")}},
	{"9051-9/quoted-no-crlf", "auth", false, []confStep{
		s(`a CREATE "unterminated`, "^BAD"), s("b NOOP", "")}},
	{"9051-9/astring-literal", "auth", false, []confStep{
		s("a CREATE {4+}\r\nLitr", ""), s(`b LIST "" Litr`, "", `"/" Litr$`)}},
	{"9051-9/literal-nul-bad", "auth", false, []confStep{
		s("a CREATE {3+}\r\na\x00b", "^(BAD|NO)"), s("b NOOP", "")}},
	{"9051-9/literal8-in-astring-bad", "auth", false, []confStep{
		s("a CREATE ~{3+}\r\nabc", "^BAD"), s("b NOOP", "")}},
	{"9051-9/sequence-zero-bad", "sel", false, []confStep{
		s("a FETCH 0:1 FLAGS", "^BAD"), s("b UID FETCH 0 FLAGS", "^BAD")}},
	{"9051-9/sequence-set-list", "sel", false, []confStep{
		s("a FETCH 1,3 UID", "", `^\* 1 FETCH \(UID 1\)$`, `^\* 3 FETCH \(UID 3\)$`, `!^\* 2 FETCH`)}},
	{"9051-9/sequence-number-overflow-bad", "sel", false, []confStep{
		s("a UID FETCH 4294967296 FLAGS", "^BAD")}},
	{"9051-9/sequence-garbage-bad", "sel", false, []confStep{
		s("a FETCH 1:x FLAGS", "^BAD"), s("b FETCH 1,,2 FLAGS", "^BAD")}},
	{"9051-9/flag-keyword-atom", "sel", true, []confStep{
		s(`a STORE 1 +FLAGS (Work)`, "", `^\* 1 FETCH \(FLAGS \(Work\)\)$`)}},
	{"9051-9/flag-keyword-not-atom-bad", "sel", false, []confStep{
		s(`a STORE 1 +FLAGS ("two words")`, "^BAD")}},
	{"9051-9/mailbox-inbox-case-insensitive", "auth", false, []confStep{
		s("a STATUS iNbOx (MESSAGES)", "", `^\* STATUS INBOX \(MESSAGES 0\)$`)}},
	{"9051-9/date-day-one-digit", "sel", false, []confStep{
		s("a SEARCH SINCE 1-Jan-2006", "", `^\* SEARCH 1 2 3$`), s("b SEARCH SINCE 01-Jan-2006", "", `^\* SEARCH 1 2 3$`),
		s(`c SEARCH SINCE "1-Jan-2006"`, "", `^\* SEARCH 1 2 3$`)}},
	{"9051-9/date-time-needs-zone", "auth", false, []confStep{
		s(`a APPEND INBOX "17-Jul-1996 02:44:25" {5+}`+"\r\nHi\r\n\r\n", `^BAD`)}},
	{"9051-9/section-part-zero-bad", "sel", false, []confStep{
		s("a FETCH 1 BODY[0]", "^BAD")}},
	{"9051-9/partial-zero-length", "sel", false, []confStep{
		s("a FETCH 1 BODY.PEEK[]<0.0>", "^(OK|BAD)")}},
	{"9051-9/header-fields-needs-list", "sel", false, []confStep{
		s("a FETCH 1 BODY[HEADER.FIELDS ()]", "^BAD"), s("b FETCH 1 BODY[HEADER.FIELDS Subject]", "^BAD")}},
	{"9051-9/status-att-response-order", "auth", false, []confStep{
		s("a STATUS INBOX (UIDNEXT MESSAGES)", "", `^\* STATUS INBOX \(UIDNEXT 1 MESSAGES 0\)$`)}},
	{"9051-9/list-mailbox-wildcards-in-quoted", "auth", false, []confStep{
		s(`a LIST "" "*"`, "", `"/" INBOX$`)}},
	{"9051-9/mod-utf7-in-rev1-names", "auth", false, []confStep{
		s("a CREATE Caf&AOk-", ""), s(`b LIST "" Caf*`, "", `"/" Caf&AOk-$`), s("c ENABLE IMAP4rev2", ""), s(`d LIST "" Caf*`, "", `"/" "Café"$`)}},
	// 8-bit in a rev1 quoted string is outside RFC 3501's grammar; it is
	// taken as UTF-8 because go-imap v2 sends UTF-8 names to any server
	// that lists IMAP4rev2, enabled or not.
	{"9051-9/mailbox-utf8-in-rev1-accepted", "auth", false, []confStep{
		s(`a CREATE "Café"`, ""), s(`b LIST "" Caf*`, "", `"/" Caf&AOk-$`)}},
}

// plainIR is a SASL PLAIN initial response.
func plainIR(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func TestConformance(t *testing.T) {
	for _, r := range confRules {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			rc := e.raw(t)
			if r.state != "none" {
				rc.login()
			}
			if r.rev2 {
				rc.ok("e ENABLE IMAP4rev2")
			}
			if r.state == "sel" {
				for _, m := range confMsgs {
					rc.appendMsg("INBOX", m.flags, m.msg)
				}
				rc.ok("s SELECT INBOX")
			}
			var other *rawConn // a second session of the same user, for steps "B:..."
			for _, st := range r.steps {
				if cmd, ok := strings.CutPrefix(st.cmd, "B:"); ok {
					if other == nil {
						other = e.raw(t)
						other.login()
					}
					st.cmd = cmd
					runConfStep(t, other, st)
					continue
				}
				runConfStep(t, rc, st)
			}
		})
	}
}

var literalAtEnd = regexp.MustCompile(`~?\{(\d+)(\+?)\}$`)

func runConfStep(t *testing.T, rc *rawConn, st confStep) {
	t.Helper()
	tag, _, _ := strings.Cut(st.cmd, " ")
	// The command goes out line by line: on after a non-synchronizing
	// literal, after the server's continuation request otherwise (a
	// synchronizing literal, or a line IDLE or AUTHENTICATE awaits).
	rest, pos := st.cmd, 0
	var untagged []string
	tagged := ""
	for tagged == "" {
		i := strings.Index(rest[pos:], "\r\n")
		if i < 0 {
			break
		}
		if m := literalAtEnd.FindStringSubmatch(rest[pos : pos+i]); m != nil && m[2] == "+" {
			n, _ := strconv.Atoi(m[1])
			if pos += i + 2 + n; pos > len(rest) {
				t.Fatalf("%q: literal longer than the text", st.cmd)
			}
			continue
		}
		rc.send(rest[:pos+i+2])
		n := 0
		if m := literalAtEnd.FindStringSubmatch(rest[pos : pos+i]); m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		rest, pos = rest[pos+i+2:], n
		if l := rc.line(); !strings.HasPrefix(l, "+") {
			tagged = l
		}
	}
	if tagged == "" {
		rc.send(rest + "\r\n")
		if st.tagged == "BYE" {
			// The server ends the session: a BYE, and no tagged response.
			for l := rc.line(); !strings.HasPrefix(l, "* BYE "); l = rc.line() {
				if strings.HasPrefix(l, tag+" ") {
					t.Fatalf("%q: got %q, want BYE", st.cmd, l)
				}
			}
			return
		}
		if st.tagged == "*" {
			l := rc.line()
			if !strings.HasPrefix(l, "* BAD") {
				t.Fatalf("%q: got %q, want an untagged BAD", st.cmd, l)
			}
			return
		}
		untagged, tagged = rc.until(tag)
	}
	got := strings.TrimPrefix(tagged, tag+" ")
	want := st.tagged
	if want == "" {
		want = "^OK"
	}
	if !regexp.MustCompile(want).MatchString(got) {
		t.Fatalf("%q: tagged %q, want %s (untagged %q)", st.cmd, tagged, want, untagged)
	}
	for _, h := range st.has {
		neg := strings.HasPrefix(h, "!")
		re := regexp.MustCompile(strings.TrimPrefix(h, "!"))
		found := false
		for _, l := range untagged {
			if re.MatchString(l) {
				found = true
				break
			}
		}
		if found == neg {
			if neg {
				t.Fatalf("%q: an untagged line matches %s: %q", st.cmd, re, untagged)
			}
			t.Fatalf("%q: no untagged line matches %s: %q", st.cmd, re, untagged)
		}
	}
}
