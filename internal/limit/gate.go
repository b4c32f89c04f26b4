package limit

// Reasons a Gate refuses a connection; they label the refusal metric and
// the log line.
const (
	RefusedTotal       = "server_full"   // the server's cap on all connections
	RefusedProtocol    = "protocol_full" // the protocol's cap
	RefusedAddress     = "address"       // the client address's cap
	RefusedUserAddress = "user_address"  // one account's cap from one address, at login
)

// Gate admits the connections of one protocol within caps on the
// server's total, the protocol's, each client address's and, at login, each
// account's from one address (Dovecot's mail_max_userip_connections). The
// per-address cap is a high ceiling: many users share one address behind
// carrier NAT and offices, so the cap that holds one user is the account's.
// A nil Gate, or a nil cap, admits everything.
type Gate struct {
	Protocol    string // label of refusals, such as "imap"
	Total       *Conns // shared by every protocol's Gate; key ""
	Proto       *Conns // key ""
	PerAddress  *Conns // key: Key of the client address
	PerUserAddr *Conns // key: account and client address
	// Refused, when set, is told of every refusal.
	Refused func(protocol, reason string)
}

// Admit takes a slot for a new connection from addr (a Key). It returns
// the reason when the connection must be refused; otherwise release must
// be called once when the connection ends.
func (g *Gate) Admit(addr string) (release func(), reason string) {
	if g == nil {
		return func() {}, ""
	}
	var held []func()
	release = func() {
		for _, r := range held {
			r()
		}
	}
	for _, c := range []struct {
		conns  *Conns
		key    string
		reason string
	}{
		{g.PerAddress, addr, RefusedAddress},
		{g.Proto, "", RefusedProtocol},
		{g.Total, "", RefusedTotal},
	} {
		if c.conns == nil {
			continue
		}
		r, ok := c.conns.Acquire(c.key)
		if !ok {
			release()
			g.refused(c.reason)
			return nil, c.reason
		}
		held = append(held, r)
	}
	return release, ""
}

// Login takes a slot for an account logged in from addr. It returns false
// when the account has its cap of connections from addr; otherwise
// release must be called once when the session ends.
func (g *Gate) Login(account, addr string) (release func(), ok bool) {
	if g == nil || g.PerUserAddr == nil {
		return func() {}, true
	}
	release, ok = g.PerUserAddr.Acquire(account + "\x00" + addr)
	if !ok {
		g.refused(RefusedUserAddress)
	}
	return release, ok
}

func (g *Gate) refused(reason string) {
	if g.Refused != nil {
		g.Refused(g.Protocol, reason)
	}
}
