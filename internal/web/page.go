package web

import (
	"html/template"
	"net/http"
)

// pageTemplate is the public status page: what works, what doesn't, and what
// it means for people's mail, readable without JavaScript.
var pageTemplate = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="15">
<title>Casella status</title>
<style>
body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}
.banner{padding:1rem;border-radius:.5rem;background:#e7f6e7}
.banner.degraded{background:#fff4d6}.banner.down{background:#fde2e2}
table{border-collapse:collapse;width:100%;margin-top:1.5rem}td,th{text-align:left;padding:.4rem;border-bottom:1px solid #ddd}
.up{color:#17692a}.downc{color:#a11}
.warning{padding:.6rem 1rem;border-left:.3rem solid #d9a400;background:#fffbea}
</style></head><body>
<h1>Casella status</h1>
<p class="banner{{if not .Ready}} down{{else if .Degraded}} degraded{{end}}">{{.Message}}</p>
{{range .Warnings}}<p class="warning">{{.}}</p>
{{end}}<table><tr><th>Component</th><th>State</th><th>Since</th></tr>
{{range .Components}}<tr><td>{{.Name}}</td>{{if .Up}}<td class="up">working</td>{{else}}<td class="downc">unavailable</td>{{end}}<td>{{.Since.Format "2006-01-02 15:04:05 MST"}}</td></tr>
{{end}}</table>
<table><tr><th>Queue</th><th>Messages waiting</th><th>Oldest (s)</th></tr>
{{range $name, $q := .Queues}}<tr><td>{{$name}}</td><td>{{$q.Depth}}</td><td>{{printf "%.0f" $q.OldestAgeSeconds}}</td></tr>
{{end}}</table>
{{with .Cluster}}<table><tr><th>Cell</th><th>State</th><th>Accounts</th><th>Mail waiting</th></tr>
{{range .Cells}}<tr><td>{{.Name}}</td>{{if .Up}}<td class="up">working</td>{{else}}<td class="downc">unavailable</td>{{end}}<td>{{if ge .Accounts 0}}{{.Accounts}}{{else}}?{{end}}</td><td>{{.Backlog}}</td></tr>
{{end}}</table>
<table><tr><th>Node</th><th>Last seen</th></tr>
{{range .Nodes}}<tr><td>{{.Name}}{{if .Self}} (this one){{end}}</td><td>{{.Seen.Format "2006-01-02 15:04:05 MST"}}</td></tr>
{{end}}</table>
{{end}}{{with .TLSReports}}<table><tr><th>TLS reports, last day</th><th>Domain</th><th>Successful</th><th>Failed</th></tr>
{{range .}}<tr><td>{{.Organization}}</td><td>{{.Domain}}</td><td>{{.Success}}</td><td{{if .Failure}} class="downc"{{end}}>{{.Failure}}{{range $t, $n := .Failures}} {{$t}}: {{$n}}{{end}}</td></tr>
{{end}}</table>
{{end}}{{with .Certificates}}<table><tr><th>Certificate</th><th>Expires</th></tr>
{{range .}}<tr><td>{{.Name}}</td><td>{{if .NotAfter.IsZero}}none yet{{else}}{{.NotAfter.Format "2006-01-02 15:04 MST"}}{{end}}</td></tr>
{{end}}</table>
{{end}}<p><small>Updated {{.Time.Format "2006-01-02 15:04:05 MST"}}. Machine-readable: <a href="/api/status">/api/status</a>.</small></p>
</body></html>
`))

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	pageTemplate.Execute(w, h.fullStatus(r.Context()))
}
