// Package webmail serves Casella's webmail: a single-page JMAP client in
// strict TypeScript and Preact, built by esbuild from ui/ into dist/ (make
// webmail) and embedded, so running the server needs no Node.
//
// Implementation notes:
//   - The app speaks only JMAP (RFC 8620, RFC 8621) on the same origin; it
//     has no private API.
//   - HTML mail is shown in a sandboxed srcdoc iframe without allow-scripts
//     or allow-same-origin. srcdoc documents inherit the embedding page's
//     CSP (CSP3 §4.2.2 "initialize a Document's CSP list"), so the header
//     set here blocks scripts and remote loads in mail a second time.
package webmail

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed dist
var dist embed.FS

// csp allows the app's own files and nothing else: no inline script, no
// connections to other origins. Images may come from anywhere because a
// mail's srcdoc frame inherits this policy: the frame's own, stricter
// policy allows remote images only once the user did (html.ts).
const csp = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Handler serves the bundle; "/" is index.html.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// The bundle's names do not change with its content: revalidate.
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
