package jmap

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"casella/internal/store"
)

// accountID is the JMAP id of an account.
func accountID(a store.Account) string { return "A" + strconv.FormatInt(int64(a), 10) }

// baseURL is the origin the client reached, for the session's URLs.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// serveSession serves the session resource (RFC 8620 section 2).
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request, ss *session) {
	base := baseURL(r)
	id := accountID(ss.acct.ID)
	mailCap := map[string]any{
		"maxMailboxesPerEmail":       nil,
		"maxMailboxDepth":            nil,
		"maxSizeMailboxName":         maxSizeMailboxName,
		"maxSizeAttachmentsPerEmail": s.maxSizeUpload(),
		"emailQuerySortOptions":      sortProperties,
		"mayCreateTopLevelMailbox":   true,
	}
	doc := map[string]any{
		"capabilities": map[string]any{
			capCore: map[string]any{
				"maxSizeUpload":         s.maxSizeUpload(),
				"maxConcurrentUpload":   maxConcurrentUpload,
				"maxSizeRequest":        maxSizeRequest,
				"maxConcurrentRequests": maxConcurrentRequests,
				"maxCallsInRequest":     maxCallsInRequest,
				"maxObjectsInGet":       maxObjectsInGet,
				"maxObjectsInSet":       maxObjectsInSet,
				"collationAlgorithms":   []string{"i;ascii-casemap"},
			},
			capMail:       map[string]any{},
			capSubmission: map[string]any{},
			capQuota:      map[string]any{},
			capVacation:   map[string]any{},
			capSieve:      map[string]any{},
			capWebSocket:  map[string]any{"url": wsURL(r), "supportsPush": true},
			capBlob:       map[string]any{},
			capAccount:    map[string]any{},
		},
		"accounts": map[string]any{
			id: map[string]any{
				"name":       ss.acct.Address,
				"isPersonal": true,
				"isReadOnly": false,
				"accountCapabilities": map[string]any{
					capMail:       mailCap,
					capSubmission: s.submissionCap(),
					capQuota:      map[string]any{},
					capVacation:   map[string]any{},
					capBlob:       blobCapability(s.maxSizeUpload()),
					capSieve:      s.sieveCapability(),
					capAccount:    map[string]any{"minPasswordLength": minPasswordLength},
				},
			},
		},
		"primaryAccounts": map[string]string{capMail: id, capSubmission: id, capQuota: id, capVacation: id, capBlob: id, capSieve: id, capAccount: id},
		"username":        ss.acct.Address,
		"apiUrl":          base + Prefix + "/api",
		"downloadUrl":     base + Prefix + "/download/{accountId}/{blobId}/{name}?type={type}",
		"uploadUrl":       base + Prefix + "/upload/{accountId}/",
		"eventSourceUrl":  base + Prefix + "/eventsource?types={types}&closeafter={closeafter}&ping={ping}",
		"state":           sessionState,
	}
	writeJSON(w, http.StatusOK, doc)
}

// sessionState changes when the session resource does: it depends only
// on the account and this code, so a constant serves.
const sessionState = "1"

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// problem writes a request-level error as problem details (RFC 7807,
// RFC 8620 section 3.6.1).
func problem(w http.ResponseWriter, code int, typ, detail string, extra ...any) {
	doc := map[string]any{"type": typ, "status": code, "detail": detail}
	for i := 0; i+1 < len(extra); i += 2 {
		doc[extra[i].(string)] = extra[i+1]
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(doc)
}

// submissionCap is the account's submission capability (RFC 8621
// section 1.3.2). Holds are offered as FUTURERELEASE (RFC 4865 section
// 3): the longest interval, and the latest date-time that allows.
func (s *Server) submissionCap() map[string]any {
	max := s.Submission.maxDelayedSend()
	ext := map[string]any{}
	if max > 0 {
		ext["FUTURERELEASE"] = []string{strconv.Itoa(int(max / time.Second)), time.Now().Add(max).UTC().Format(time.RFC3339)}
	}
	return map[string]any{"maxDelayedSend": int(max / time.Second), "submissionExtensions": ext}
}
