package imap

import "casella/internal/limit"

// refusedText says why a connection is refused, in its BYE
// (RFC 5530 UNAVAILABLE: a temporary condition).
var refusedText = map[string]string{
	limit.RefusedTotal:    "Server busy, try again later",
	limit.RefusedProtocol: "Too many IMAP connections, try again later",
	limit.RefusedAddress:  "Too many connections from your address, try again later",
}

// admitLogin takes the account's connection slot for this client address
// (Dovecot's mail_max_userip_connections) once its credentials are good.
func (c *conn) admitLogin(account string) error {
	release, ok := c.srv.Conns.Login(account, c.remote)
	if !ok {
		c.log.Info("login refused", "reason", limit.RefusedUserAddress, "account", account)
		return errNo("LIMIT", "Too many connections for %s from your address; close some and try again", account)
	}
	c.releaseLogin()
	c.loginSlot = release
	return nil
}

// releaseLogin gives back the account's connection slot, if held.
func (c *conn) releaseLogin() {
	if c.loginSlot != nil {
		c.loginSlot()
		c.loginSlot = nil
	}
}
