package message

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Preview limits.
const (
	previewRunes = 256
	// A preview is made from a window at the start of the body that
	// doubles, from previewWindow up to previewInput encoded bytes, until
	// it holds more than previewRunes runes of text: a few hundred bytes
	// of plain text suffice, while HTML may open with kilobytes of style.
	previewWindow = 2 << 10
	previewInput  = 128 << 10
	// previewSlack is more runes than the cut end of a window can spoil:
	// a partial escape, character or character reference.
	previewSlack = 32
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
	for window := int64(previewWindow); ; window *= 2 {
		end := min(p.BodyEnd, p.BodyStart+window)
		body, err := DecodeBody(raw, &Part{BodyStart: p.BodyStart, BodyEnd: end, Encoding: p.Encoding})
		if err != nil {
			return ""
		}
		text := toUTF8(p.Params["charset"], body)
		if isHTML {
			text = stripHTML(text)
		}
		// A cut window may end inside an escape, a character or a tag;
		// with previewSlack runes to spare, that end is cut off below.
		text, more := collapseSpace(text, previewRunes+previewSlack)
		if end == p.BodyEnd || window >= previewInput || more {
			return truncateRunes(text, previewRunes)
		}
	}
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

// collapseSpace returns the first n runes of s's words joined by single
// spaces, as strings.Join(strings.Fields(s), " ") would begin, and whether
// more followed. It stops there: a preview needs a few hundred runes of a
// window that may hold thousands.
func collapseSpace(s string, n int) (string, bool) {
	var b strings.Builder
	b.Grow(min(len(s), n*utf8.UTFMax))
	count, space := 0, false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = count > 0
			continue
		}
		if space {
			if count == n {
				return b.String(), true
			}
			b.WriteByte(' ')
			count++
			space = false
		}
		if count == n {
			return b.String(), true
		}
		b.WriteRune(r)
		count++
	}
	return b.String(), false
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
