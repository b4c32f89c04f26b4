package pop3

// handler runs one command; a non-nil error ends the session after the
// queued replies are flushed.
type handler struct {
	fn     func(*session, command) error
	states map[state]bool
}

var (
	authorization = map[state]bool{stateAuthorization: true}
	transaction   = map[state]bool{stateTransaction: true}
	anyState      = map[state]bool{stateAuthorization: true, stateTransaction: true}
)

// commands is the protocol surface: each command with the states it is
// allowed in.
var commands = map[string]handler{
	"CAPA": {(*session).cmdCapa, anyState},      // RFC 2449 section 5
	"QUIT": {(*session).cmdQuit, anyState},      // RFC 1939 sections 5 and 6
	"NOOP": {(*session).cmdNoop, transaction},   // RFC 1939 section 5
	"USER": {(*session).cmdUser, authorization}, // RFC 1939 section 7
	"PASS": {(*session).cmdPass, authorization}, // RFC 1939 section 7
	"AUTH": {(*session).cmdAuth, authorization}, // RFC 5034
	"STLS": {(*session).cmdStls, authorization}, // RFC 2595 section 4
	"STAT": {(*session).cmdStat, transaction},   // RFC 1939 section 5
	"LIST": {(*session).cmdList, transaction},   // RFC 1939 section 5
	"UIDL": {(*session).cmdUidl, transaction},   // RFC 1939 section 7
	"RETR": {(*session).cmdRetr, transaction},   // RFC 1939 section 5
	"TOP":  {(*session).cmdTop, transaction},    // RFC 1939 section 7
	"DELE": {(*session).cmdDele, transaction},   // RFC 1939 section 5
	"RSET": {(*session).cmdRset, transaction},   // RFC 1939 section 5
}

// cmdCapa lists the capabilities (RFC 2449 section 5), one per line, each
// with the RFC it comes from. Login capabilities are listed only in the
// AUTHORIZATION state, and only when a password may be sent now.
func (ss *session) cmdCapa(command) error {
	ss.reply("+OK capability list follows")
	ss.reply("TOP")            // RFC 2449 section 6.1
	ss.reply("UIDL")           // RFC 2449 section 6.7
	ss.reply("RESP-CODES")     // RFC 2449 section 6.4
	ss.reply("AUTH-RESP-CODE") // RFC 3206 section 6
	ss.reply("PIPELINING")     // RFC 2449 section 6.6
	if ss.state == stateAuthorization {
		if ss.plainAllowed() {
			ss.reply("USER")       // RFC 2449 section 6.2
			ss.reply("SASL PLAIN") // RFC 2449 section 6.3, RFC 5034
		}
		if ss.s.TLS != nil && !ss.isTLS {
			ss.reply("STLS") // RFC 2595 section 4
		}
	}
	ss.reply("IMPLEMENTATION Casella") // RFC 2449 section 6.9
	ss.reply(".")
	return nil
}

func (ss *session) cmdNoop(command) error {
	ss.reply("+OK")
	return nil
}
