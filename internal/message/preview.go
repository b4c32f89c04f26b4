package message

import (
	"html"
	"strings"
	"unicode/utf8"
)

// Preview limits.
const (
	previewRunes = 256
	// previewInput bounds the decoded body a preview is made from; a
	// preview needs its start only.
	previewInput = 64 << 10
)

// preview returns up to previewRunes runes of the first text/plain part
// that is not an attachment, or else of the first such text/html part with
// its markup removed, white space collapsed.
func preview(raw []byte, root *Part) string {
	p := firstText(root, "plain")
	isHTML := false
	if p == nil {
		p, isHTML = firstText(root, "html"), true
	}
	if p == nil {
		return ""
	}
	body, err := DecodeBody(raw, &Part{BodyStart: p.BodyStart, BodyEnd: min(p.BodyEnd, p.BodyStart+previewInput*2), Encoding: p.Encoding})
	if err != nil {
		return ""
	}
	if len(body) > previewInput {
		body = body[:previewInput]
	}
	text := toUTF8(p.Params["charset"], body)
	if isHTML {
		text = stripHTML(text)
	}
	return truncateRunes(strings.Join(strings.Fields(text), " "), previewRunes)
}

// firstText finds the first text/<subtype> part, depth first, that is not
// an attachment; embedded messages are not searched.
func firstText(p *Part, subtype string) *Part {
	if p.Type == "text" && p.Subtype == subtype && p.Disposition != "attachment" {
		return p
	}
	for _, c := range p.Parts {
		if t := firstText(c, subtype); t != nil {
			return t
		}
	}
	return nil
}

// stripHTML removes tags, comments, and the contents of script and style
// elements, and decodes character references. It is for previews only: the
// result is plain text, never rendered as HTML.
func stripHTML(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		b.WriteByte(' ')
		s = s[i:]
		lower := strings.ToLower(s[:min(len(s), 8)])
		switch {
		case strings.HasPrefix(lower, "<!--"):
			s = skipPast(s, "-->")
		case strings.HasPrefix(lower, "<script"), strings.HasPrefix(lower, "<style"):
			end := "</script"
			if strings.HasPrefix(lower, "<style") {
				end = "</style"
			}
			j := strings.Index(strings.ToLower(s), end)
			if j < 0 {
				s = ""
				break
			}
			s = skipPast(s[j:], ">")
		default:
			s = skipPast(s, ">")
		}
	}
	return html.UnescapeString(b.String())
}

// skipPast returns s after the first occurrence of sep, or "" without one.
func skipPast(s, sep string) string {
	if _, after, ok := strings.Cut(s, sep); ok {
		return after
	}
	return ""
}

// truncateRunes cuts s to at most n runes.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for range n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// hasAttachment reports whether a part of the tree is an attachment: it
// says so in Content-Disposition, or it is a leaf that is neither text nor
// multipart and not marked inline. A message/rfc822 part counts: it is a
// forwarded message.
func hasAttachment(p *Part) bool {
	if p.Disposition == "attachment" {
		return true
	}
	if len(p.Parts) > 0 {
		for _, c := range p.Parts {
			if hasAttachment(c) {
				return true
			}
		}
		return false
	}
	return p.Type != "text" && p.Type != "multipart" && p.Disposition != "inline"
}
