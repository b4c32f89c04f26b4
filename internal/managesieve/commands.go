package managesieve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"casella/internal/directory"
	"casella/internal/limit"
	"casella/internal/saslplain"
	"casella/internal/sieve"
)

// capabilities writes the capability list (RFC 5804 section 1.7), one per
// line.
func (ss *session) capabilities() {
	ss.line(`"IMPLEMENTATION" "Casella"`)
	if ss.plainAllowed() {
		ss.line(`"SASL" "PLAIN"`)
	} else {
		ss.line(`"SASL" ""`)
	}
	ss.line(`"SIEVE" %s`, quote(strings.Join(sieve.Extensions, " ")))
	if ss.s.TLS != nil && !ss.isTLS && !ss.authed {
		ss.line(`"STARTTLS"`)
	}
	ss.line(`"NOTIFY" %s`, quote(strings.Join(sieve.NotifyMethods, " ")))
	if ss.s.MaxRedirects > 0 {
		ss.line(`"MAXREDIRECTS" "%d"`, ss.s.MaxRedirects)
	}
	if ss.authed {
		ss.line(`"OWNER" %s`, quote(ss.acct.Address))
	}
	ss.line(`"UNAUTHENTICATE"`)
	ss.line(`"VERSION" "1.0"`)
}

// checkArgs answers NO for a wrong argument count and reports whether the
// command may go on.
func (ss *session) checkArgs(args []string, min, max int) bool {
	if len(args) < min || len(args) > max {
		ss.no("", "Wrong number of arguments")
		return false
	}
	return true
}

// cmdCapability: RFC 5804 section 2.4.
func (ss *session) cmdCapability(args []string) error {
	if ss.checkArgs(args, 0, 0) {
		ss.capabilities()
		ss.ok("", "Capability completed")
	}
	return nil
}

// cmdLogout: section 2.3.
func (ss *session) cmdLogout(args []string) error {
	ss.ok("", "Logout completed")
	ss.done = true
	return nil
}

// cmdNoop: section 2.13; the optional string comes back as TAG.
func (ss *session) cmdNoop(args []string) error {
	if !ss.checkArgs(args, 0, 1) {
		return nil
	}
	if len(args) == 1 {
		ss.ok("TAG "+quote(args[0]), "Done")
	} else {
		ss.ok("", "Done")
	}
	return nil
}

// cmdStartTLS: section 2.2; the capabilities are sent again after the
// handshake.
func (ss *session) cmdStartTLS(args []string) error {
	if !ss.checkArgs(args, 0, 0) {
		return nil
	}
	if ss.s.TLS == nil || ss.isTLS {
		ss.no("", "STARTTLS is not available on this connection")
		return nil
	}
	ss.ok("", "Begin TLS negotiation now")
	if err := ss.bw.Flush(); err != nil {
		return err
	}
	if err := ss.startTLS(); err != nil {
		return err
	}
	ss.capabilities()
	ss.ok("", "TLS negotiation successful")
	return nil
}

// cmdAuthenticate: section 2.1, with PLAIN (RFC 4616) only. Without an
// initial response the server sends an empty challenge and reads the
// response as a string.
func (ss *session) cmdAuthenticate(args []string) error {
	if !ss.checkArgs(args, 1, 2) {
		return nil
	}
	if !strings.EqualFold(args[0], "PLAIN") {
		ss.no("", "Mechanism "+args[0]+" is not supported, use PLAIN")
		return nil
	}
	if !ss.plainAllowed() {
		ss.no("ENCRYPT-NEEDED", "Use STARTTLS before authenticating")
		return nil
	}
	var resp string
	if len(args) == 2 {
		resp = args[1]
	} else {
		ss.line(`""`)
		if err := ss.bw.Flush(); err != nil {
			return err
		}
		ss.conn.SetReadDeadline(time.Now().Add(ss.s.commandTimeout()))
		v, err := ss.r.value()
		if err == nil {
			err = ss.r.eol()
		}
		var pe *errProtocol
		if errors.As(err, &pe) {
			ss.no("", pe.msg)
			return ss.r.recover(err)
		}
		if err != nil {
			return err
		}
		resp = v
	}
	if resp == "*" {
		ss.no("", "Authentication cancelled")
		return nil
	}
	user, pass, err := saslplain.Credentials(resp)
	if errors.Is(err, saslplain.ErrBase64) {
		ss.no("", "Invalid base64 in the authentication response")
		return nil
	} else if err != nil {
		ss.no("", "Malformed PLAIN response, or logging in as another user")
		return nil
	}
	return ss.login(user, pass)
}

// login checks credentials through the login throttle shared with the
// other protocols (limit.Auth).
func (ss *session) login(user, pass string) error {
	var at *limit.Attempt
	if l := ss.s.AuthLimit; l != nil {
		var err error
		ctx, cancel := context.WithTimeout(context.Background(), ss.s.commandTimeout())
		at, err = l.Admit(ctx, "managesieve", user, ss.conn.RemoteAddr())
		cancel()
		if err != nil {
			ss.no("TRYLATER", "Too many failed logins, try again later")
			return nil
		}
	}
	ctx, cancel := ss.context()
	defer cancel()
	acct, err := ss.s.Auth.Authenticate(ctx, user, pass)
	if errors.Is(err, directory.ErrBadCredentials) {
		if at != nil {
			at.Failed()
		} else {
			ss.log.Info("login failed", "user", user)
		}
		ss.failures++
		if ss.failures >= maxAuthFailures {
			ss.bye("", "Too many failed logins")
			ss.done = true
			return nil
		}
		ss.no("", "Invalid credentials")
		return nil
	}
	if err != nil {
		if at != nil {
			at.Unchecked()
		}
		ss.log.Warn("authentication unavailable", "err", err)
		ss.no("TRYLATER", "Authentication temporarily unavailable, try again")
		return nil
	}
	if at != nil {
		at.Succeeded()
	}
	ss.acct, ss.authed = acct, true
	ss.log = ss.log.With("account", acct.Address)
	ss.ok("", "Logged in")
	return nil
}

// cmdUnauthenticate: section 2.14.
func (ss *session) cmdUnauthenticate(args []string) error {
	if ss.checkArgs(args, 0, 0) {
		ss.authed, ss.acct = false, directory.Account{}
		ss.log = ss.s.logger().With("remote", ss.conn.RemoteAddr().String())
		ss.ok("", "Unauthenticated")
	}
	return nil
}

func (ss *session) checkName(name string) bool {
	if !directory.ValidSieveScriptName(name) {
		ss.no("", "Invalid script name")
		return false
	}
	return true
}

// space checks that a script of size octets may be stored under name
// (quotas of section 2.3, HAVESPACE and PUTSCRIPT).
func (ss *session) space(ctx context.Context, name string, size int64) bool {
	if size > ss.s.maxScriptSize() {
		ss.no("QUOTA/MAXSIZE", fmt.Sprintf("Scripts are limited to %d octets", ss.s.maxScriptSize()))
		return false
	}
	list, err := ss.s.Scripts.SieveScripts(ctx, ss.acct.ID)
	if err != nil {
		ss.tempFailure("listing scripts", err)
		return false
	}
	for _, s := range list {
		if s.Name == name {
			return true
		}
	}
	if len(list) >= ss.s.maxScripts() {
		ss.no("QUOTA/MAXSCRIPTS", fmt.Sprintf("At most %d scripts; delete one first", ss.s.maxScripts()))
		return false
	}
	return true
}

// cmdHaveSpace: section 2.5.
func (ss *session) cmdHaveSpace(args []string) error {
	if !ss.checkArgs(args, 2, 2) || !ss.checkName(args[0]) {
		return nil
	}
	size, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil {
		ss.no("", "The size must be a number")
		return nil
	}
	ctx, cancel := ss.context()
	defer cancel()
	if ss.space(ctx, args[0], size) {
		ss.ok("", "Putting the script is OK")
	}
	return nil
}

// compile compiles a script and answers NO with the error, which names
// the line and column.
func (ss *session) compile(src string) bool {
	if _, err := sieve.Compile(src); err != nil {
		ss.no("", strings.TrimPrefix(err.Error(), "sieve: "))
		return false
	}
	return true
}

// cmdPutScript: section 2.6; only a script that compiles is stored.
func (ss *session) cmdPutScript(args []string) error {
	if !ss.checkArgs(args, 2, 2) || !ss.checkName(args[0]) {
		return nil
	}
	ctx, cancel := ss.context()
	defer cancel()
	if !ss.space(ctx, args[0], int64(len(args[1]))) || !ss.compile(args[1]) {
		return nil
	}
	if err := ss.s.Scripts.PutSieveScript(ctx, ss.acct.ID, args[0], args[1]); err != nil {
		ss.tempFailure("storing a script", err)
		return nil
	}
	ss.log.Info("script stored", "script", args[0], "size", len(args[1]))
	ss.ok("", "Script stored")
	return nil
}

// cmdCheckScript: section 2.12.
func (ss *session) cmdCheckScript(args []string) error {
	if ss.checkArgs(args, 1, 1) && ss.compile(args[0]) {
		ss.ok("", "Script is valid")
	}
	return nil
}

// cmdListScripts: section 2.7.
func (ss *session) cmdListScripts(args []string) error {
	if !ss.checkArgs(args, 0, 0) {
		return nil
	}
	ctx, cancel := ss.context()
	defer cancel()
	list, err := ss.s.Scripts.SieveScripts(ctx, ss.acct.ID)
	if err != nil {
		ss.tempFailure("listing scripts", err)
		return nil
	}
	for _, s := range list {
		if s.Active {
			ss.line("%s ACTIVE", quote(s.Name))
		} else {
			ss.line("%s", quote(s.Name))
		}
	}
	if failed := ss.activeFailure(ctx, list); failed != "" {
		ss.ok("WARNINGS", "Listscripts completed; "+failed)
		return nil
	}
	ss.ok("", "Listscripts completed")
	return nil
}

// activeFailure says how the active script failed at delivery, if this
// version of it did (RFC 5804 section 1.3: WARNINGS on an OK); "" when it
// did not or it cannot be told.
func (ss *session) activeFailure(ctx context.Context, list []directory.SieveScript) string {
	m, ok := ss.s.Scripts.(directory.SieveMemory)
	i := slices.IndexFunc(list, func(s directory.SieveScript) bool { return s.Active })
	if !ok || i < 0 {
		return ""
	}
	failures, err := directory.SieveFailures(ctx, m, ss.acct.ID)
	if err != nil || len(failures) == 0 {
		return ""
	}
	_, src, err := ss.s.Scripts.SieveScript(ctx, ss.acct.ID, list[i].Name)
	if err != nil {
		return ""
	}
	if f := directory.SieveFailure(failures, list[i].Name, src); f != "" {
		return fmt.Sprintf("the active script %q failed at delivery %s; the messages were kept in INBOX", list[i].Name, f)
	}
	return ""
}

// storageResult answers the outcome of a change to the scripts.
func (ss *session) storageResult(what string, err error, done string) {
	switch {
	case err == nil:
		ss.ok("", done)
	case errors.Is(err, directory.ErrNotFound):
		ss.no("NONEXISTENT", "There is no such script")
	case errors.Is(err, directory.ErrExists):
		ss.no("ALREADYEXISTS", "A script of that name exists already")
	case errors.Is(err, directory.ErrInUse):
		ss.no("ACTIVE", "The script is active; deactivate it first")
	default:
		ss.tempFailure(what, err)
	}
}

// cmdSetActive: section 2.8; "" deactivates every script.
func (ss *session) cmdSetActive(args []string) error {
	if !ss.checkArgs(args, 1, 1) || args[0] != "" && !ss.checkName(args[0]) {
		return nil
	}
	ctx, cancel := ss.context()
	defer cancel()
	if args[0] != "" {
		// A script stored by an older version may no longer compile; it
		// must not become the one that filters mail.
		_, src, err := ss.s.Scripts.SieveScript(ctx, ss.acct.ID, args[0])
		if err != nil {
			ss.storageResult("reading a script", err, "")
			return nil
		}
		if !ss.compile(src) {
			return nil
		}
	}
	err := ss.s.Scripts.SetActiveSieveScript(ctx, ss.acct.ID, args[0])
	ss.storageResult("activating a script", err, "Active script set")
	return nil
}

// cmdGetScript: section 2.9.
func (ss *session) cmdGetScript(args []string) error {
	if !ss.checkArgs(args, 1, 1) || !ss.checkName(args[0]) {
		return nil
	}
	ctx, cancel := ss.context()
	defer cancel()
	_, src, err := ss.s.Scripts.SieveScript(ctx, ss.acct.ID, args[0])
	if err != nil {
		ss.storageResult("reading a script", err, "")
		return nil
	}
	ss.line("{%d}\r\n%s", len(src), src)
	ss.ok("", "Getscript completed")
	return nil
}

// cmdDeleteScript: section 2.10; the active script cannot be deleted.
func (ss *session) cmdDeleteScript(args []string) error {
	if !ss.checkArgs(args, 1, 1) || !ss.checkName(args[0]) {
		return nil
	}
	ctx, cancel := ss.context()
	defer cancel()
	ss.storageResult("deleting a script", ss.s.Scripts.DeleteSieveScript(ctx, ss.acct.ID, args[0]), "Script deleted")
	return nil
}

// cmdRenameScript: section 2.11.
func (ss *session) cmdRenameScript(args []string) error {
	if !ss.checkArgs(args, 2, 2) || !ss.checkName(args[0]) || !ss.checkName(args[1]) {
		return nil
	}
	ctx, cancel := ss.context()
	defer cancel()
	ss.storageResult("renaming a script", ss.s.Scripts.RenameSieveScript(ctx, ss.acct.ID, args[0], args[1]), "Script renamed")
	return nil
}
