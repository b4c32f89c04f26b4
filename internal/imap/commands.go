package imap

import (
	"strconv"
	"strings"
)

// handler executes one command. It parses the command's arguments with
// c.p up to and including the final CRLF, then acts.
type handler struct {
	fn     func(c *conn, cmd *command) error
	states state
	// keepSeqs: no EXPUNGE may be sent while the command is answered
	// (RFC 9051 section 7.5.1).
	keepSeqs bool
	// noUpdates: the command writes its own untagged updates, or none.
	noUpdates bool
}

const (
	anyState = stateNotAuth | stateAuth | stateSelected
	authed   = stateAuth | stateSelected
	selected = stateSelected
)

// commands is the whole protocol surface: every command, and the states
// in which it is allowed.
var commands = map[string]handler{
	// Any state (RFC 9051 section 6.1).
	"CAPABILITY": {fn: (*conn).cmdCapability, states: anyState},
	"NOOP":       {fn: (*conn).cmdNoop, states: anyState},
	"LOGOUT":     {fn: (*conn).cmdLogout, states: anyState, noUpdates: true},
	"ID":         {fn: (*conn).cmdID, states: anyState}, // RFC 2971

	// Not authenticated (section 6.2).
	"STARTTLS":     {fn: (*conn).cmdStartTLS, states: stateNotAuth},
	"LOGIN":        {fn: (*conn).cmdLogin, states: stateNotAuth},
	"AUTHENTICATE": {fn: (*conn).cmdAuthenticate, states: stateNotAuth},

	// Authenticated (section 6.3).
	"ENABLE":      {fn: (*conn).cmdEnable, states: authed}, // RFC 5161
	"SELECT":      {fn: (*conn).cmdSelect, states: authed, noUpdates: true},
	"EXAMINE":     {fn: (*conn).cmdSelect, states: authed, noUpdates: true},
	"CREATE":      {fn: (*conn).cmdCreate, states: authed},
	"DELETE":      {fn: (*conn).cmdDelete, states: authed},
	"RENAME":      {fn: (*conn).cmdRename, states: authed},
	"SUBSCRIBE":   {fn: (*conn).cmdSubscribe, states: authed},
	"UNSUBSCRIBE": {fn: (*conn).cmdSubscribe, states: authed},
	"LIST":        {fn: (*conn).cmdList, states: authed},
	"LSUB":        {fn: (*conn).cmdList, states: authed},
	"NAMESPACE":   {fn: (*conn).cmdNamespace, states: authed}, // RFC 2342
	"STATUS":      {fn: (*conn).cmdStatus, states: authed},
	"ESEARCH":     {fn: (*conn).cmdESearch, states: authed, keepSeqs: true}, // RFC 7377
	"APPEND":      {fn: (*conn).cmdAppend, states: authed},
	"IDLE":        {fn: (*conn).cmdIdle, states: authed, noUpdates: true}, // RFC 2177
	"NOTIFY":      {fn: (*conn).cmdNotify, states: authed},                // RFC 5465
	"GETMETADATA": {fn: (*conn).cmdGetMetadata, states: authed},           // RFC 5464
	"SETMETADATA": {fn: (*conn).cmdSetMetadata, states: authed},           // RFC 5464

	"GETQUOTA":     {fn: (*conn).cmdGetQuota, states: authed},     // RFC 9208
	"GETQUOTAROOT": {fn: (*conn).cmdGetQuotaRoot, states: authed}, // RFC 9208
	"SETQUOTA":     {fn: (*conn).cmdSetQuota, states: authed},     // RFC 9208

	// Selected (section 6.4).
	"CHECK":       {fn: (*conn).cmdNoop, states: selected},
	"CLOSE":       {fn: (*conn).cmdClose, states: selected, noUpdates: true},
	"UNSELECT":    {fn: (*conn).cmdClose, states: selected, noUpdates: true}, // RFC 3691
	"EXPUNGE":     {fn: (*conn).cmdExpunge, states: selected},
	"UID EXPUNGE": {fn: (*conn).cmdExpunge, states: selected}, // RFC 4315
	"SEARCH":      {fn: (*conn).cmdSearch, states: selected, keepSeqs: true},
	"UID SEARCH":  {fn: (*conn).cmdSearch, states: selected},
	"FETCH":       {fn: (*conn).cmdFetch, states: selected, keepSeqs: true},
	"UID FETCH":   {fn: (*conn).cmdFetch, states: selected},
	"STORE":       {fn: (*conn).cmdStore, states: selected, keepSeqs: true},
	"UID STORE":   {fn: (*conn).cmdStore, states: selected},
	"COPY":        {fn: (*conn).cmdCopy, states: selected},
	"UID COPY":    {fn: (*conn).cmdCopy, states: selected},
	"MOVE":        {fn: (*conn).cmdCopy, states: selected}, // RFC 6851
	"UID MOVE":    {fn: (*conn).cmdCopy, states: selected},
	"REPLACE":     {fn: (*conn).cmdReplace, states: selected}, // RFC 8508
	"UID REPLACE": {fn: (*conn).cmdReplace, states: selected},
	"SORT":        {fn: (*conn).cmdSort, states: selected, keepSeqs: true}, // RFC 5256
	"UID SORT":    {fn: (*conn).cmdSort, states: selected},
	"THREAD":      {fn: (*conn).cmdThread, states: selected, keepSeqs: true}, // RFC 5256
	"UID THREAD":  {fn: (*conn).cmdThread, states: selected},

	"CANCELUPDATE": {fn: (*conn).cmdCancelUpdate, states: selected}, // RFC 5267 section 4.2

	// Authenticated or selected (RFC 4978 section 3).
	"COMPRESS": {fn: (*conn).cmdCompress, states: authed, noUpdates: true},
}

// capabilities lists what the server offers in the session's current
// state (RFC 9051 section 7.2.2).
func (c *conn) capabilities() string {
	caps := []string{
		"IMAP4rev1",          // RFC 3501
		"IMAP4rev2",          // RFC 9051, after ENABLE IMAP4rev2
		"LITERAL+",           // RFC 7888
		"SASL-IR",            // RFC 4959
		"ID",                 // RFC 2971
		"ENABLE",             // RFC 5161
		"IDLE",               // RFC 2177
		"NAMESPACE",          // RFC 2342
		"UNSELECT",           // RFC 3691
		"UIDPLUS",            // RFC 4315
		"MOVE",               // RFC 6851
		"CHILDREN",           // RFC 3348
		"SPECIAL-USE",        // RFC 6154
		"CREATE-SPECIAL-USE", // RFC 6154 section 3
		"LIST-EXTENDED",      // RFC 5258
		"LIST-STATUS",        // RFC 5819
		"STATUS=SIZE",        // RFC 8438
		"ESEARCH",            // RFC 4731
		"MULTISEARCH",        // RFC 7377
		"SEARCHRES",          // RFC 5182
		"WITHIN",             // RFC 5032
		"CONDSTORE",          // RFC 7162
		"QRESYNC",            // RFC 7162
		"OBJECTID",           // RFC 8474
		"SAVEDATE",           // RFC 8514
		"BINARY",             // RFC 3516
		"MULTIAPPEND",        // RFC 3502
		"CATENATE",           // RFC 4469
		"APPENDLIMIT=" + strconv.FormatInt(c.srv.maxLiteral(), 10), // RFC 7889
		"UTF8=ACCEPT",       // RFC 6855
		"QUOTA",             // RFC 9208
		"QUOTA=RES-STORAGE", // RFC 9208 section 5.1

		"SORT",                  // RFC 5256
		"SORT=DISPLAY",          // RFC 5957
		"ESORT",                 // RFC 5267
		"CONTEXT=SEARCH",        // RFC 5267
		"CONTEXT=SORT",          // RFC 5267
		"THREAD=ORDEREDSUBJECT", // RFC 5256
		"THREAD=REFERENCES",     // RFC 5256
		"COMPRESS=DEFLATE",      // RFC 4978
		"PREVIEW",               // RFC 8970
		"REPLACE",               // RFC 8508
		"UIDONLY",               // RFC 9586
		"NOTIFY",                // RFC 5465
		"METADATA",              // RFC 5464, server and mailbox annotations
	}
	if c.srv.TLS != nil && !c.tls && c.state == stateNotAuth {
		caps = append(caps, "STARTTLS") // RFC 9051 section 6.2.1
	}
	if c.state == stateNotAuth {
		if c.plainAllowed() {
			caps = append(caps, "AUTH=PLAIN") // RFC 4616
		} else {
			caps = append(caps, "LOGINDISABLED") // RFC 9051 section 6.2.3
		}
	}
	return strings.Join(caps, " ")
}

// plainAllowed reports whether a password may be sent on this connection:
// over TLS, or in the clear from loopback when configured.
func (c *conn) plainAllowed() bool {
	return c.tls || c.loopback && c.srv.AllowPlainLoopback
}
