package wellknown

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"

	"casella/internal/publish"
)

// Namespaces of Outlook's autodiscover ("POX") protocol, as Microsoft
// documents it ([MS-OXDSCLI] and "Autodiscover XML reference").
const (
	requestSchema      = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	responseSchema     = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	outlookSchema      = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	maxAutodiscoverReq = 8 << 10 // a request is a few hundred bytes
)

// autodiscoverRequest is the request body Outlook posts.
type autodiscoverRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

// parseAutodiscover returns the address an autodiscover request asks
// about, checked, with its domain.
func parseAutodiscover(body []byte) (addr, domain string, err error) {
	var req autodiscoverRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		return "", "", errors.New("the body is not an autodiscover request: " + err.Error())
	}
	if req.XMLName.Space != requestSchema {
		return "", "", errors.New("the request is not of the Outlook request schema " + requestSchema)
	}
	if s := strings.TrimSpace(req.Request.AcceptableResponseSchema); s != "" && s != outlookSchema {
		return "", "", errors.New("only the response schema " + outlookSchema + " is served")
	}
	addr, domain, ok := parseAddress(strings.TrimSpace(req.Request.EMailAddress))
	if !ok {
		return "", "", errors.New("EMailAddress is not an email address")
	}
	return addr, domain, nil
}

type autodiscoverResponse struct {
	XMLName  xml.Name        `xml:"Autodiscover"`
	NS       string          `xml:"xmlns,attr"`
	Response outlookResponse `xml:"Response"`
}

type outlookResponse struct {
	NS      string         `xml:"xmlns,attr"`
	User    outlookUser    `xml:"User"`
	Account outlookAccount `xml:"Account"`
}

type outlookUser struct {
	DisplayName string `xml:"DisplayName"`
}

type outlookAccount struct {
	AccountType string            `xml:"AccountType"` // email
	Action      string            `xml:"Action"`      // settings
	Protocols   []outlookProtocol `xml:"Protocol"`
}

type outlookProtocol struct {
	Type           string `xml:"Type"` // IMAP, POP3, SMTP
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	LoginName      string `xml:"LoginName"`
	DomainRequired string `xml:"DomainRequired"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	// Encryption overrides SSL: SSL for implicit TLS, TLS for STARTTLS.
	Encryption   string `xml:"Encryption"`
	AuthRequired string `xml:"AuthRequired"`
}

// serveAutodiscover answers Outlook's POST of an autodiscover request
// with the IMAP, POP3 and SMTP settings of the address.
func (h *Handler) serveAutodiscover(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		h.refuse(w, r, http.StatusMethodNotAllowed, "bad-method", "POST an autodiscover request.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAutodiscoverReq+1))
	if err != nil || len(body) > maxAutodiscoverReq {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, "bad-request", "The request is unreadable or too large.")
		return
	}
	addr, domain, err := parseAutodiscover(body)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, "bad-request", err.Error())
		return
	}
	if !h.local(w, r, domain) {
		return
	}
	s := h.clientSetup(addr, domain)
	resp := autodiscoverResponse{NS: responseSchema, Response: outlookResponse{
		NS:      outlookSchema,
		User:    outlookUser{DisplayName: addr},
		Account: outlookAccount{AccountType: "email", Action: "settings"},
	}}
	for _, eps := range []struct {
		typ string
		eps []publish.Endpoint
	}{{"IMAP", s.IMAP}, {"POP3", s.POP3}, {"SMTP", s.Submission}} {
		for _, ep := range eps.eps {
			enc := "SSL"
			if !ep.TLS {
				enc = "TLS"
			}
			resp.Response.Account.Protocols = append(resp.Response.Account.Protocols, outlookProtocol{
				Type: eps.typ, Server: ep.Host, Port: ep.Port, LoginName: addr,
				DomainRequired: "off", SPA: "off", SSL: "on", Encryption: enc, AuthRequired: "on",
			})
		}
	}
	writeXML(w, "application/xml", resp)
}

// serveAutodiscoverJSON answers the JSON endpoint newer Outlooks ask
// first (GET /autodiscover/autodiscover.json/v1.0/ADDRESS?Protocol=...,
// or ?Email=ADDRESS&Protocol=...): for the AutodiscoverV1 protocol, the URL
// of the XML endpoint above; other protocols (ActiveSync, EWS) are not
// offered.
func (h *Handler) serveAutodiscoverJSON(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		h.refuse(w, r, http.StatusMethodNotAllowed, "bad-method", "Use GET.")
		return
	}
	q := r.URL.Query()
	email := q.Get("Email")
	if i := strings.LastIndex(r.URL.Path, "/"); email == "" && i >= 0 {
		email = r.URL.Path[i+1:]
	}
	_, domain, ok := parseAddress(email)
	if !ok {
		h.refuse(w, r, http.StatusBadRequest, "bad-address", "Name an email address.")
		return
	}
	if !h.local(w, r, domain) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	if !strings.EqualFold(q.Get("Protocol"), "AutodiscoverV1") {
		w.WriteHeader(http.StatusBadRequest)
		enc.Encode(map[string]string{"ErrorCode": "InvalidProtocol", "ErrorMessage": "Only AutodiscoverV1 is offered."})
		return
	}
	url := publish.HTTPSURL(h.Config, h.Config.Hostname, autodiscoverXML)
	enc.Encode(map[string]string{"Protocol": "AutodiscoverV1", "Url": url})
}
