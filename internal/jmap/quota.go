package jmap

import (
	"encoding/json"
	"slices"
)

// capQuota is JMAP Quotas (RFC 9425).
const capQuota = "urn:ietf:params:jmap:quota"

// quotas are the account's quotas (RFC 9425 section 4): its storage
// limit from the directory, and nothing when it has none. Usage is the
// store's exact counter. They come with the account's state, read
// first, which is also the quota state: usage moves with every change.
func (c *call) quotas() (string, []map[string]any, error) {
	state, err := c.state()
	if err != nil {
		return "", nil, err
	}
	if c.ss.acct.Quota <= 0 {
		return state, nil, nil
	}
	u, err := c.s.Store.Usage(c.ctx, c.acct)
	if err != nil {
		return "", nil, err
	}
	return state, []map[string]any{{
		"id": "Qbytes", "resourceType": "octets", "used": u.Bytes, "hardLimit": c.ss.acct.Quota,
		"scope": "account", "name": c.ss.acct.Address, "types": []string{"Email"},
		"description": nil, "warnLimit": nil, "softLimit": nil,
	}}, nil
}

var quotaProps = []string{"id", "resourceType", "used", "hardLimit", "scope", "name", "types", "warnLimit", "softLimit", "description"}

// quotaGet is Quota/get (RFC 9425 section 4.1). Usage moves with every
// change of the account, so the quota state is the account's state.
func (c *call) quotaGet(raw json.RawMessage) (any, error) {
	var a getArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	props, err := properties(a.Properties, quotaProps, quotaProps, nil)
	if err != nil {
		return nil, err
	}
	state, qs, err := c.quotas()
	if err != nil {
		return nil, err
	}
	list, notFound := []any{}, []string{}
	for _, q := range qs {
		if a.IDs != nil && !slices.Contains(*a.IDs, q["id"].(string)) {
			continue
		}
		o := map[string]any{}
		for _, p := range props {
			o[p] = q[p]
		}
		list = append(list, o)
	}
	if a.IDs != nil {
		for _, id := range *a.IDs {
			if !slices.ContainsFunc(qs, func(q map[string]any) bool { return q["id"] == id }) {
				notFound = append(notFound, id)
			}
		}
	}
	return map[string]any{"accountId": accountID(c.acct), "state": state, "list": list, "notFound": notFound}, nil
}

// quotaChanges is Quota/changes (RFC 9425 section 4.2): any change of
// the account may have moved the usage.
func (c *call) quotaChanges(raw json.RawMessage) (any, error) {
	var a changesArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	state, qs, err := c.quotas()
	if err != nil {
		return nil, err
	}
	updated := []string{}
	if a.SinceState != state {
		for _, q := range qs {
			updated = append(updated, q["id"].(string))
		}
	}
	return map[string]any{"accountId": accountID(c.acct), "oldState": a.SinceState, "newState": state, "hasMoreChanges": false,
		"created": []string{}, "updated": updated, "destroyed": []string{}, "updatedProperties": []string{"used"}}, nil
}

// quotaQuery is Quota/query (RFC 9425 section 4.3); its one filter and
// sort are of little use with one quota, and are accepted.
func (c *call) quotaQuery(raw json.RawMessage) (any, error) {
	var a struct {
		AccountID      string          `json:"accountId"`
		Filter         json.RawMessage `json:"filter"`
		Sort           []comparator    `json:"sort"`
		Position       int             `json:"position"`
		Limit          *int            `json:"limit"`
		CalculateTotal bool            `json:"calculateTotal"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	state, qs, err := c.quotas()
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, q := range qs {
		ids = append(ids, q["id"].(string))
	}
	return pageResult(c, state, ids, a.Position, a.Limit, a.CalculateTotal, nil, 0)
}
