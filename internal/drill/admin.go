package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"casella/internal/faults"
	"casella/internal/web"
)

// ErrFaultsNotAllowed is returned by Admin's fault calls when the server
// has no fault injection endpoint.
var ErrFaultsNotAllowed = errors.New("this server does not allow fault injection; start it with casella serve --allow-faults (never in production)")

// Admin talks to a running server's HTTP listener: its fault injection
// endpoint and its status.
type Admin struct {
	// URL is the listener's base URL, like http://127.0.0.1:8080.
	URL string
	// Client makes the requests; nil means one with a 30 s timeout.
	Client *http.Client
}

// NewAdmin returns an Admin for base, which may be a URL or a bare
// host:port.
func NewAdmin(base string) (*Admin, error) {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("server URL %q: want one like http://127.0.0.1:8080", base)
	}
	return &Admin{URL: strings.TrimSuffix(u.String(), "/"), Client: &http.Client{Timeout: 30 * time.Second}}, nil
}

// Faults returns the current fault of every target.
func (a *Admin) Faults(ctx context.Context) (map[string]faults.Fault, error) {
	return a.faults(ctx, http.MethodGet, nil)
}

// Inject sets the fault of a target ("store" or "blob").
func (a *Admin) Inject(ctx context.Context, target string, f faults.Fault) (map[string]faults.Fault, error) {
	return a.faults(ctx, http.MethodPost, url.Values{"target": {target}, "fault": {f.String()}})
}

// Clear removes the fault of a target, or of every target when target is
// empty.
func (a *Admin) Clear(ctx context.Context, target string) (map[string]faults.Fault, error) {
	var form url.Values
	if target != "" {
		form = url.Values{"target": {target}}
	}
	return a.faults(ctx, http.MethodDelete, form)
}

func (a *Admin) faults(ctx context.Context, method string, form url.Values) (map[string]faults.Fault, error) {
	var state map[string]faults.Fault
	err := a.do(ctx, method, "/admin/faults", form, &state)
	if errors.Is(err, errNotFound) {
		return nil, ErrFaultsNotAllowed
	}
	return state, err
}

// Status returns the server's /api/status document.
func (a *Admin) Status(ctx context.Context) (web.Status, error) {
	var st web.Status
	err := a.do(ctx, http.MethodGet, "/api/status", nil, &st)
	return st, err
}

// InboundDepth returns the number of messages waiting in the intake spool.
func (a *Admin) InboundDepth(ctx context.Context) (int, error) {
	st, err := a.Status(ctx)
	if err != nil {
		return 0, err
	}
	q, ok := st.Queues["inbound"]
	if !ok {
		return 0, fmt.Errorf("%s/api/status has no inbound queue", a.URL)
	}
	return q.Depth, nil
}

var errNotFound = errors.New("not found")

// do makes a request with form in the query string and decodes a JSON
// answer into v.
func (a *Admin) do(ctx context.Context, method, path string, form url.Values, v any) error {
	u := a.URL + path
	if len(form) > 0 {
		u += "?" + form.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w; is the server running there?", method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, u, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s %s: %w", method, u, errNotFound)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s %s: bad answer: %w", method, u, err)
	}
	return nil
}
