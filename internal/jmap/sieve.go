package jmap

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"casella/internal/blob"
	"casella/internal/directory"
	"casella/internal/sieve"
)

// capSieve is JMAP Sieve (RFC 9661): the accounts' Sieve scripts, on the
// same storage as ManageSieve (directory.SieveScripts).
//
// A script's id is the directory's (directory.SieveScript.ID), given at
// creation and kept through renames (RFC 8620 section 1.2). A script's
// blobId is its source put in the blob store and readable by its account
// like an upload of its own.
const capSieve = "urn:ietf:params:jmap:sieve"

// Defaults of the limits that Server.SieveMaxScriptSize and
// SieveMaxScripts leave zero; ManageSieve has the same.
const (
	defaultSieveMaxScriptSize = 64 << 10
	defaultSieveMaxScripts    = 16
	sieveMaxNameSize          = 255
	sieveImplementation       = "Casella"
)

func (s *Server) sieveCapability() map[string]any {
	return map[string]any{
		"implementation":      sieveImplementation,
		"maxSizeScriptName":   sieveMaxNameSize,
		"maxSizeScript":       s.sieveMaxScriptSize(),
		"maxNumberScripts":    s.sieveMaxScripts(),
		"maxNumberRedirects":  sieve.DefaultLimits.Redirects,
		"sieveExtensions":     sieve.Extensions,
		"notificationMethods": []string{"mailto"},
		"externalLists":       nil,
	}
}

func (s *Server) sieveMaxScriptSize() int64 {
	if s.SieveMaxScriptSize > 0 {
		return s.SieveMaxScriptSize
	}
	return defaultSieveMaxScriptSize
}

func (s *Server) sieveMaxScripts() int {
	if s.SieveMaxScripts > 0 {
		return s.SieveMaxScripts
	}
	return defaultSieveMaxScripts
}

// scriptName returns the name of the script with id, if there is one;
// the directory is read each time, as a /set renames and creates scripts
// between lookups.
func (c *call) scriptName(id string) (string, bool, error) {
	list, err := c.s.Sieve.SieveScripts(c.ctx, c.acct)
	if err != nil {
		return "", false, fmt.Errorf("listing sieve scripts: %w", err)
	}
	i := slices.IndexFunc(list, func(s directory.SieveScript) bool { return s.ID == id })
	if i < 0 {
		return "", false, nil
	}
	return list[i].Name, true, nil
}

// sieveScript is the SieveScript object (RFC 9661 section 2.1).
type sieveScript struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	IsActive bool   `json:"isActive"`
	BlobID   string `json:"blobId"`
	// Failure says how this version of the script failed at delivery,
	// if it did (docs/sieve.md); a vendor property, absent otherwise.
	Failure string `json:"casella:failure,omitempty"`
}

// sieveScripts lists the account's scripts with their sources, and the
// state: the directory's script state (directory.SieveScripts), read
// first, so that a change made meanwhile is reported again by the next
// /changes rather than hidden.
func (c *call) sieveScripts() ([]sieveScript, map[string]string, string, error) {
	if c.s.Sieve == nil {
		return nil, nil, "", errNoScripts
	}
	state, err := c.sieveState()
	if err != nil {
		return nil, nil, "", err
	}
	list, err := c.s.Sieve.SieveScripts(c.ctx, c.acct)
	if err != nil {
		return nil, nil, "", fmt.Errorf("listing sieve scripts: %w", err)
	}
	var failures map[string]string
	if m, ok := c.s.Sieve.(directory.SieveMemory); ok {
		if failures, err = directory.SieveFailures(c.ctx, m, c.acct); err != nil {
			return nil, nil, "", fmt.Errorf("reading the sieve scripts' failures: %w", err)
		}
	}
	out, srcs := make([]sieveScript, 0, len(list)), map[string]string{}
	for _, s := range list {
		_, src, err := c.s.Sieve.SieveScript(c.ctx, c.acct, s.Name)
		if errors.Is(err, directory.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, nil, "", fmt.Errorf("reading sieve script %q: %w", s.Name, err)
		}
		sum := sha256.Sum256([]byte(src))
		out = append(out, sieveScript{ID: s.ID, Name: s.Name, IsActive: s.Active,
			BlobID: string(blob.Key(hex.EncodeToString(sum[:]))), Failure: directory.SieveFailure(failures, s.Name, src)})
		srcs[s.Name] = src
	}
	return out, srcs, state, nil
}

// sieveState returns the account's script state, for /get, /set, /query
// and push; "0" when the server keeps no scripts.
func (c *call) sieveState() (string, error) {
	if c.s.Sieve == nil {
		return "0", nil
	}
	st, err := c.s.Sieve.SieveState(c.ctx, c.acct)
	if err != nil {
		return "", fmt.Errorf("reading the sieve script state: %w", err)
	}
	return strconv.FormatInt(st, 10), nil
}

// sieveGet is SieveScript/get (RFC 9661 section 2.3). Each script's
// source is put in the blob store, content-addressed, so its blobId can
// be downloaded.
func (c *call) sieveGet(raw json.RawMessage) (any, error) {
	var a getArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	scripts, srcs, state, err := c.sieveScripts()
	if err != nil {
		return nil, err
	}
	list, notFound := []any{}, []string{}
	want := func(s sieveScript) bool { return a.IDs == nil || slices.Contains(*a.IDs, s.ID) }
	for _, s := range scripts {
		if !want(s) {
			continue
		}
		key, err := putUpload(c.ctx, c.blobs, c.acct, []byte(srcs[s.Name]))
		if err != nil {
			return nil, fmt.Errorf("storing sieve script %q as a blob: %w", s.Name, err)
		}
		s.BlobID = string(key)
		list = append(list, s)
	}
	if a.IDs != nil {
		for _, id := range *a.IDs {
			if !slices.ContainsFunc(scripts, func(s sieveScript) bool { return s.ID == id }) {
				notFound = append(notFound, id)
			}
		}
	}
	return map[string]any{"accountId": accountID(c.acct), "state": state, "list": list, "notFound": notFound}, nil
}

// sieveChanges is SieveScript/changes (RFC 9661 section 2.2, RFC 8620
// section 5.2), from the directory's change log of the scripts: changes
// made over ManageSieve and by VacationResponse/set are in it too.
func (c *call) sieveChanges(raw json.RawMessage) (any, error) {
	var a changesArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	since, err := parseRecordState(a)
	if err != nil {
		return nil, err
	}
	if c.s.Sieve == nil {
		return nil, errNoScripts
	}
	changes, state, err := c.s.Sieve.SieveChanges(c.ctx, c.acct, since)
	if err != nil {
		return nil, err
	}
	return recordChanges(c, a, since, changes, state)
}

// scriptPatch is what create and update may set.
type scriptPatch struct {
	Name   *string `json:"name"`
	BlobID *string `json:"blobId"`
}

// sieveSet is SieveScript/set. A script is stored only when it compiles
// (invalidSieve otherwise, with the line and column); the active one
// cannot be destroyed (sieveIsActive). The activation arguments apply
// after the changes, and only when all of them succeeded.
func (c *call) sieveSet(raw json.RawMessage) (any, error) {
	var a setArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	scripts, _, state, err := c.sieveScripts()
	if err != nil {
		return nil, err
	}
	if a.IfInState != nil && *a.IfInState != state {
		return nil, mErr("stateMismatch", "the state is %s, not %s", state, *a.IfInState)
	}
	r := c.newSetResult(state)
	count := len(scripts)
	for cid, p := range a.Create {
		var sp scriptPatch
		if err := decodeArgs(p, &sp); err != nil {
			r.NotCreated[cid] = setErr("invalidProperties", "%v", err)
			continue
		}
		if sp.Name == nil || sp.BlobID == nil {
			r.NotCreated[cid] = &setError{Type: "invalidProperties", Description: "name and blobId are required", Properties: []string{"name", "blobId"}}
			continue
		}
		if count >= c.s.sieveMaxScripts() {
			r.NotCreated[cid] = setErr("overQuota", "at most %d scripts; destroy one first", c.s.sieveMaxScripts())
			continue
		}
		if _, _, err := c.s.Sieve.SieveScript(c.ctx, c.acct, *sp.Name); err == nil {
			r.NotCreated[cid] = setErr("alreadyExists", "a script is named %q", *sp.Name)
			continue
		}
		if se, err := c.putScript(*sp.Name, *sp.BlobID); err != nil {
			return nil, err
		} else if se != nil {
			r.NotCreated[cid] = se
			continue
		}
		count++
		created, _, err := c.s.Sieve.SieveScript(c.ctx, c.acct, *sp.Name)
		if err != nil {
			return nil, fmt.Errorf("reading sieve script %q: %w", *sp.Name, err)
		}
		id := created.ID
		c.created[cid] = id
		r.Created[cid] = map[string]any{"id": id, "isActive": false}
	}
	for id, p := range a.Update {
		name, ok, err := c.scriptName(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			r.NotUpdated[id] = setErr("notFound", "no script has id %s", id)
			continue
		}
		var sp scriptPatch
		if err := decodeArgs(p, &sp); err != nil {
			r.NotUpdated[id] = setErr("invalidProperties", "%v", err)
			continue
		}
		if sp.BlobID != nil {
			if se, err := c.putScript(name, *sp.BlobID); err != nil {
				return nil, err
			} else if se != nil {
				r.NotUpdated[id] = se
				continue
			}
		}
		if sp.Name != nil && *sp.Name != name {
			if !directory.ValidSieveScriptName(*sp.Name) {
				r.NotUpdated[id] = &setError{Type: "invalidProperties", Description: "not a valid script name (RFC 5804 section 1.6)", Properties: []string{"name"}}
				continue
			}
			err := c.s.Sieve.RenameSieveScript(c.ctx, c.acct, name, *sp.Name)
			if errors.Is(err, directory.ErrExists) {
				r.NotUpdated[id] = setErr("alreadyExists", "a script is named %q", *sp.Name)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("renaming sieve script %q: %w", name, err)
			}
		}
		r.Updated[id] = nil
	}
	for _, id := range a.Destroy {
		name, ok, err := c.scriptName(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			r.NotDestroyed[id] = setErr("notFound", "no script has id %s", id)
			continue
		}
		err = c.s.Sieve.DeleteSieveScript(c.ctx, c.acct, name)
		switch {
		case errors.Is(err, directory.ErrNotFound):
			r.NotDestroyed[id] = setErr("notFound", "no script has id %s", id)
		case errors.Is(err, directory.ErrInUse):
			r.NotDestroyed[id] = setErr("sieveIsActive", "the active script cannot be destroyed; deactivate it first")
		case err != nil:
			return nil, fmt.Errorf("destroying sieve script %q: %w", name, err)
		default:
			r.Destroyed = append(r.Destroyed, id)
		}
	}
	failed := len(r.NotCreated)+len(r.NotUpdated)+len(r.NotDestroyed) > 0
	if !failed && (a.OnSuccessActivateScript != nil || a.OnSuccessDeactivateScript) {
		if err := c.activate(a.OnSuccessActivateScript, r); err != nil {
			return nil, err
		}
	}
	if r.NewState, err = c.sieveState(); err != nil {
		return nil, err
	}
	return r, nil
}

// activate applies onSuccessActivateScript (an id or a creation id) or
// onSuccessDeactivateScript; the scripts whose isActive changed are
// reported as updated (RFC 9661 section 2.4).
func (c *call) activate(idRef *string, r *setResult) error {
	before, err := c.s.Sieve.SieveScripts(c.ctx, c.acct)
	if err != nil {
		return fmt.Errorf("listing sieve scripts: %w", err)
	}
	name := ""
	if idRef != nil {
		id, ok := c.resolveID(*idRef)
		i := slices.IndexFunc(before, func(s directory.SieveScript) bool { return s.ID == id })
		if !ok || i < 0 {
			return mErr("invalidArguments", "onSuccessActivateScript: no script has id %s", *idRef)
		}
		name = before[i].Name
	}
	if err := c.s.Sieve.SetActiveSieveScript(c.ctx, c.acct, name); errors.Is(err, directory.ErrNotFound) {
		return mErr("invalidArguments", "onSuccessActivateScript: no script is named %q", name)
	} else if err != nil {
		return fmt.Errorf("activating sieve script %q: %w", name, err)
	}
	for _, s := range before {
		if s.Active != (s.Name == name) {
			if _, ok := r.Updated[s.ID]; !ok {
				r.Updated[s.ID] = map[string]any{"isActive": s.Name == name}
			}
		}
	}
	return nil
}

// putScript stores the blob blobID as script name when it compiles.
func (c *call) putScript(name, blobID string) (*setError, error) {
	if !directory.ValidSieveScriptName(name) {
		return &setError{Type: "invalidProperties", Description: "not a valid script name (RFC 5804 section 1.6)", Properties: []string{"name"}}, nil
	}
	src, se, err := c.scriptBlob(blobID)
	if se != nil || err != nil {
		return se, err
	}
	if err := c.s.Sieve.PutSieveScript(c.ctx, c.acct, name, src); err != nil {
		return nil, fmt.Errorf("storing sieve script %q: %w", name, err)
	}
	return nil, nil
}

// scriptBlob reads and compiles a script's source from a blob.
func (c *call) scriptBlob(blobID string) (string, *setError, error) {
	if id, ok := c.resolveID(blobID); ok {
		blobID = id
	}
	data, err := c.readBlob(blobID)
	if errors.Is(err, blob.ErrNotFound) {
		return "", &setError{Type: "invalidProperties", Description: "no such blob", Properties: []string{"blobId"}}, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("reading blob %s: %w", blobID, err)
	}
	if int64(len(data)) > c.s.sieveMaxScriptSize() {
		return "", setErr("tooLarge", "scripts are limited to %d octets", c.s.sieveMaxScriptSize()), nil
	}
	if _, err := sieve.Compile(string(data)); err != nil {
		return "", setErr("invalidSieve", "%v", err), nil
	}
	return string(data), nil, nil
}

// sieveValidate is SieveScript/validate (RFC 9661 section 2.6).
func (c *call) sieveValidate(raw json.RawMessage) (any, error) {
	var a struct {
		AccountID string `json:"accountId"`
		BlobID    string `json:"blobId"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	_, se, err := c.scriptBlob(a.BlobID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"accountId": accountID(c.acct), "error": se}, nil
}

// sieveQueryArgs are what SieveScript/query and /queryChanges share:
// the filter and the sort.
type sieveQueryArgs struct {
	Filter *struct {
		Name     *string `json:"name"`
		IsActive *bool   `json:"isActive"`
	} `json:"filter"`
	Sort []struct {
		Property    string `json:"property"`
		IsAscending *bool  `json:"isAscending"`
	} `json:"sort"`
}

// sieveQueryIDs runs a query: filters name (contained, ignoring case)
// and isActive, sorted by name or isActive. It returns the ids of the
// results and the state they were read at.
func (c *call) sieveQueryIDs(a sieveQueryArgs) ([]string, string, error) {
	scripts, _, state, err := c.sieveScripts()
	if err != nil {
		return nil, "", err
	}
	var hits []sieveScript
	for _, s := range scripts {
		if f := a.Filter; f != nil && (f.Name != nil && !strings.Contains(strings.ToLower(s.Name), strings.ToLower(*f.Name)) ||
			f.IsActive != nil && *f.IsActive != s.IsActive) {
			continue
		}
		hits = append(hits, s)
	}
	for i := len(a.Sort) - 1; i >= 0; i-- {
		so := a.Sort[i]
		asc := so.IsAscending == nil || *so.IsAscending
		var cmp func(x, y sieveScript) int
		switch so.Property {
		case "name":
			cmp = func(x, y sieveScript) int { return strings.Compare(x.Name, y.Name) }
		case "isActive":
			cmp = func(x, y sieveScript) int {
				return map[bool]int{false: 0, true: 1}[x.IsActive] - map[bool]int{false: 0, true: 1}[y.IsActive]
			}
		default:
			return nil, "", mErr("unsupportedSort", "SieveScript/query sorts by name or isActive, not %q", so.Property)
		}
		slices.SortStableFunc(hits, func(x, y sieveScript) int {
			if asc {
				return cmp(x, y)
			}
			return cmp(y, x)
		})
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return ids, state, nil
}

// sieveQuery is SieveScript/query (RFC 9661 section 2.5). Its
// queryState is the script state, so /queryChanges can answer from the
// change log.
func (c *call) sieveQuery(raw json.RawMessage) (any, error) {
	var a struct {
		sieveQueryArgs
		AccountID      string `json:"accountId"`
		Position       int    `json:"position"`
		Limit          *int   `json:"limit"`
		CalculateTotal bool   `json:"calculateTotal"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	hits, state, err := c.sieveQueryIDs(a.sieveQueryArgs)
	if err != nil {
		return nil, err
	}
	if a.Position < 0 {
		return nil, mErr("invalidArguments", "position is negative")
	}
	ids := []string{}
	for i := a.Position; i < len(hits) && (a.Limit == nil || len(ids) < *a.Limit); i++ {
		ids = append(ids, hits[i])
	}
	res := map[string]any{"accountId": accountID(c.acct), "queryState": state, "canCalculateChanges": true, "position": a.Position, "ids": ids}
	if a.CalculateTotal {
		res["total"] = len(hits)
	}
	return res, nil
}

// sieveQueryChanges is SieveScript/queryChanges (RFC 8620 section 5.6):
// the query runs again, and every script the change log names since
// sinceQueryState is removed and added back where it now stands, as the
// filter and sort look at mutable properties (name, isActive).
func (c *call) sieveQueryChanges(raw json.RawMessage) (any, error) {
	var a struct {
		sieveQueryArgs
		queryChangesArgs
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	since, err := strconv.ParseInt(a.SinceQueryState, 10, 64)
	if err != nil || since < 0 {
		return nil, mErr("cannotCalculateChanges", "%q is not a query state this server gave", a.SinceQueryState)
	}
	ids, state, err := c.sieveQueryIDs(a.sieveQueryArgs)
	if err != nil {
		return nil, err
	}
	changes, now, err := c.s.Sieve.SieveChanges(c.ctx, c.acct, since)
	if err != nil {
		return nil, err
	}
	if since > now {
		return nil, mErr("cannotCalculateChanges", "query state %d is ahead of the account's state %d", since, now)
	}
	changed := map[string]bool{}
	for _, ch := range changes {
		changed[ch.ID] = true
	}
	return queryChangesResult(c, &a.queryChangesArgs, state, ids, changed, false)
}
