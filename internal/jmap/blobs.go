package jmap

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"casella/internal/blob"
	"casella/internal/message"
	"casella/internal/store"
)

// uploadLifetime is how long an upload stays usable by its account
// without being referenced (RFC 8620 section 6.1: at least an hour).
// Blob garbage collection keeps unreferenced blobs for its grace period.
const uploadLifetime = time.Hour

// uploads remembers which account uploaded which blob, since the blob
// store is content-addressed and shared: knowing a hash must not be
// enough to read someone else's message.
type uploads struct {
	mu sync.Mutex
	m  map[uploadKey]upload
	n  map[store.Account]int // uploads in progress
}

type uploadKey struct {
	acct store.Account
	key  blob.Key
}

type upload struct {
	typ     string
	expires time.Time
}

func (u *uploads) add(acct store.Account, key blob.Key, typ string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[uploadKey]upload{}
	}
	now := time.Now()
	for k, v := range u.m {
		if now.After(v.expires) {
			delete(u.m, k)
		}
	}
	u.m[uploadKey{acct, key}] = upload{typ, now.Add(uploadLifetime)}
}

func (u *uploads) has(acct store.Account, key blob.Key) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	v, ok := u.m[uploadKey{acct, key}]
	return ok && time.Now().Before(v.expires)
}

func (u *uploads) begin(acct store.Account) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n == nil {
		u.n = map[store.Account]int{}
	}
	if u.n[acct] >= maxConcurrentUpload {
		return false
	}
	u.n[acct]++
	return true
}

func (u *uploads) end(acct store.Account) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n[acct]--; u.n[acct] <= 0 {
		delete(u.n, acct)
	}
}

// serveUpload stores a blob (RFC 8620 section 6.1).
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, ss *session) {
	if r.PathValue("account") != accountID(ss.acct.ID) {
		problem(w, http.StatusNotFound, "about:blank", "No such account for this login")
		return
	}
	if !s.uploads.begin(ss.acct.ID) {
		s.refuse(w, http.StatusTooManyRequests, "maxConcurrentUpload", "Too many uploads at once")
		return
	}
	defer s.uploads.end(ss.acct.ID)
	data, err := io.ReadAll(io.LimitReader(r.Body, s.maxSizeUpload()+1))
	var tooLarge *http.MaxBytesError
	if err != nil && !errors.As(err, &tooLarge) {
		problem(w, http.StatusBadRequest, "about:blank", "Reading the upload failed")
		return
	}
	if tooLarge != nil || int64(len(data)) > s.maxSizeUpload() {
		s.refuse(w, http.StatusRequestEntityTooLarge, "maxSizeUpload", "The upload is larger than maxSizeUpload")
		return
	}
	typ := r.Header.Get("Content-Type")
	if typ == "" {
		typ = "application/octet-stream"
	}
	ctx := r.Context()
	key, err := ss.blobs.Put(ctx, data)
	if err != nil {
		s.logger().Warn("storing an upload", "err", err, "account", ss.acct.ID)
		problem(w, http.StatusServiceUnavailable, "urn:ietf:params:jmap:error:serverUnavailable", "Storing the upload failed, try again")
		return
	}
	s.uploads.add(ss.acct.ID, key, typ)
	writeJSON(w, http.StatusCreated, map[string]any{"accountId": accountID(ss.acct.ID), "blobId": string(key), "type": typ, "size": len(data)})
}

// partBlobID names a body part's decoded content.
func partBlobID(key, partID string) string {
	return key + "_" + strings.ReplaceAll(partID, ".", "-")
}

// readBlob returns the content of a blob id that the account may read:
// a message of its own, a part of one, or its own upload.
func (c *call) readBlob(id string) ([]byte, error) {
	keyStr, part, isPart := strings.Cut(id, "_")
	key := blob.Key(keyStr)
	if !key.Valid() {
		return nil, blob.ErrNotFound
	}
	x, err := c.index()
	if err != nil {
		return nil, err
	}
	var owner *email
	for _, e := range x.emails {
		if e.blob == key {
			owner = e
			break
		}
	}
	if owner == nil && (isPart || !c.s.uploads.has(c.acct, key)) {
		return nil, blob.ErrNotFound
	}
	data, err := c.blobs.Get(c.ctx, key)
	if err != nil {
		return nil, err
	}
	if !isPart {
		return data, nil
	}
	meta, err := c.metaOf(owner)
	if err != nil {
		return nil, err
	}
	p := findPart(meta.Structure, "", strings.ReplaceAll(part, "-", "."))
	if p == nil {
		return nil, blob.ErrNotFound
	}
	return message.DecodeBody(data, p)
}

// findPart finds the part numbered want below p, numbered id.
func findPart(p *message.Part, id, want string) *message.Part {
	if p.Type != "multipart" {
		if id == "" {
			id = "1"
		}
		if id == want {
			return p
		}
		return nil
	}
	for i, c := range p.Parts {
		if f := findPart(c, childID(id, i), want); f != nil {
			return f
		}
	}
	return nil
}

// serveDownload serves a blob (RFC 8620 section 6.2), never to be
// rendered on this origin (section 8.5).
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request, ss *session) {
	if r.PathValue("account") != accountID(ss.acct.ID) {
		problem(w, http.StatusNotFound, "about:blank", "No such account for this login")
		return
	}
	c := &call{ctx: r.Context(), s: s, acct: ss.acct.ID, ss: ss, blobs: ss.blobs}
	data, err := c.readBlob(r.PathValue("blob"))
	if errors.Is(err, blob.ErrNotFound) {
		problem(w, http.StatusNotFound, "about:blank", "No such blob")
		return
	}
	if err != nil {
		s.logger().Warn("download", "err", err, "account", ss.acct.ID)
		problem(w, http.StatusServiceUnavailable, "urn:ietf:params:jmap:error:serverUnavailable", "Reading the blob failed, try again")
		return
	}
	typ := r.URL.Query().Get("type")
	if _, _, err := mime.ParseMediaType(typ); err != nil {
		typ = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": r.PathValue("name")}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, immutable, max-age=31536000")
	h.Set("Content-Length", fmt.Sprint(len(data)))
	w.Write(data)
}
