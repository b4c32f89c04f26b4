package wellknown

import (
	"bytes"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// serveMobileconfig serves an Apple configuration profile with one
// com.apple.mail.managed payload (Apple's "Configuration Profile
// Reference", Mail) for the address of the email parameter. It is not
// signed: iOS and macOS show it as unverified and install it all the same.
func (h *Handler) serveMobileconfig(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.refuse(w, r, http.StatusMethodNotAllowed, "bad-method", "Use GET.")
		return
	}
	addr, domain, ok := parseAddress(r.URL.Query().Get("email"))
	if !ok {
		h.refuse(w, r, http.StatusBadRequest, "bad-address", "Name the address with ?email=.")
		return
	}
	if !h.local(w, r, domain) {
		return
	}
	s := h.clientSetup(addr, domain)
	if len(s.IMAP) == 0 || len(s.Submission) == 0 {
		h.refuse(w, r, http.StatusNotFound, "no-service", "This server offers no IMAP or no submission listener to set up.")
		return
	}
	in, out := s.IMAP[0], s.Submission[0]
	// The UUIDs and identifiers derive from the server and the address,
	// so installing the profile again replaces the first one.
	id := reverse(h.Config.Hostname) + ".mail." + profileUUID(h.Config.Hostname, addr)
	mail := dict{
		{"EmailAccountDescription", addr},
		{"EmailAccountName", addr},
		{"EmailAccountType", "EmailTypeIMAP"},
		{"EmailAddress", addr},
		{"IncomingMailServerAuthentication", "EmailAuthPassword"},
		{"IncomingMailServerHostName", in.Host},
		{"IncomingMailServerPortNumber", in.Port},
		{"IncomingMailServerUseSSL", in.TLS},
		{"IncomingMailServerUsername", addr},
		{"OutgoingMailServerAuthentication", "EmailAuthPassword"},
		{"OutgoingMailServerHostName", out.Host},
		{"OutgoingMailServerPortNumber", out.Port},
		{"OutgoingMailServerUseSSL", out.TLS},
		{"OutgoingMailServerUsername", addr},
		{"OutgoingPasswordSameAsIncomingPassword", true},
		{"PayloadDescription", "Mail account " + addr},
		{"PayloadDisplayName", addr},
		{"PayloadIdentifier", id + ".account"},
		{"PayloadType", "com.apple.mail.managed"},
		{"PayloadUUID", profileUUID(h.Config.Hostname, addr+" account")},
		{"PayloadVersion", 1},
	}
	profile := dict{
		{"PayloadContent", []dict{mail}},
		{"PayloadDescription", "Sets up the mail account " + addr + " on " + h.Config.Hostname + "."},
		{"PayloadDisplayName", "Mail for " + addr},
		{"PayloadIdentifier", id},
		{"PayloadOrganization", domain},
		{"PayloadRemovalDisallowed", false},
		{"PayloadType", "Configuration"},
		{"PayloadUUID", profileUUID(h.Config.Hostname, addr)},
		{"PayloadVersion", 1},
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	enc := xml.NewEncoder(&b)
	enc.Indent("", "\t")
	plist := xml.StartElement{Name: xml.Name{Local: "plist"}, Attr: []xml.Attr{{Name: xml.Name{Local: "version"}, Value: "1.0"}}}
	err := enc.EncodeToken(plist)
	if err == nil {
		err = encodeValue(enc, profile)
	}
	if err == nil {
		err = enc.EncodeToken(plist.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		http.Error(w, "Cannot encode the profile.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Header().Set("Content-Disposition", `attachment; filename="`+domain+`.mobileconfig"`)
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.Write(b.Bytes())
}

// dict is a property list dictionary, its keys in order.
type dict []struct {
	key string
	val any // string, int, bool, []dict
}

// encodeValue writes a property list value (Apple's PropertyList-1.0
// DTD); the encoder escapes text.
func encodeValue(enc *xml.Encoder, v any) error {
	elem := func(name, text string) error {
		return enc.EncodeElement(text, xml.StartElement{Name: xml.Name{Local: name}})
	}
	switch v := v.(type) {
	case string:
		return elem("string", v)
	case int:
		return elem("integer", strconv.Itoa(v))
	case bool:
		name := xml.Name{Local: strconv.FormatBool(v)}
		if err := enc.EncodeToken(xml.StartElement{Name: name}); err != nil {
			return err
		}
		return enc.EncodeToken(xml.EndElement{Name: name})
	case []dict:
		start := xml.StartElement{Name: xml.Name{Local: "array"}}
		if err := enc.EncodeToken(start); err != nil {
			return err
		}
		for _, d := range v {
			if err := encodeValue(enc, d); err != nil {
				return err
			}
		}
		return enc.EncodeToken(start.End())
	case dict:
		start := xml.StartElement{Name: xml.Name{Local: "dict"}}
		if err := enc.EncodeToken(start); err != nil {
			return err
		}
		for _, e := range v {
			if err := elem("key", e.key); err != nil {
				return err
			}
			if err := encodeValue(enc, e.val); err != nil {
				return err
			}
		}
		return enc.EncodeToken(start.End())
	}
	return fmt.Errorf("plist: cannot encode a %T", v)
}

// profileUUID returns a UUID made from the hash of its parts (RFC 9562
// section 5.8, version 8), the same for the same parts.
func profileUUID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	sum[6] = sum[6]&0x0f | 0x80
	sum[8] = sum[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

// reverse returns a host name in reverse-DNS order, as profile
// identifiers are written: mail.example.com gives com.example.mail.
func reverse(host string) string {
	labels := strings.Split(strings.ToLower(host), ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".")
}
