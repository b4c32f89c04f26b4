package imap

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"casella/internal/directory"
	"casella/internal/limit"
)

// cmdCapability: RFC 9051 section 6.1.1.
func (c *conn) cmdCapability(cmd *command) error {
	if err := c.p.end(); err != nil {
		return err
	}
	c.writeLine("* CAPABILITY %s", c.capabilities())
	return nil
}

// cmdNoop serves NOOP (section 6.1.2) and CHECK (section 6.4.1, a NOOP
// here since every change is committed when made). Updates are written
// by the command loop.
func (c *conn) cmdNoop(cmd *command) error {
	return c.p.end()
}

// cmdLogout: section 6.1.3.
func (c *conn) cmdLogout(cmd *command) error {
	if err := c.p.end(); err != nil {
		return err
	}
	c.writeLine("* BYE Casella logging out")
	c.writeLine("%s OK LOGOUT completed", cmd.tag)
	c.flush()
	c.closeNow = true
	return nil
}

// cmdID answers ID (RFC 2971); the client's parameters are logged.
func (c *conn) cmdID(cmd *command) error {
	if err := c.p.sp(); err != nil {
		return err
	}
	var params []string
	if ok, err := c.p.take('('); err != nil {
		return err
	} else if ok {
		for {
			if ok, err := c.p.take(')'); err != nil {
				return err
			} else if ok {
				break
			}
			if len(params) > 0 {
				if err := c.p.sp(); err != nil {
					return err
				}
			}
			k, err := c.p.string()
			if err != nil {
				return err
			}
			if err := c.p.sp(); err != nil {
				return err
			}
			v, err := c.p.nstring()
			if err != nil {
				return err
			}
			if len(params) < 60 {
				params = append(params, k, v)
			}
		}
	} else if err := c.p.nil(); err != nil {
		return err
	}
	if err := c.p.end(); err != nil {
		return err
	}
	if len(params) > 0 {
		c.log.Debug("client id", "id", params)
	}
	c.writeLine(`* ID ("name" "Casella")`)
	return nil
}

// cmdStartTLS: section 6.2.1.
func (c *conn) cmdStartTLS(cmd *command) error {
	if err := c.p.end(); err != nil {
		return err
	}
	if c.srv.TLS == nil || c.tls {
		return errBad("", "STARTTLS is not available on this connection")
	}
	c.writeLine("%s OK Begin TLS negotiation now", cmd.tag)
	if err := c.flush(); err != nil {
		return err
	}
	cmd.responded = true
	if c.br.Buffered() > 0 {
		// Bytes sent before the handshake would be taken as sent over
		// TLS: a command injection (RFC 9051 section 11.1 and CVE-2011-0411).
		c.log.Info("data after STARTTLS before the handshake, closing")
		c.closeNow = true
		return nil
	}
	tc := tls.Server(c.raw, c.srv.TLS)
	c.raw.SetDeadline(time.Now().Add(c.srv.commandTimeout()))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		c.log.Debug("starttls handshake failed", "err", err)
		c.closeNow = true
		return nil
	}
	c.raw.SetDeadline(time.Time{})
	c.nc = tc
	c.tls = true
	return nil
}

// cmdLogin: section 6.2.3.
func (c *conn) cmdLogin(cmd *command) error {
	if err := c.p.sp(); err != nil {
		return err
	}
	user, err := c.p.astring()
	if err != nil {
		return err
	}
	if err := c.p.sp(); err != nil {
		return err
	}
	pass, err := c.p.astring()
	if err != nil {
		return err
	}
	if err := c.p.end(); err != nil {
		return err
	}
	return c.login(cmd, user, pass)
}

// cmdAuthenticate serves AUTHENTICATE PLAIN (RFC 4616), with an initial
// response (SASL-IR, RFC 4959) or after an empty continuation.
func (c *conn) cmdAuthenticate(cmd *command) error {
	if err := c.p.sp(); err != nil {
		return err
	}
	mech, err := c.p.atom()
	if err != nil {
		return err
	}
	var resp string
	hasIR, err := c.p.take(' ')
	if err != nil {
		return err
	}
	if hasIR {
		if resp, err = c.p.base64(); err != nil {
			return err
		}
	}
	if err := c.p.end(); err != nil {
		return err
	}
	if !strings.EqualFold(mech, "PLAIN") {
		return errNo("CANNOT", "Mechanism %s is not supported, use PLAIN", mech)
	}
	if !c.plainAllowed() {
		return errNo("PRIVACYREQUIRED", "Use STARTTLS or port 993 before authenticating")
	}
	if !hasIR {
		c.writeLine("+ ")
		if err := c.flush(); err != nil {
			return err
		}
		c.p.lineDone = false
		if resp, err = c.p.base64(); err != nil {
			return err
		}
		if err := c.p.end(); err != nil {
			return err
		}
	}
	if resp == "*" {
		return errBad("", "Authentication cancelled")
	}
	if resp == "=" {
		resp = ""
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return errBad("", "Invalid base64 in the authentication response")
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 {
		return errBad("", "A PLAIN response is authzid NUL authcid NUL password")
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && authz != user {
		return errNo("AUTHORIZATIONFAILED", "Logging in as another user is not allowed")
	}
	return c.login(cmd, user, pass)
}

// login checks credentials, slowing down addresses that keep failing.
func (c *conn) login(cmd *command, user, pass string) error {
	if !c.plainAllowed() {
		return errNo("PRIVACYREQUIRED", "Use STARTTLS or port 993 before logging in")
	}
	var at *limit.Attempt
	if c.srv.AuthLimit != nil {
		var err error
		if at, err = c.srv.AuthLimit.Admit(c.ctx, "imap", user, c.raw.RemoteAddr()); err != nil {
			return errNo("UNAVAILABLE", "Too many failed logins; try again later")
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.srv.commandTimeout()+time.Minute)
	defer cancel()
	acct, err := c.srv.Auth.Authenticate(ctx, user, pass)
	if errors.Is(err, directory.ErrBadCredentials) {
		if at != nil {
			at.Failed()
		} else {
			c.log.Info("login failed", "user", user)
		}
		return errNo("AUTHENTICATIONFAILED", "Invalid credentials")
	}
	if err != nil {
		if at != nil {
			at.Unchecked()
		}
		c.log.Warn("authentication unavailable", "err", err)
		return errNo("UNAVAILABLE", "Authentication temporarily unavailable, try again")
	}
	if at != nil {
		at.Succeeded()
	}
	if err := c.admitLogin(acct.Address); err != nil {
		return err
	}
	blobs, err := c.srv.blobsOf(ctx, acct)
	if err != nil {
		c.log.Warn("finding the account's blob store", "err", err, "account", acct.ID)
		c.releaseLogin()
		return errNo("UNAVAILABLE", "Your mailbox is temporarily unavailable, try again later")
	}
	if err := c.srv.Store.EnsureAccount(ctx, acct.ID); err != nil {
		// Logging in still works; commands answer UNAVAILABLE until the
		// store is back.
		c.log.Warn("ensuring account in store", "err", err, "account", acct.ID)
	}
	c.acct, c.blobs = acct, blobs
	c.state = stateAuth
	c.log = c.log.With("account", acct.Address)
	cmd.code = "CAPABILITY " + c.capabilities()
	cmd.text = "Logged in"
	return nil
}
