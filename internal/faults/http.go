package faults

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
)

// maxRequest bounds the body of a request to the handler.
const maxRequest = 4 << 10

// request is the JSON form of a POST or DELETE.
type request struct {
	Target string `json:"target"`
	Fault  string `json:"fault"`
}

// ServeHTTP lets operators read and change the injected faults:
//
//	GET                          the state: {"blob":"none","store":"hang"}
//	POST   target=blob&fault=hang  sets a target's fault
//	DELETE                       clears every target
//	DELETE target=store          clears one target
//
// Parameters come from the query or a form body, or from a JSON body
// ({"target":"blob","fault":"hang"}) sent as application/json. Every
// response that succeeds carries the resulting state.
func (inj *Injector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost, http.MethodDelete:
		req, err := parseRequest(w, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := inj.apply(r.Method, req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	// An error here means the client went away; the change, if any, is
	// made all the same.
	_ = json.NewEncoder(w).Encode(inj.State())
}

// apply carries out a POST or DELETE.
func (inj *Injector) apply(method string, req request) error {
	if method == http.MethodDelete {
		if req.Target == "" {
			inj.Clear()
			return nil
		}
		return inj.Set(req.Target, None)
	}
	if req.Target == "" || req.Fault == "" {
		return fmt.Errorf("both target and fault are required")
	}
	f, err := Parse(req.Fault)
	if err != nil {
		return err
	}
	return inj.Set(req.Target, f)
}

// parseRequest reads target and fault from a JSON body or from the form.
func parseRequest(w http.ResponseWriter, r *http.Request) (request, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRequest)
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		var req request
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return request{}, fmt.Errorf("bad JSON request: %w", err)
		}
		return req, nil
	}
	if err := r.ParseForm(); err != nil {
		return request{}, fmt.Errorf("bad form: %w", err)
	}
	return request{Target: r.Form.Get("target"), Fault: r.Form.Get("fault")}, nil
}
