package message

import (
	"net/mail"
	"strings"
)

// envelopeOf builds the envelope of a message from its header.
func envelopeOf(h header) Envelope {
	e := Envelope{
		RawDate:   validUTF8(h.get("date")),
		Subject:   decodeText(h.get("subject")),
		From:      addressList(h.get("from")),
		Sender:    addressList(h.get("sender")),
		ReplyTo:   addressList(h.get("reply-to")),
		To:        addressList(h.get("to")),
		Cc:        addressList(h.get("cc")),
		Bcc:       addressList(h.get("bcc")),
		InReplyTo: validUTF8(h.get("in-reply-to")),
		MessageID: validUTF8(h.get("message-id")),
	}
	if e.RawDate != "" {
		if t, err := mail.ParseDate(e.RawDate); err == nil {
			e.Date = t
		}
	}
	return e
}

// maxReferences bounds the message ids kept for threading.
const maxReferences = 500

// references returns the message ids of References and then In-Reply-To
// (RFC 5256 section 2.2), without angle brackets and without duplicates.
func references(h header) []string {
	var ids []string
	seen := map[string]bool{}
	for _, v := range []string{h.get("references"), h.get("in-reply-to")} {
		for _, id := range msgIDs(v) {
			if !seen[id] && len(ids) < maxReferences {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// msgIDs extracts the message ids of a References or In-Reply-To value:
// the contents of its angle brackets, or, when a mailer left the brackets
// out, its words that contain "@".
func msgIDs(v string) []string {
	var ids []string
	rest := v
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '>')
		if j < 0 {
			break
		}
		if id := strings.Join(strings.Fields(rest[i+1:i+j]), ""); id != "" {
			ids = append(ids, validUTF8(id))
		}
		rest = rest[i+j+1:]
	}
	if ids == nil {
		for _, w := range strings.Fields(v) {
			if strings.Contains(w, "@") {
				ids = append(ids, validUTF8(w))
			}
		}
	}
	return ids
}
