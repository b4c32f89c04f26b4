package jmap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"casella/internal/directory"
	"casella/internal/limit"
	"casella/internal/store"
)

// capAccount is Casella's extension for the settings of the account
// itself, so that any JMAP client, the webmail among them, can do what
// "casella account passwd" and "casella account token" do for the user
// (docs/jmap.md, "Casella extension: account"):
//
//   - AppPassword/get and AppPassword/set: the account's app passwords
//     (directory.Tokens), created with a name and an optional expiry, the
//     secret returned once in the creation's response; destroyed by id.
//   - Password/change: a new password, given the current one.
//   - RemoteImages/get and RemoteImages/set: the singleton listing the
//     senders whose remote images a client may load without asking, kept
//     in the account's server annotations (RFC 5464) so that it follows
//     the user from device to device.
//
// Creating an app password and changing the password need the current
// password, not an app password: a stolen device's token cannot make
// itself permanent or lock the owner out. A wrong current password is a
// failed login for the login throttle, as over IMAP.
const capAccount = "urn:casella:params:jmap:account"

// PasswordSetter changes an account's password; directory.Directory
// implements it. Password/change needs Server.Auth to implement it.
type PasswordSetter interface {
	SetPassword(ctx context.Context, address, password string) error
}

// minPasswordLength is the shortest new password Password/change takes.
const minPasswordLength = 10

// remoteImagesKey is the account annotation holding the allowed senders.
const remoteImagesKey = "/private/vendor/casella/remote-images"

// appPassword is an AppPassword object: a directory.Token.
type appPassword struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"lastUsed"`
	Expires  *time.Time `json:"expires"`
	// Secret is only in the response that created it.
	Secret string `json:"secret,omitempty"`
}

func toAppPassword(t directory.Token) appPassword {
	p := appPassword{ID: t.ID, Name: t.Name, Created: t.Created.UTC()}
	if !t.LastUsed.IsZero() {
		u := t.LastUsed.UTC()
		p.LastUsed = &u
	}
	if !t.Expires.IsZero() {
		e := t.Expires.UTC()
		p.Expires = &e
	}
	return p
}

func (c *call) tokens() (directory.Tokens, error) {
	t, ok := c.s.Tokens.(directory.Tokens)
	if !ok {
		return nil, mErr("forbidden", "this server keeps no app passwords")
	}
	return t, nil
}

// appPasswordState returns the directory's tokens and the account's
// AppPassword state: the directory's token state, which a creation or a
// revocation raises (a use is not a change of the object a client
// shows).
func (c *call) appPasswordState() (directory.Tokens, string, error) {
	t, err := c.tokens()
	if err != nil {
		return nil, "", err
	}
	st, err := t.TokenState(c.ctx, c.acct)
	if err != nil {
		return nil, "", fmt.Errorf("reading the app password state: %w", err)
	}
	return t, strconv.FormatInt(st, 10), nil
}

// appPasswords lists the account's tokens.
func (c *call) appPasswords(t directory.Tokens) ([]directory.Token, error) {
	l, err := t.Tokens(c.ctx, c.acct)
	if err != nil {
		return nil, fmt.Errorf("listing app passwords: %w", err)
	}
	return l, nil
}

// appPasswordPushState is the AppPassword state of a push: "0" when the
// server keeps no app passwords, as sieveState does without scripts.
func (c *call) appPasswordPushState() (string, error) {
	if _, ok := c.s.Tokens.(directory.Tokens); !ok {
		return "0", nil
	}
	_, st, err := c.appPasswordState()
	return st, err
}

// appPasswordProps are the properties of an AppPassword that /get shows;
// the secret is only in the response to its creation.
var appPasswordProps = []string{"id", "name", "created", "lastUsed", "expires"}

// appPasswordGet is AppPassword/get (RFC 8620 section 5.1).
func (c *call) appPasswordGet(raw json.RawMessage) (any, error) {
	var a getArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	props, err := properties(a.Properties, appPasswordProps, appPasswordProps, nil)
	if err != nil {
		return nil, err
	}
	// The state is read first: what the list holds is never older.
	t, state, err := c.appPasswordState()
	if err != nil {
		return nil, err
	}
	tokens, err := c.appPasswords(t)
	if err != nil {
		return nil, err
	}
	list, notFound := []map[string]any{}, []string{}
	for _, tk := range tokens {
		if a.IDs == nil || slices.Contains(*a.IDs, tk.ID) {
			list = append(list, only(toAppPassword(tk), props))
		}
	}
	if a.IDs != nil {
		for _, id := range *a.IDs {
			if !slices.ContainsFunc(tokens, func(tk directory.Token) bool { return tk.ID == id }) {
				notFound = append(notFound, id)
			}
		}
	}
	return map[string]any{"accountId": accountID(c.acct), "state": state, "list": list, "notFound": notFound}, nil
}

// appPasswordSet is AppPassword/set (RFC 8620 section 5.3): create, with
// the currentPassword argument when anything is created, and destroy;
// an app password cannot be changed, only replaced.
func (c *call) appPasswordSet(raw json.RawMessage) (any, error) {
	var a struct {
		AccountID       string                     `json:"accountId"`
		IfInState       *string                    `json:"ifInState"`
		Create          map[string]json.RawMessage `json:"create"`
		Update          map[string]json.RawMessage `json:"update"`
		Destroy         []string                   `json:"destroy"`
		CurrentPassword string                     `json:"currentPassword"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	t, state, err := c.appPasswordState()
	if err != nil {
		return nil, err
	}
	if a.IfInState != nil && *a.IfInState != state {
		return nil, mErr("stateMismatch", "the state is %s, not %s", state, *a.IfInState)
	}
	if len(a.Create) > 0 {
		if err := c.checkCurrentPassword(a.CurrentPassword); err != nil {
			return nil, err
		}
	}
	r := c.newSetResult(state)
	for cid, obj := range a.Create {
		var p struct {
			Name    string     `json:"name"`
			Expires *time.Time `json:"expires"`
		}
		if err := decodeArgs(obj, &p); err != nil {
			r.NotCreated[cid] = setErr("invalidProperties", "%v", err)
			continue
		}
		if err := directory.CheckTokenName(p.Name); err != nil {
			r.NotCreated[cid] = &setError{Type: "invalidProperties", Description: err.Error(), Properties: []string{"name"}}
			continue
		}
		var expires time.Time
		if p.Expires != nil {
			if !p.Expires.After(time.Now()) {
				r.NotCreated[cid] = &setError{Type: "invalidProperties", Description: "expires is in the past", Properties: []string{"expires"}}
				continue
			}
			expires = *p.Expires
		}
		tk, secret, err := t.AddToken(c.ctx, c.acct, p.Name, expires)
		if errors.Is(err, directory.ErrExists) {
			r.NotCreated[cid] = &setError{Type: "invalidProperties", Description: "an app password of this account has that name", Properties: []string{"name"}}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("creating an app password: %w", err)
		}
		created := toAppPassword(tk)
		created.Secret = secret
		r.Created[cid] = created
	}
	for id := range a.Update {
		r.NotUpdated[id] = setErr("forbidden", "an app password cannot be changed; destroy it and create another")
	}
	tokens, err := c.appPasswords(t)
	if err != nil {
		return nil, err
	}
	for _, id := range a.Destroy {
		// Only by id: RevokeToken also takes a name, and a name shaped
		// like another token's id must not revoke that one.
		if !slices.ContainsFunc(tokens, func(tk directory.Token) bool { return tk.ID == id }) {
			r.NotDestroyed[id] = setErr("notFound", "no app password %q", id)
			continue
		}
		err := t.RevokeToken(c.ctx, c.acct, id)
		if errors.Is(err, directory.ErrNotFound) {
			r.NotDestroyed[id] = setErr("notFound", "no app password %q", id)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("revoking an app password: %w", err)
		}
		r.Destroyed = append(r.Destroyed, id)
	}
	if _, r.NewState, err = c.appPasswordState(); err != nil {
		return nil, err
	}
	return r, nil
}

// passwordChange is Password/change: {accountId, currentPassword,
// newPassword} answered with {accountId}. The new password holds for the
// next login; app passwords stay valid.
func (c *call) passwordChange(raw json.RawMessage) (any, error) {
	var a struct {
		AccountID       string `json:"accountId"`
		CurrentPassword string `json:"currentPassword"`
		NewPassword     string `json:"newPassword"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	setter, ok := c.s.Auth.(PasswordSetter)
	if !ok {
		return nil, mErr("forbidden", "passwords cannot be changed on this server")
	}
	if err := c.checkCurrentPassword(a.CurrentPassword); err != nil {
		return nil, err
	}
	if len([]rune(a.NewPassword)) < minPasswordLength {
		return nil, invalidArgs("the new password needs at least %d characters", minPasswordLength)
	}
	if _, isToken := directory.ParseToken(a.NewPassword); isToken {
		return nil, invalidArgs("the new password is shaped like an app password")
	}
	if err := setter.SetPassword(c.ctx, c.ss.acct.Address, a.NewPassword); err != nil {
		if errors.Is(err, directory.ErrInvalid) {
			return nil, invalidArgs("%v", err)
		}
		return nil, fmt.Errorf("changing the password: %w", err)
	}
	c.s.logger().Info("jmap password changed", "account", c.ss.acct.Address, "remote", c.ss.remote)
	return map[string]any{"accountId": accountID(c.acct)}, nil
}

// checkCurrentPassword checks the account's password as a login does,
// through the login throttle; an app password is refused, without
// being checked.
func (c *call) checkCurrentPassword(pw string) error {
	if _, isToken := directory.ParseToken(pw); isToken || pw == "" {
		return mErr("forbidden", "currentPassword must be the account's password")
	}
	user := c.ss.acct.Address
	var at *limit.Attempt
	if c.s.AuthLimit != nil {
		var err error
		at, err = c.s.AuthLimit.Admit(c.ctx, "jmap", user, remoteAddr(c.ss.remote))
		// rateLimit (named after RFC 8621 §7.5's SetError) tells a
		// throttled check from a wrong password (forbidden).
		if errors.Is(err, limit.ErrThrottled) || errors.Is(err, limit.ErrLocked) {
			return mErr("rateLimit", "%v", err)
		}
		if err != nil {
			return fmt.Errorf("admitting the password check: %w", err)
		}
	}
	acct, err := c.s.Auth.Authenticate(c.ctx, user, pw)
	switch {
	case errors.Is(err, directory.ErrBadCredentials) || (err == nil && acct.ID != c.ss.acct.ID):
		if at != nil {
			at.Failed()
		}
		c.s.logger().Info("jmap current password wrong", "user", user, "remote", c.ss.remote)
		return mErr("forbidden", "the current password is wrong")
	case err != nil:
		if at != nil {
			at.Unchecked()
		}
		return fmt.Errorf("checking the current password: %w", err)
	}
	if at != nil {
		at.Succeeded()
	}
	return nil
}

// remoteImages is the RemoteImages singleton: allowedSenders maps each
// address (lower case) whose mail may load remote images to true.
type remoteImages struct {
	ID             string          `json:"id"`
	AllowedSenders map[string]bool `json:"allowedSenders"`
}

// loadRemoteImages returns the singleton and its state, a digest of the
// stored value.
func (c *call) loadRemoteImages() (remoteImages, string, error) {
	v := remoteImages{ID: "singleton", AllowedSenders: map[string]bool{}}
	entries, err := c.s.Store.Metadata(c.ctx, c.acct, 0)
	if err != nil {
		return v, "", fmt.Errorf("reading the account's annotations: %w", err)
	}
	var stored []byte
	for _, e := range entries {
		if e.Name == remoteImagesKey {
			stored = e.Value
		}
	}
	if len(stored) > 0 {
		if err := json.Unmarshal(stored, &v.AllowedSenders); err != nil {
			return v, "", fmt.Errorf("reading %s: %w", remoteImagesKey, err)
		}
	}
	sum := sha256.Sum256(stored)
	return v, hex.EncodeToString(sum[:8]), nil
}

var remoteImagesProps = []string{"id", "allowedSenders"}

// remoteImagesGet is RemoteImages/get (RFC 8620 section 5.1).
func (c *call) remoteImagesGet(raw json.RawMessage) (any, error) {
	return c.singletonGet(raw, remoteImagesProps, func() (any, string, error) { return c.loadRemoteImages() })
}

// singletonGet is the /get of a singleton object, whose one id is
// "singleton" (RFC 8621 section 8 sets the pattern): the object, loaded
// with its state by load, with the properties asked of those in props.
func (c *call) singletonGet(raw json.RawMessage, props []string, load func() (any, string, error)) (any, error) {
	var a getArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	props, err := properties(a.Properties, props, props, nil)
	if err != nil {
		return nil, err
	}
	v, state, err := load()
	if err != nil {
		return nil, err
	}
	obj := only(v, props)
	list, notFound := []any{obj}, []string{}
	if a.IDs != nil {
		list = []any{}
		for _, id := range *a.IDs {
			if id == "singleton" {
				list = append(list, obj)
			} else {
				notFound = append(notFound, id)
			}
		}
	}
	return map[string]any{"accountId": accountID(c.acct), "state": state, "list": list, "notFound": notFound}, nil
}

// remoteImagesSet is RemoteImages/set: only the singleton, only updated,
// with allowedSenders whole or a patch per address
// ("allowedSenders/a@example.com": true or null, RFC 8620 section 5.3),
// so that two clients adding senders at once both keep theirs.
func (c *call) remoteImagesSet(raw json.RawMessage) (any, error) {
	var v remoteImages
	load := func() (state string, err error) {
		v, state, err = c.loadRemoteImages()
		return state, err
	}
	return c.singletonSet(raw, "RemoteImages", load, func(patch json.RawMessage) (*setError, error) {
		senders, serr := patchSenders(v.AllowedSenders, patch)
		if serr != nil {
			return serr, nil
		}
		b, _ := json.Marshal(senders)
		err := c.s.Store.SetMetadata(c.ctx, c.acct, 0, []store.MetadataEntry{{Name: remoteImagesKey, Value: b}})
		if errors.Is(err, store.ErrMetadataTooLarge) || errors.Is(err, store.ErrMetadataQuota) {
			return setErr("overQuota", "too many allowed senders"), nil
		}
		if err != nil {
			return nil, fmt.Errorf("storing %s: %w", remoteImagesKey, err)
		}
		v.AllowedSenders = senders
		return nil, nil
	})
}

// singletonSet is the /set of a singleton object, whose one id is
// "singleton" (RFC 8621 section 8 sets the pattern): it cannot be created
// or destroyed, and each update of it goes to update, which answers a
// SetError or nil for done. load reads the object and returns its state,
// before the updates and after them.
func (c *call) singletonSet(raw json.RawMessage, what string, load func() (string, error), update func(patch json.RawMessage) (*setError, error)) (any, error) {
	var a setArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	state, err := load()
	if err != nil {
		return nil, err
	}
	if a.IfInState != nil && *a.IfInState != state {
		return nil, mErr("stateMismatch", "the state is %s, not %s", state, *a.IfInState)
	}
	r := c.newSetResult(state)
	for cid := range a.Create {
		r.NotCreated[cid] = setErr("singleton", "%s is a singleton", what)
	}
	for _, id := range a.Destroy {
		r.NotDestroyed[id] = setErr("singleton", "%s is a singleton", what)
	}
	for id, patch := range a.Update {
		if id != "singleton" {
			r.NotUpdated[id] = setErr("notFound", "the id of %s is singleton", what)
			continue
		}
		serr, err := update(patch)
		if err != nil {
			return nil, err
		}
		if serr != nil {
			r.NotUpdated[id] = serr
			continue
		}
		r.Updated[id] = nil
	}
	if r.NewState, err = load(); err != nil {
		return nil, err
	}
	return r, nil
}

// patchSenders applies a RemoteImages patch to the allowed senders.
func patchSenders(current map[string]bool, raw json.RawMessage) (map[string]bool, *setError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, setErr("invalidPatch", "a patch is an object")
	}
	next := map[string]bool{}
	if whole, ok := fields["allowedSenders"]; ok {
		var m map[string]bool
		if err := json.Unmarshal(whole, &m); err != nil {
			return nil, &setError{Type: "invalidProperties", Description: "allowedSenders maps addresses to true", Properties: []string{"allowedSenders"}}
		}
		current = m
	}
	for addr, on := range current {
		if on {
			next[strings.ToLower(addr)] = true
		}
	}
	for k, val := range fields {
		if k == "allowedSenders" {
			continue
		}
		path, ok := strings.CutPrefix(k, "allowedSenders/")
		if !ok {
			return nil, &setError{Type: "invalidProperties", Description: "only allowedSenders can be set", Properties: []string{k}}
		}
		// A JSON pointer component (RFC 6901 section 4).
		addr := strings.ToLower(strings.NewReplacer("~1", "/", "~0", "~").Replace(path))
		switch string(val) {
		case "true":
			next[addr] = true
		case "null", "false":
			delete(next, addr)
		default:
			return nil, &setError{Type: "invalidProperties", Description: "an allowed sender is true or null", Properties: []string{k}}
		}
	}
	for addr := range next {
		if !plausibleAddress(addr) {
			return nil, &setError{Type: "invalidProperties", Description: fmt.Sprintf("not an address: %q", addr), Properties: []string{"allowedSenders"}}
		}
	}
	return next, nil
}

// plausibleAddress is what an allowed sender must look like: compared
// with a From address, not parsed, it needs only to be one line with an
// "@", of at most RFC 5321's 254 octets of a path (section 4.5.3.1.3).
func plausibleAddress(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && len(s) <= 254 && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r == 0x7f })
}

// only is obj as JSON with the given properties alone (RFC 8620 section
// 5.1: "id" is always returned, which properties ensures).
func only(obj any, props []string) map[string]any {
	b, _ := json.Marshal(obj) // structs of strings, times and maps
	var all map[string]any
	json.Unmarshal(b, &all)
	m := make(map[string]any, len(props))
	for _, p := range props {
		m[p] = all[p]
	}
	return m
}

// appPasswordChanges is AppPassword/changes, from the directory's change
// log of the account's tokens.
func (c *call) appPasswordChanges(raw json.RawMessage) (any, error) {
	var a changesArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	since, err := parseRecordState(a)
	if err != nil {
		return nil, err
	}
	t, err := c.tokens()
	if err != nil {
		return nil, err
	}
	changes, state, err := t.TokenChanges(c.ctx, c.acct, since)
	if err != nil {
		return nil, fmt.Errorf("reading app password changes: %w", err)
	}
	return recordChanges(c, a, since, changes, state)
}

// remoteImagesChanges is RemoteImages/changes: a state other than the
// current one that this server could have given means the singleton was
// updated.
func (c *call) remoteImagesChanges(raw json.RawMessage) (any, error) {
	var a changesArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	_, state, err := c.loadRemoteImages()
	if err != nil {
		return nil, err
	}
	if a.SinceState == state {
		return digestChanges(c, a, state, nil)
	}
	if b, err := hex.DecodeString(a.SinceState); err != nil || len(b) != 8 {
		return nil, mErr("cannotCalculateChanges", "%q is not a state this server gave", a.SinceState)
	}
	return digestChanges(c, a, state, []string{"singleton"})
}

// digestChanges is the response of RemoteImages/changes.
func digestChanges(c *call, a changesArgs, state string, updated []string) (any, error) {
	if a.MaxChanges != nil && *a.MaxChanges <= 0 {
		return nil, invalidArgs("maxChanges must be positive")
	}
	if updated == nil {
		updated = []string{}
	}
	return map[string]any{
		"accountId": accountID(c.acct), "oldState": a.SinceState, "newState": state, "hasMoreChanges": false,
		"created": []string{}, "updated": updated, "destroyed": []string{},
	}, nil
}
