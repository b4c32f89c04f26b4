package jmap

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"casella/internal/blob"
	"casella/internal/store"
)

// Blob management (RFC 9404): blobs made and read inside API requests,
// and where a blob is used.
const (
	capBlob = "urn:ietf:params:jmap:blob"
	// maxDataSources is the most pieces one Blob/upload creation joins;
	// the RFC asks for at least 64.
	maxDataSources = 64
)

// blobTypeNames are the types Blob/lookup answers for.
var blobTypeNames = []string{"Email", "Mailbox", "Thread"}

// digests are the digest algorithms of Blob/get (RFC 9404 section 4.2,
// named as in the HTTP Digest Algorithm Values registry).
var digests = map[string]func([]byte) []byte{
	"sha":     func(b []byte) []byte { s := sha1.Sum(b); return s[:] },
	"sha-256": func(b []byte) []byte { s := sha256.Sum256(b); return s[:] },
}

func blobCapability(maxSize int64) map[string]any {
	return map[string]any{
		"maxSizeBlobSet":            maxSize,
		"maxDataSources":            maxDataSources,
		"supportedTypeNames":        blobTypeNames,
		"supportedDigestAlgorithms": []string{"sha", "sha-256"},
	}
}

// dataSource is a DataSourceObject (RFC 9404 section 4.1): literal data,
// or a range of a blob.
type dataSource struct {
	AsText   *string `json:"data:asText"`
	AsBase64 *string `json:"data:asBase64"`
	BlobID   *string `json:"blobId"`
	Offset   *int64  `json:"offset"`
	Length   *int64  `json:"length"`
}

// blobUpload is Blob/upload (RFC 9404 section 4.1). A creation may name
// blobs made by another creation of the same call as "#id"; creations
// run once what they name exists, and those that never can fail.
func (c *call) blobUpload(raw json.RawMessage) (any, error) {
	var a struct {
		AccountID string                     `json:"accountId"`
		Create    map[string]json.RawMessage `json:"create"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	if len(a.Create) > maxObjectsInSet {
		return nil, mErr("requestTooLarge", "more than maxObjectsInSet creations")
	}
	created, notCreated := map[string]any{}, map[string]*setError{}
	pending := map[string]struct {
		Data []dataSource `json:"data"`
		Type *string      `json:"type"`
	}{}
	for cid, v := range a.Create {
		p := pending[cid]
		if serr := decodeProps(v, &p); serr != nil {
			notCreated[cid] = serr
			continue
		}
		pending[cid] = p
	}
	waits := func(ds []dataSource) bool {
		return slices.ContainsFunc(ds, func(d dataSource) bool {
			if d.BlobID == nil {
				return false
			}
			cid, ok := strings.CutPrefix(*d.BlobID, "#")
			_, unmade := pending[cid]
			return ok && unmade
		})
	}
	for len(pending) > 0 {
		progress := false
		for cid, p := range pending {
			if waits(p.Data) {
				continue
			}
			delete(pending, cid)
			progress = true
			data, serr := c.joinSources(p.Data)
			if serr != nil {
				notCreated[cid] = serr
				continue
			}
			key, err := putUpload(c.ctx, c.blobs, c.acct, data)
			if err != nil {
				return nil, err
			}
			typ := "application/octet-stream"
			if p.Type != nil {
				typ = *p.Type
			}
			c.created[cid] = string(key)
			created[cid] = map[string]any{"id": string(key), "type": typ, "size": len(data)}
		}
		if !progress {
			for cid := range pending {
				notCreated[cid] = badProp("data", "the blobs it names are never made: a cycle, or creations that failed")
			}
			break
		}
	}
	return map[string]any{"accountId": accountID(c.acct), "created": nilIfEmptyMap(created), "notCreated": nilIfEmptyMap(notCreated)}, nil
}

func nilIfEmptyMap[V any](m map[string]V) map[string]V {
	if len(m) == 0 {
		return nil
	}
	return m
}

// joinSources concatenates the data sources of a creation.
func (c *call) joinSources(ds []dataSource) ([]byte, *setError) {
	if len(ds) == 0 {
		return nil, badProp("data", "no data sources")
	}
	if len(ds) > maxDataSources {
		return nil, &setError{Type: "tooLarge", Description: "more than maxDataSources data sources", Properties: []string{"data"}}
	}
	var out []byte
	for _, d := range ds {
		var piece []byte
		switch {
		case d.AsText != nil && d.AsBase64 == nil && d.BlobID == nil && d.Offset == nil && d.Length == nil:
			piece = []byte(*d.AsText)
		case d.AsBase64 != nil && d.AsText == nil && d.BlobID == nil && d.Offset == nil && d.Length == nil:
			b, err := base64.StdEncoding.DecodeString(*d.AsBase64)
			if err != nil {
				return nil, badProp("data", "data:asBase64 is not base64: %v", err)
			}
			piece = b
		case d.BlobID != nil && d.AsText == nil && d.AsBase64 == nil:
			id, _ := c.resolveID(*d.BlobID)
			b, err := c.readBlob(id)
			if errors.Is(err, blob.ErrNotFound) {
				return nil, &setError{Type: "blobNotFound", Description: "no blob " + *d.BlobID, Properties: []string{"data"}}
			}
			if err != nil {
				return nil, setErr("serverFail", "reading blob %s failed", *d.BlobID)
			}
			start, end := int64(0), int64(len(b))
			if d.Offset != nil {
				start = *d.Offset
			}
			if d.Length != nil {
				end = start + *d.Length
			}
			if start < 0 || end < start || end > int64(len(b)) {
				return nil, badProp("data", "offset and length reach outside blob %s", *d.BlobID)
			}
			piece = b[start:end]
		default:
			return nil, badProp("data", "a data source is data:asText, data:asBase64, or blobId with offset and length")
		}
		out = append(out, piece...)
		if int64(len(out)) > c.s.maxSizeUpload() {
			return nil, &setError{Type: "tooLarge", Description: "the blob would be larger than maxSizeBlobSet", Properties: []string{"data"}}
		}
	}
	return out, nil
}

// blobGet is Blob/get (RFC 9404 section 4.2): the data of a range of
// each blob, as text or base64, its size and digests of the range.
func (c *call) blobGet(raw json.RawMessage) (any, error) {
	var a struct {
		AccountID  string    `json:"accountId"`
		IDs        *[]string `json:"ids"`
		Properties *[]string `json:"properties"`
		Offset     *int64    `json:"offset"`
		Length     *int64    `json:"length"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	if a.IDs == nil {
		return nil, invalidArgs("Blob/get needs ids: the account's blobs are not listed")
	}
	if len(*a.IDs) > maxObjectsInGet {
		return nil, mErr("requestTooLarge", "more than maxObjectsInGet ids")
	}
	if a.Offset != nil && *a.Offset < 0 || a.Length != nil && *a.Length < 0 {
		return nil, invalidArgs("offset and length are not negative")
	}
	props := []string{"data", "size"}
	if a.Properties != nil {
		props = *a.Properties
	}
	for _, p := range props {
		alg, isDigest := strings.CutPrefix(p, "digest:")
		if p != "data" && p != "data:asText" && p != "data:asBase64" && p != "size" && (!isDigest || digests[alg] == nil) {
			return nil, invalidArgs("unknown property %q", p)
		}
	}
	list, notFound := []any{}, []string{}
	for _, id := range *a.IDs {
		rid, _ := c.resolveID(id)
		data, err := c.readBlob(rid)
		if errors.Is(err, blob.ErrNotFound) {
			notFound = append(notFound, id)
			continue
		}
		if err != nil {
			return nil, err
		}
		o := map[string]any{"id": rid}
		start := int64(0)
		if a.Offset != nil {
			start = min(*a.Offset, int64(len(data)))
		}
		end := int64(len(data))
		if a.Length != nil {
			if start+*a.Length > end {
				o["isTruncated"] = true
			}
			end = min(start+*a.Length, end)
		}
		part := data[start:end]
		for _, p := range props {
			switch p {
			case "size":
				o[p] = len(data)
			case "data", "data:asText", "data:asBase64":
				if p == "data:asBase64" || p == "data" && !utf8.Valid(part) {
					o["data:asBase64"] = base64.StdEncoding.EncodeToString(part)
				} else if utf8.Valid(part) {
					o["data:asText"] = string(part)
				} else {
					o["data:asText"] = nil
					o["isEncodingProblem"] = true
				}
			default:
				o[p] = base64.StdEncoding.EncodeToString(digests[strings.TrimPrefix(p, "digest:")](part))
			}
		}
		list = append(list, o)
	}
	return map[string]any{"accountId": accountID(c.acct), "list": list, "notFound": notFound}, nil
}

// blobLookup is Blob/lookup (RFC 9404 section 4.3): the emails, mailboxes
// and threads that use each blob. An email uses its message's blob and
// those of its parts; its mailboxes and its thread use them too.
func (c *call) blobLookup(raw json.RawMessage) (any, error) {
	var a struct {
		AccountID string   `json:"accountId"`
		TypeNames []string `json:"typeNames"`
		IDs       []string `json:"ids"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	for _, t := range a.TypeNames {
		if !slices.Contains(blobTypeNames, t) {
			return nil, mErr("unknownDataType", "Blob/lookup knows %s, not %q", strings.Join(blobTypeNames, ", "), t)
		}
	}
	if len(a.IDs) > maxObjectsInGet {
		return nil, mErr("requestTooLarge", "more than maxObjectsInGet ids")
	}
	list, notFound := []any{}, []string{}
	for _, id := range a.IDs {
		rid, _ := c.resolveID(id)
		key, _, isPart := strings.Cut(rid, "_")
		var users []store.Message
		if k := blob.Key(key); k.Valid() {
			var err error
			if users, err = c.s.Store.MessagesWithBlob(c.ctx, c.acct, k); err != nil {
				return nil, fmt.Errorf("finding the messages of blob %s: %w", k, err)
			}
		}
		// A part, or a blob no email uses, is known only by reading it.
		if len(users) == 0 || isPart {
			if _, err := c.readBlob(rid); errors.Is(err, blob.ErrNotFound) {
				notFound = append(notFound, id)
				continue
			} else if err != nil {
				return nil, err
			}
		}
		matched := map[string][]string{}
		for _, t := range a.TypeNames {
			matched[t] = []string{}
		}
		// users are the messages, one per mailbox holding an email.
		for _, m := range users {
			for t := range matched {
				switch t {
				case "Email":
					matched[t] = append(matched[t], emailID(m.EmailID))
				case "Thread":
					matched[t] = append(matched[t], threadID(m.ThreadID))
				case "Mailbox":
					matched[t] = append(matched[t], mailboxID(m.Mailbox))
				}
			}
		}
		for t, l := range matched {
			slices.Sort(l)
			matched[t] = slices.Compact(l)
		}
		list = append(list, map[string]any{"id": rid, "matchedIds": matched})
	}
	return map[string]any{"accountId": accountID(c.acct), "list": list, "notFound": notFound}, nil
}
