package jmap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"casella/internal/blob"
	"casella/internal/message"
	"casella/internal/store"
)

// Request-level error types (RFC 8620 section 3.6.1).
const (
	errUnknownCapability = "urn:ietf:params:jmap:error:unknownCapability"
	errNotJSON           = "urn:ietf:params:jmap:error:notJSON"
	errNotRequest        = "urn:ietf:params:jmap:error:notRequest"
	errLimit             = "urn:ietf:params:jmap:error:limit"
)

// Request is a JMAP request (RFC 8620 section 3.3).
type Request struct {
	Using       []string          `json:"using"`
	MethodCalls []Invocation      `json:"methodCalls"`
	CreatedIDs  map[string]string `json:"createdIds,omitempty"`
}

// Invocation is one method call or response: [name, arguments, call id]
// (RFC 8620 section 3.2).
type Invocation struct {
	Name   string
	Args   json.RawMessage
	CallID string
}

// UnmarshalJSON reads the three-element array form.
func (inv *Invocation) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("an invocation is an array: %w", err)
	}
	if len(raw) != 3 {
		return fmt.Errorf("an invocation has 3 elements, not %d", len(raw))
	}
	if err := json.Unmarshal(raw[0], &inv.Name); err != nil {
		return fmt.Errorf("method name: %w", err)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(raw[1]), []byte("{")) {
		return errors.New("method arguments must be an object")
	}
	inv.Args = raw[1]
	if err := json.Unmarshal(raw[2], &inv.CallID); err != nil {
		return fmt.Errorf("method call id: %w", err)
	}
	return nil
}

// MarshalJSON writes the three-element array form.
func (inv Invocation) MarshalJSON() ([]byte, error) {
	return appendInvocation(nil, inv), nil
}

// ParseRequest reads a request body, checking its shape (RFC 8620
// section 3.3). The returned error's problem type says which
// request-level error answers it.
func ParseRequest(body []byte) (*Request, *RequestError) {
	if !json.Valid(body) {
		return nil, &RequestError{errNotJSON, "The request is not valid JSON"}
	}
	var req Request
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return nil, &RequestError{errNotRequest, "The request does not match the Request object: " + err.Error()}
	}
	if req.Using == nil || req.MethodCalls == nil {
		return nil, &RequestError{errNotRequest, "A request needs using and methodCalls"}
	}
	return &req, nil
}

// RequestError is a request-level error.
type RequestError struct {
	Type   string
	Detail string
}

func (e *RequestError) Error() string { return e.Type + ": " + e.Detail }

// methodError is a method-level error (RFC 8620 section 3.6.2).
type methodError struct {
	Type        string   `json:"type"`
	Description string   `json:"description,omitempty"`
	Properties  []string `json:"properties,omitempty"`
}

func (e *methodError) Error() string { return e.Type + ": " + e.Description }

func mErr(typ, format string, args ...any) *methodError {
	return &methodError{Type: typ, Description: fmt.Sprintf(format, args...)}
}

func invalidArgs(format string, args ...any) *methodError {
	return mErr("invalidArguments", format, args...)
}

// method is one method's handler and the capability it belongs to.
type method struct {
	capability string
	fn         func(c *call, args json.RawMessage) (any, error)
}

// methods is the whole API surface, by name.
var methods = map[string]method{
	"Core/echo":            {capCore, (*call).echo},
	"Mailbox/get":          {capMail, (*call).mailboxGet},
	"Mailbox/changes":      {capMail, (*call).mailboxChanges},
	"Mailbox/query":        {capMail, (*call).mailboxQuery},
	"Mailbox/queryChanges": {capMail, (*call).mailboxQueryChanges},
	"Mailbox/set":          {capMail, (*call).mailboxSet},
	"Email/get":            {capMail, (*call).emailGet},
	"Email/changes":        {capMail, (*call).emailChanges},
	"Email/query":          {capMail, (*call).emailQuery},
	"Email/queryChanges":   {capMail, (*call).emailQueryChanges},
	"Email/set":            {capMail, (*call).emailSet},
	"Email/import":         {capMail, (*call).emailImport},
	"Email/parse":          {capMail, (*call).emailParse},
	"Thread/get":           {capMail, (*call).threadGet},
	"Thread/changes":       {capMail, (*call).threadChanges},
	"SearchSnippet/get":    {capMail, (*call).snippetGet},
	"Quota/get":            {capQuota, (*call).quotaGet},
	"Quota/changes":        {capQuota, (*call).quotaChanges},
	"Quota/query":          {capQuota, (*call).quotaQuery},
	"VacationResponse/get": {capVacation, (*call).vacationGet},
	"VacationResponse/set": {capVacation, (*call).vacationSet},
	"SieveScript/get":      {capSieve, (*call).sieveGet},
	"SieveScript/changes":  {capSieve, (*call).sieveChanges},
	"SieveScript/set":      {capSieve, (*call).sieveSet},
	"SieveScript/query":    {capSieve, (*call).sieveQuery},
	"SieveScript/validate": {capSieve, (*call).sieveValidate},
	"EmailSubmission/set":  {capSubmission, (*call).emailSubmissionSet},
	"Identity/get":         {capSubmission, (*call).identityGet},
	"Blob/upload":          {capBlob, (*call).blobUpload},
	"Blob/get":             {capBlob, (*call).blobGet},
	"Blob/lookup":          {capBlob, (*call).blobLookup},

	// EmailSubmission records (submissions.go).
	"EmailSubmission/get":     {capSubmission, (*call).emailSubmissionGet},
	"EmailSubmission/changes": {capSubmission, (*call).emailSubmissionChanges},
	"EmailSubmission/query":   {capSubmission, (*call).emailSubmissionQuery},

	// SieveScript's change log (sieve.go).
	"SieveScript/queryChanges": {capSieve, (*call).sieveQueryChanges},

	// Casella's account extension (account.go).
	"AppPassword/get":      {capAccount, (*call).appPasswordGet},
	"AppPassword/set":      {capAccount, (*call).appPasswordSet},
	"AppPassword/changes":  {capAccount, (*call).appPasswordChanges},
	"Password/change":      {capAccount, (*call).passwordChange},
	"RemoteImages/get":     {capAccount, (*call).remoteImagesGet},
	"RemoteImages/set":     {capAccount, (*call).remoteImagesSet},
	"RemoteImages/changes": {capAccount, (*call).remoteImagesChanges},
}

// known capabilities that a request may name in using.
var capabilities = map[string]bool{capCore: true, capMail: true, capSubmission: true, capQuota: true, capVacation: true, capSieve: true, capWebSocket: true, capBlob: true, capAccount: true}

// call is the context of one method call.
type call struct {
	ctx   context.Context
	s     *Server
	acct  store.Account
	ss    *session
	blobs blob.Store
	// created maps the creation ids of this request to the ids made
	// (RFC 8620 section 5.3).
	created map[string]string
	idx     *index // the account's messages, loaded on first use
	// metas holds the metadata read by this call, by EMAILID; allMeta
	// says it holds every email's.
	metas   map[int64]*message.Meta
	allMeta bool
	// extra are responses a method adds after its own, such as the
	// implicit Email/set of EmailSubmission/set (RFC 8621 section 7.5).
	extra []extraResponse
}

type extraResponse struct {
	name string
	args any
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, ss *session) {
	if !s.enter(ss.acct.ID) {
		s.refuse(w, http.StatusTooManyRequests, "maxConcurrentRequests", "Too many requests at once for this account")
		return
	}
	defer s.leave(ss.acct.ID)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSizeRequest+1))
	var tooLarge *http.MaxBytesError
	if err != nil && !errors.As(err, &tooLarge) {
		return
	}
	if tooLarge != nil || len(body) > maxSizeRequest {
		s.refuse(w, http.StatusRequestEntityTooLarge, "maxSizeRequest", "The request is larger than maxSizeRequest")
		return
	}
	req, rerr := ParseRequest(body)
	if rerr != nil {
		problem(w, http.StatusBadRequest, rerr.Type, rerr.Detail)
		return
	}
	for _, u := range req.Using {
		if !capabilities[u] {
			problem(w, http.StatusBadRequest, errUnknownCapability, "The server does not support the capability "+strconv.Quote(u))
			return
		}
	}
	if len(req.MethodCalls) > maxCallsInRequest {
		s.refuse(w, http.StatusBadRequest, "maxCallsInRequest", "The request has more than maxCallsInRequest method calls")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout())
	defer cancel()
	resp := s.run(ctx, ss, req)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(appendResponse(nil, resp))
}

// response is the Response object (RFC 8620 section 3.4).
type response struct {
	MethodResponses []Invocation      `json:"methodResponses"`
	CreatedIDs      map[string]string `json:"createdIds,omitempty"`
	SessionState    string            `json:"sessionState"`
}

// run processes the method calls in order (RFC 8620 section 3.3).
func (s *Server) run(ctx context.Context, ss *session, req *Request) *response {
	using := map[string]bool{}
	for _, u := range req.Using {
		using[u] = true
	}
	c := &call{ctx: ctx, s: s, acct: ss.acct.ID, ss: ss, blobs: ss.blobs, created: map[string]string{}}
	for k, v := range req.CreatedIDs {
		c.created[k] = v
	}
	resp := &response{MethodResponses: []Invocation{}, SessionState: sessionState}
	for _, inv := range req.MethodCalls {
		name, out := s.invoke(c, using, inv, resp.MethodResponses)
		b, err := marshalResult(out)
		if err != nil {
			s.logger().Error("encoding a method response", "method", inv.Name, "err", err)
			name, b = "error", []byte(`{"type":"serverFail"}`)
		}
		resp.MethodResponses = append(resp.MethodResponses, Invocation{Name: name, Args: b, CallID: inv.CallID})
		for _, x := range c.extra {
			if b, err := json.Marshal(x.args); err == nil {
				resp.MethodResponses = append(resp.MethodResponses, Invocation{Name: x.name, Args: b, CallID: inv.CallID})
			}
		}
		c.extra = nil
	}
	if req.CreatedIDs != nil {
		resp.CreatedIDs = c.created
	}
	return resp
}

// invoke runs one method call and returns the response's name and
// arguments.
func (s *Server) invoke(c *call, using map[string]bool, inv Invocation, done []Invocation) (string, any) {
	m, ok := methods[inv.Name]
	if !ok || !using[m.capability] {
		return "error", mErr("unknownMethod", "unknown method %q, or its capability is not in using", inv.Name)
	}
	args, err := resolveReferences(inv.Args, done)
	if err != nil {
		return "error", err
	}
	var common struct {
		AccountID *string `json:"accountId"`
	}
	if err := json.Unmarshal(args, &common); err == nil && inv.Name != "Core/echo" && common.AccountID != nil && *common.AccountID != accountID(c.acct) {
		return "error", mErr("accountNotFound", "no account %q for this login", *common.AccountID)
	}
	out, err := m.fn(c, args)
	if err != nil {
		var me *methodError
		if errors.As(err, &me) {
			return "error", me
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, store.ErrUnavailable) {
			s.logger().Warn("jmap method unavailable", "method", inv.Name, "err", err)
			return "error", mErr("serverUnavailable", "the mailbox store is temporarily unavailable, try again")
		}
		s.logger().Error("jmap method failed", "method", inv.Name, "err", err)
		return "error", mErr("serverFail", "the method failed; the error is logged")
	}
	return inv.Name, out
}

// resolveReferences replaces "#name" arguments by the values their
// ResultReference points at (RFC 8620 section 3.7).
func resolveReferences(args json.RawMessage, done []Invocation) (json.RawMessage, error) {
	if !bytes.Contains(args, []byte(`"#`)) {
		return args, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(args, &m); err != nil {
		return nil, invalidArgs("arguments: %v", err)
	}
	changed := false
	for k, v := range m {
		name, ok := strings.CutPrefix(k, "#")
		if !ok {
			continue
		}
		if _, both := m[name]; both {
			return nil, invalidArgs("both %q and %q are given", name, k)
		}
		var ref struct {
			ResultOf *string `json:"resultOf"`
			Name     *string `json:"name"`
			Path     *string `json:"path"`
		}
		if err := json.Unmarshal(v, &ref); err != nil || ref.ResultOf == nil || ref.Name == nil || ref.Path == nil {
			return nil, mErr("invalidResultReference", "%s is not a ResultReference", k)
		}
		val, err := lookupReference(done, *ref.ResultOf, *ref.Name, *ref.Path)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(val)
		if err != nil {
			return nil, err
		}
		delete(m, k)
		m[name] = b
		changed = true
	}
	if !changed {
		return args, nil
	}
	return json.Marshal(m)
}

// lookupReference evaluates a reference against the responses so far:
// the first response with the call id, which must have the name, then
// the JSON Pointer with "*" over arrays.
func lookupReference(done []Invocation, callID, name, path string) (any, error) {
	for _, r := range done {
		if r.CallID != callID {
			continue
		}
		if r.Name != name {
			return nil, mErr("invalidResultReference", "the response of call %q is %q, not %q", callID, r.Name, name)
		}
		var doc any
		if err := json.Unmarshal(r.Args, &doc); err != nil {
			return nil, err
		}
		v, err := evalPointer(doc, path)
		if err != nil {
			return nil, mErr("invalidResultReference", "path %q: %v", path, err)
		}
		return v, nil
	}
	return nil, mErr("invalidResultReference", "no earlier response has call id %q", callID)
}

// evalPointer evaluates a JSON Pointer (RFC 6901) with JMAP's "*"
// extension: applied to an array, the rest of the path is evaluated on
// each item and array results are flattened (RFC 8620 section 3.7).
func evalPointer(doc any, path string) (any, error) {
	if path == "" {
		return doc, nil
	}
	if !strings.HasPrefix(path, "/") {
		return nil, errors.New("a pointer starts with /")
	}
	tok, rest, more := strings.Cut(path[1:], "/")
	if more {
		rest = "/" + rest
	}
	tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
	switch d := doc.(type) {
	case map[string]any:
		v, ok := d[tok]
		if !ok {
			return nil, fmt.Errorf("no member %q", tok)
		}
		return evalPointer(v, rest)
	case []any:
		if tok == "*" {
			out := []any{}
			for _, item := range d {
				v, err := evalPointer(item, rest)
				if err != nil {
					return nil, err
				}
				if a, ok := v.([]any); ok {
					out = append(out, a...)
				} else {
					out = append(out, v)
				}
			}
			return out, nil
		}
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 || i >= len(d) || (len(tok) > 1 && tok[0] == '0') {
			return nil, fmt.Errorf("no item %q", tok)
		}
		return evalPointer(d[i], rest)
	}
	return nil, fmt.Errorf("cannot descend into a scalar with %q", tok)
}

// echo is Core/echo (RFC 8620 section 4).
func (c *call) echo(args json.RawMessage) (any, error) {
	return args, nil
}

// decodeArgs decodes a method's arguments strictly: an unknown argument
// or a wrong type is invalidArguments (RFC 8620 section 3.6.2).
func decodeArgs(args json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalidArgs("%v", err)
	}
	return nil
}

// resolveID turns a "#creationId" reference into the id it was given in
// this request (RFC 8620 section 5.3).
func (c *call) resolveID(id string) (string, bool) {
	if cid, ok := strings.CutPrefix(id, "#"); ok {
		v, ok := c.created[cid]
		return v, ok
	}
	return id, true
}
