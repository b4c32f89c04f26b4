package wellknown

import (
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"

	"casella/internal/publish"
)

// Thunderbird's autoconfig file (clientConfig version 1.1), as described at
// https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat.
type clientConfig struct {
	XMLName  xml.Name      `xml:"clientConfig"`
	Version  string        `xml:"version,attr"`
	Provider emailProvider `xml:"emailProvider"`
}

type emailProvider struct {
	ID               string       `xml:"id,attr"`
	Domain           string       `xml:"domain"`
	DisplayName      string       `xml:"displayName"`
	DisplayShortName string       `xml:"displayShortName"`
	Incoming         []mailServer `xml:"incomingServer"`
	Outgoing         []mailServer `xml:"outgoingServer"`
}

type mailServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"` // SSL (implicit TLS) or STARTTLS
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

// serveAutoconfig serves Thunderbird's autoconfig for the domain of the
// emailaddress parameter, or of the autoconfig.DOMAIN host.
func (h *Handler) serveAutoconfig(w http.ResponseWriter, r *http.Request, host string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.refuse(w, r, http.StatusMethodNotAllowed, "bad-method", "Use GET.")
		return
	}
	domain := strings.TrimPrefix(host, "autoconfig.")
	if q := r.URL.Query().Get("emailaddress"); q != "" {
		var ok bool
		if _, domain, ok = parseAddress(q); !ok {
			h.refuse(w, r, http.StatusBadRequest, "bad-address", "The emailaddress parameter is not an email address.")
			return
		}
	}
	if !validDomain(domain) {
		h.refuse(w, r, http.StatusNotFound, "unknown-domain", "Name the address with ?emailaddress=.")
		return
	}
	if !h.local(w, r, domain) {
		return
	}
	s := h.clientSetup("%EMAILADDRESS%", domain)
	doc := clientConfig{Version: "1.1", Provider: emailProvider{
		ID: domain, Domain: domain, DisplayName: domain, DisplayShortName: domain,
	}}
	for _, ep := range append(s.IMAP, s.POP3...) {
		doc.Provider.Incoming = append(doc.Provider.Incoming, thunderbirdServer(strings.ToLower(ep.Kind), ep, s.Address))
	}
	for _, ep := range s.Submission {
		doc.Provider.Outgoing = append(doc.Provider.Outgoing, thunderbirdServer("smtp", ep, s.Address))
	}
	writeXML(w, "application/xml", doc)
}

func thunderbirdServer(typ string, ep publish.Endpoint, user string) mailServer {
	socket := "SSL"
	if !ep.TLS {
		socket = "STARTTLS"
	}
	return mailServer{Type: typ, Hostname: ep.Host, Port: ep.Port, SocketType: socket, Authentication: "password-cleartext", Username: user}
}

// writeXML writes doc with an XML declaration; encoding/xml escapes every
// value.
func writeXML(w http.ResponseWriter, contentType string, doc any) {
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		http.Error(w, "Cannot encode the document.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType+"; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(out)))
	io.WriteString(w, xml.Header)
	w.Write(out)
}
