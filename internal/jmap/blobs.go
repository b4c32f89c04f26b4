package jmap

import (
	"cmp"
	"context"
	"crypto/sha256"
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
// Blob garbage collection keeps unreferenced blobs for its grace period
// (a day by default), the marker that says who uploaded one included.
const uploadLifetime = time.Hour

// uploads counts the uploads in progress of each account.
type uploads struct {
	mu sync.Mutex
	n  map[store.Account]int
}

// uploadMarker is the content of the blob that records that the account
// uploaded data. The blob store is content-addressed and shared, so
// knowing a hash must not be enough to read someone else's message; the
// marker names the account and a digest of the data behind it, which
// only who has the data can compute. Markers live in the blob store, so
// an upload taken by one node of a cluster is usable from every other,
// and they go the way of every unreferenced blob: collected once older
// than the grace period.
func uploadMarker(acct store.Account, data []byte) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", accountID(acct))
	h.Write(data)
	return fmt.Appendf(nil, "casella jmap upload %x\n", h.Sum(nil))
}

// putUpload stores an upload of the account and its marker.
func putUpload(ctx context.Context, blobs blob.Store, acct store.Account, data []byte) (blob.Key, error) {
	key, err := blobs.Put(ctx, data)
	if err != nil {
		return "", fmt.Errorf("storing an upload: %w", err)
	}
	if _, err := blobs.Put(ctx, uploadMarker(acct, data)); err != nil {
		return "", fmt.Errorf("storing an upload's marker: %w", err)
	}
	return key, nil
}

// uploaded reports whether the account uploaded data within
// uploadLifetime: Put refreshes the marker's time, so uploading again
// extends it.
func uploaded(ctx context.Context, blobs blob.Store, acct store.Account, data []byte) (bool, error) {
	info, err := blobs.Stat(ctx, blob.KeyOf(uploadMarker(acct, data)))
	if errors.Is(err, blob.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking up an upload's marker: %w", err)
	}
	return time.Since(info.ModTime) < uploadLifetime, nil
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
	key, err := putUpload(r.Context(), ss.blobs, ss.acct.ID, data)
	if err != nil {
		s.logger().Warn("storing an upload", "err", err, "account", ss.acct.ID)
		problem(w, http.StatusServiceUnavailable, "urn:ietf:params:jmap:error:serverUnavailable", "Storing the upload failed, try again")
		return
	}
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
	msgs, err := c.s.Store.MessagesWithBlob(c.ctx, c.acct, key)
	if err != nil {
		return nil, fmt.Errorf("finding the messages of blob %s: %w", key, err)
	}
	if len(msgs) == 0 && isPart {
		return nil, blob.ErrNotFound
	}
	data, err := c.blobs.Get(c.ctx, key)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		if ok, err := uploaded(c.ctx, c.blobs, c.acct, data); err != nil || !ok {
			return nil, cmp.Or(err, blob.ErrNotFound)
		}
	}
	if !isPart {
		return data, nil
	}
	owner := newEmail(&msgs[0])
	owner.copies = []store.Message{msgs[0]}
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
