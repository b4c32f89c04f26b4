package jmap

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"casella/internal/store"
)

// capVacation is VacationResponse (RFC 8621 section 8).
const capVacation = "urn:ietf:params:jmap:vacationresponse"

// vacationKey is the account annotation (RFC 5464) that stores the
// vacation response; Sieve's vacation will read it from there.
const vacationKey = "/private/vendor/casella/vacation-response"

// vacation is the VacationResponse singleton.
type vacation struct {
	ID        string     `json:"id"`
	IsEnabled bool       `json:"isEnabled"`
	FromDate  *time.Time `json:"fromDate"`
	ToDate    *time.Time `json:"toDate"`
	Subject   *string    `json:"subject"`
	TextBody  *string    `json:"textBody"`
	HTMLBody  *string    `json:"htmlBody"`
}

// loadVacation returns the stored response and its state, a digest of
// what is stored.
func (c *call) loadVacation() (vacation, string, error) {
	v := vacation{ID: "singleton"}
	entries, err := c.s.Store.Metadata(c.ctx, c.acct, 0)
	if err != nil {
		return v, "", fmt.Errorf("reading the vacation response: %w", err)
	}
	var stored []byte
	for _, e := range entries {
		if e.Name == vacationKey {
			stored = e.Value
		}
	}
	if stored != nil {
		if err := json.Unmarshal(stored, &v); err != nil {
			return v, "", fmt.Errorf("stored vacation response: %w", err)
		}
		v.ID = "singleton"
	}
	sum := sha256.Sum256(stored)
	return v, hex.EncodeToString(sum[:8]), nil
}

func (c *call) vacationGet(raw json.RawMessage) (any, error) {
	var a getArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	v, state, err := c.loadVacation()
	if err != nil {
		return nil, err
	}
	list, notFound := []any{v}, []string{}
	if a.IDs != nil {
		list = []any{}
		for _, id := range *a.IDs {
			if id == "singleton" {
				list = append(list, v)
			} else {
				notFound = append(notFound, id)
			}
		}
	}
	return map[string]any{"accountId": accountID(c.acct), "state": state, "list": list, "notFound": notFound}, nil
}

// vacationSet is VacationResponse/set: only the singleton, only updated.
func (c *call) vacationSet(raw json.RawMessage) (any, error) {
	var a setArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	v, state, err := c.loadVacation()
	if err != nil {
		return nil, err
	}
	if a.IfInState != nil && *a.IfInState != state {
		return nil, mErr("stateMismatch", "the state is %s, not %s", state, *a.IfInState)
	}
	r := &setResult{AccountID: accountID(c.acct), OldState: state, Created: map[string]any{}, Updated: map[string]any{},
		Destroyed: []string{}, NotCreated: map[string]*setError{}, NotUpdated: map[string]*setError{}, NotDestroyed: map[string]*setError{}}
	for cid := range a.Create {
		r.NotCreated[cid] = setErr("singleton", "the vacation response is a singleton")
	}
	for _, id := range a.Destroy {
		r.NotDestroyed[id] = setErr("singleton", "the vacation response is a singleton")
	}
	for id, patch := range a.Update {
		if id != "singleton" {
			r.NotUpdated[id] = setErr("notFound", "the vacation response's id is singleton")
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(patch, &fields); err != nil {
			r.NotUpdated[id] = setErr("invalidPatch", "a patch is an object")
			continue
		}
		if _, ok := fields["id"]; ok {
			r.NotUpdated[id] = &setError{Type: "invalidProperties", Description: "id cannot be set", Properties: []string{"id"}}
			continue
		}
		merged, _ := json.Marshal(v)
		var all map[string]json.RawMessage
		json.Unmarshal(merged, &all)
		for k, val := range fields {
			all[k] = val
		}
		b, _ := json.Marshal(all)
		var nv vacation
		if err := decodeArgs(b, &nv); err != nil {
			r.NotUpdated[id] = setErr("invalidProperties", "%v", err)
			continue
		}
		nv.ID = "singleton"
		stored, _ := json.Marshal(nv)
		if err := c.s.Store.SetMetadata(c.ctx, c.acct, 0, []store.MetadataEntry{{Name: vacationKey, Value: stored}}); err != nil {
			return nil, fmt.Errorf("storing the vacation response: %w", err)
		}
		r.Updated[id] = nil
	}
	_, r.NewState, err = c.loadVacation()
	if err != nil {
		return nil, err
	}
	return r, nil
}
