package jmap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"
)

// Email/set create from a bodyStructure and header:* properties (RFC 8621
// section 4.6).

// maxBodyDepth bounds the nesting of a created bodyStructure.
const maxBodyDepth = 10

// headerField is a header field to write, from a header:Name:asForm
// property.
type headerField struct {
	name string // as the property spells it
	line string // "Name: value\r\n"
}

// bodyPartIn is an EmailBodyPart of a bodyStructure to create: a
// multipart with subParts, a text part whose content is in bodyValues
// (partId), or a part whose content is a blob (blobId).
type bodyPartIn struct {
	partIn
	Language []string     `json:"language"`
	Location *string      `json:"location"`
	SubParts []bodyPartIn `json:"subParts"`
	// headers are the part's header:* properties.
	headers []headerField
}

// UnmarshalJSON reads a part strictly: unknown properties are refused,
// header:* properties are rendered.
func (bp *bodyPartIn) UnmarshalJSON(b []byte) error {
	rest, hdrs, err := splitHeaderProps(b)
	if err != nil {
		return err
	}
	type plain bodyPartIn
	var v plain
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("body part: %v", err)
	}
	*bp = bodyPartIn(v)
	bp.headers = hdrs
	return nil
}

// splitHeaderProps takes the header:Name[:asForm][:all] members out of a
// JSON object, renders them as header fields, and returns the rest. A
// header property whose value is null writes nothing.
func splitHeaderProps(raw json.RawMessage) (json.RawMessage, []headerField, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, fmt.Errorf("not an object")
	}
	var hdrs []headerField
	for k, v := range m {
		if !strings.HasPrefix(k, "header:") {
			continue
		}
		delete(m, k)
		hp, err := parseHeaderProp(k)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", k, err)
		}
		if !validFieldName(hp.name) {
			return nil, nil, fmt.Errorf("%s: invalid header field name", k)
		}
		if strings.EqualFold(hp.name, "Content-Transfer-Encoding") {
			return nil, nil, fmt.Errorf("%s: the server chooses the transfer encoding", k)
		}
		vals := []json.RawMessage{v}
		if hp.all {
			if err := json.Unmarshal(v, &vals); err != nil {
				return nil, nil, fmt.Errorf("%s: a list of values", k)
			}
		}
		for _, v := range vals {
			if string(v) == "null" {
				continue
			}
			s, err := renderHeaderValue(hp.form, v)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %v", k, err)
			}
			hdrs = append(hdrs, headerField{hp.name, hp.name + ":" + s + "\r\n"})
		}
	}
	rest, err := json.Marshal(m)
	return rest, hdrs, err
}

// validFieldName checks a header field name (RFC 5322 section 2.2:
// printable US-ASCII but the colon).
func validFieldName(s string) bool {
	if s == "" || len(s) > 76 {
		return false
	}
	for _, c := range []byte(s) {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// renderHeaderValue renders a header field's value from its parsed form
// (RFC 8621 section 4.1.2), with the space after the colon.
func renderHeaderValue(form string, v json.RawMessage) (string, error) {
	oneLine := func(s string) error {
		if strings.ContainsAny(s, "\r\n\x00") {
			return fmt.Errorf("a value is one line")
		}
		return nil
	}
	switch form {
	case "Raw":
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("asRaw is a string")
		}
		// Folding is allowed: a line break followed by white space.
		unfolded := strings.NewReplacer("\r\n ", "  ", "\r\n\t", " \t").Replace(s)
		if err := oneLine(unfolded); err != nil {
			return "", fmt.Errorf("a line break in asRaw is followed by white space")
		}
		return s, nil
	case "Text":
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("asText is a string")
		}
		if err := oneLine(s); err != nil {
			return "", err
		}
		return " " + mime.QEncoding.Encode("utf-8", s), nil
	case "Addresses":
		var l []addressIn
		if err := json.Unmarshal(v, &l); err != nil {
			return "", fmt.Errorf("asAddresses is a list of addresses")
		}
		s, err := formatAddresses(l)
		return " " + s, err
	case "GroupedAddresses":
		var l []struct {
			Name      *string     `json:"name"`
			Addresses []addressIn `json:"addresses"`
		}
		if err := json.Unmarshal(v, &l); err != nil {
			return "", fmt.Errorf("asGroupedAddresses is a list of groups")
		}
		var out []string
		for _, g := range l {
			s, err := formatAddresses(g.Addresses)
			if err != nil {
				return "", err
			}
			if g.Name == nil {
				out = append(out, s)
				continue
			}
			if err := oneLine(*g.Name); err != nil {
				return "", err
			}
			out = append(out, mime.QEncoding.Encode("utf-8", *g.Name)+": "+s+";")
		}
		return " " + strings.Join(out, ", "), nil
	case "MessageIds":
		var l []string
		if err := json.Unmarshal(v, &l); err != nil {
			return "", fmt.Errorf("asMessageIds is a list of ids")
		}
		s, err := formatMessageIDs(l)
		return " " + s, err
	case "Date":
		var t time.Time
		if err := json.Unmarshal(v, &t); err != nil {
			return "", fmt.Errorf("asDate is a date")
		}
		return " " + t.Format(time.RFC1123Z), nil
	case "URLs":
		var l []string
		if err := json.Unmarshal(v, &l); err != nil {
			return "", fmt.Errorf("asURLs is a list of URLs")
		}
		var out []string
		for _, u := range l {
			if u == "" || strings.ContainsAny(u, "<> \t\r\n") {
				return "", fmt.Errorf("invalid URL %q", u)
			}
			out = append(out, "<"+u+">")
		}
		return " " + strings.Join(out, ", "), nil
	}
	return "", fmt.Errorf("unknown form %q", form)
}

// formatAddresses renders addresses for an address list field.
func formatAddresses(l []addressIn) (string, error) {
	var out []string
	for _, a := range l {
		if _, err := mail.ParseAddress(a.Email); err != nil || strings.ContainsAny(a.Email, "\r\n") {
			return "", fmt.Errorf("invalid address %q", a.Email)
		}
		ma := mail.Address{Address: a.Email}
		if a.Name != nil {
			ma.Name = *a.Name
		}
		out = append(out, ma.String())
	}
	return strings.Join(out, ", "), nil
}

// formatMessageIDs renders message ids for Message-ID, In-Reply-To and
// References.
func formatMessageIDs(l []string) (string, error) {
	var out []string
	for _, id := range l {
		if id == "" || strings.ContainsAny(id, "<> \t\r\n") {
			return "", fmt.Errorf("invalid message id %q", id)
		}
		out = append(out, "<"+id+">")
	}
	return strings.Join(out, " "), nil
}

// bodyPart renders a part of a bodyStructure and what is below it.
func (c *call) bodyPart(p *emailCreate, bp *bodyPartIn, depth int) (*mimePart, *setError) {
	if depth > maxBodyDepth {
		return nil, badProp("bodyStructure", "parts nest deeper than %d", maxBodyDepth)
	}
	for _, h := range bp.headers {
		if strings.EqualFold(h.name, "Content-Type") || strings.EqualFold(h.name, "Content-Disposition") {
			return nil, badProp("bodyStructure", "give a part's type and disposition as type, disposition, name and charset")
		}
	}
	var mp *mimePart
	var serr *setError
	isMultipart := strings.HasPrefix(strings.ToLower(bp.Type), "multipart/")
	switch {
	case len(bp.SubParts) > 0 || isMultipart:
		if bp.PartID != nil || bp.BlobID != nil {
			return nil, badProp("bodyStructure", "a multipart has subParts, not a partId or blobId")
		}
		subtype := "mixed"
		if isMultipart {
			subtype = strings.ToLower(bp.Type)[len("multipart/"):]
		}
		if subtype == "" || strings.ContainsAny(subtype, "; \t\r\n\"") || len(bp.SubParts) == 0 {
			return nil, badProp("bodyStructure", "a multipart/<subtype> with at least one subPart")
		}
		var parts []*mimePart
		for i := range bp.SubParts {
			sp, serr := c.bodyPart(p, &bp.SubParts[i], depth+1)
			if serr != nil {
				return nil, serr
			}
			parts = append(parts, sp)
		}
		mp = multipart(subtype, parts...)
	case bp.PartID != nil && bp.BlobID == nil:
		typ := bp.Type
		if typ == "" {
			typ = "text/plain"
		}
		subtype, ok := strings.CutPrefix(strings.ToLower(typ), "text/")
		if !ok || subtype == "" || strings.ContainsAny(subtype, "; \t\r\n\"") {
			return nil, badProp("bodyStructure", "a part with a partId is text/<subtype>, not %q", typ)
		}
		if bp.Charset != nil && !strings.EqualFold(*bp.Charset, "utf-8") {
			return nil, badProp("bodyStructure", "body values are written as UTF-8")
		}
		if mp, serr = p.textPart(*bp.PartID, subtype, "bodyStructure"); serr != nil {
			return nil, serr
		}
		if bp.Disposition != nil || bp.Name != nil {
			mp.header += contentDisposition(bp.Disposition, "inline", bp.Name)
		}
	case bp.BlobID != nil && bp.PartID == nil:
		if mp, serr = c.attachment(bp.partIn, "bodyStructure", "inline"); serr != nil {
			return nil, serr
		}
	default:
		return nil, badProp("bodyStructure", "a part has subParts, a partId or a blobId")
	}
	if bp.Cid != nil && !strings.Contains(mp.header, "Content-ID:") {
		if strings.ContainsAny(*bp.Cid, "<>\r\n") {
			return nil, badProp("bodyStructure", "invalid cid %q", *bp.Cid)
		}
		mp.header += "Content-ID: <" + *bp.Cid + ">\r\n"
	}
	if len(bp.Language) > 0 {
		for _, l := range bp.Language {
			if l == "" || strings.ContainsAny(l, ",; \t\r\n") {
				return nil, badProp("bodyStructure", "invalid language %q", l)
			}
		}
		mp.header += "Content-Language: " + strings.Join(bp.Language, ", ") + "\r\n"
	}
	if bp.Location != nil {
		if strings.ContainsAny(*bp.Location, " \t\r\n") {
			return nil, badProp("bodyStructure", "invalid location %q", *bp.Location)
		}
		mp.header += "Content-Location: " + *bp.Location + "\r\n"
	}
	for _, h := range bp.headers {
		mp.header += h.line
	}
	return mp, nil
}

// contentDisposition renders a Content-Disposition field.
func contentDisposition(disp *string, dflt string, name *string) string {
	d := dflt
	if disp != nil && (*disp == "inline" || *disp == "attachment") {
		d = *disp
	}
	params := map[string]string{}
	if name != nil {
		params["filename"] = *name
	}
	return "Content-Disposition: " + mime.FormatMediaType(d, params) + "\r\n"
}
