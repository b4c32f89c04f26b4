package jmap

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestEmailCreate(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	resp := e.do("POST", Prefix+"/upload/A1/", "%PDF-1.4\n")
	pdf := decode(t, resp.Body)["blobId"].(string)
	drafts := e.mailboxID("Drafts")
	set := e.call1("Email/set", map[string]any{"create": map[string]any{
		"d": map[string]any{
			"mailboxIds":  map[string]bool{drafts: true},
			"keywords":    map[string]bool{"$draft": true, "$seen": true},
			"from":        []any{map[string]any{"name": "Alice Ü", "email": "alice@example.org"}},
			"to":          []any{map[string]any{"email": "bob@example.org"}},
			"subject":     "Caffè tonight?",
			"inReplyTo":   []string{"m1@example.org"},
			"references":  []string{"m1@example.org"},
			"textBody":    []any{map[string]any{"partId": "t", "type": "text/plain"}},
			"htmlBody":    []any{map[string]any{"partId": "h", "type": "text/html"}},
			"bodyValues":  map[string]any{"t": map[string]any{"value": "Shall we meet at the café?\nA."}, "h": map[string]any{"value": "<p>Shall we meet at the café?</p>"}},
			"attachments": []any{map[string]any{"blobId": pdf, "type": "application/pdf", "name": "plan.pdf"}},
		},
		"bad1": map[string]any{"mailboxIds": map[string]bool{}},
		"bad2": map[string]any{"mailboxIds": map[string]bool{drafts: true}, "size": 5},
		"bad3": map[string]any{"mailboxIds": map[string]bool{drafts: true}, "from": []any{map[string]any{"email": "not an address"}}},
		"bad4": map[string]any{"mailboxIds": map[string]bool{drafts: true}, "attachments": []any{map[string]any{"blobId": strings.Repeat("3", 64)}}},
	}})
	created := set["created"].(map[string]any)
	notCreated := set["notCreated"].(map[string]any)
	if len(created) != 1 || len(notCreated) != 4 || notCreated["bad4"].(map[string]any)["type"] != "blobNotFound" {
		t.Fatalf("Email/set create: %v", set)
	}
	id := created["d"].(map[string]any)["id"].(string)
	got := e.call1("Email/get", map[string]any{"ids": []string{id}, "fetchAllBodyValues": true,
		"properties": []string{"subject", "from", "keywords", "mailboxIds", "textBody", "htmlBody", "attachments", "bodyValues", "threadId", "inReplyTo"}})
	o := got["list"].([]any)[0].(map[string]any)
	from := o["from"].([]any)[0].(map[string]any)
	if o["subject"] != "Caffè tonight?" || from["name"] != "Alice Ü" || o["keywords"].(map[string]any)["$draft"] != true {
		t.Errorf("created email: %v", o)
	}
	text := o["textBody"].([]any)[0].(map[string]any)
	if v := o["bodyValues"].(map[string]any)[text["partId"].(string)].(map[string]any)["value"]; v != "Shall we meet at the café?\r\nA." {
		t.Errorf("text body: %q", v)
	}
	att := o["attachments"].([]any)
	if len(att) != 1 || att[0].(map[string]any)["name"] != "plan.pdf" || len(o["htmlBody"].([]any)) != 1 {
		t.Errorf("parts: html %v attachments %v", o["htmlBody"], att)
	}
	// The reply threads with the message it answers.
	th := e.call1("Thread/get", map[string]any{"ids": []string{o["threadId"].(string)}})
	if len(th["list"].([]any)[0].(map[string]any)["emailIds"].([]any)) != 2 {
		t.Errorf("thread: %v", th)
	}
}

// TestEmailCreateBodyStructure writes an email from a bodyStructure
// (RFC 8621 section 4.6): an alternative of text and a related HTML
// with an inline image, and an attachment, with header:* properties on
// the email and on a part.
func TestEmailCreateBodyStructure(t *testing.T) {
	e := newTestEnv(t)
	png := decode(t, e.do("POST", Prefix+"/upload/A1/", "\x89PNG\r\n\x1a\n").Body)["blobId"].(string)
	pdf := decode(t, e.do("POST", Prefix+"/upload/A1/", "%PDF-1.4\n").Body)["blobId"].(string)
	drafts := e.mailboxID("Drafts")
	base := func(extra map[string]any) map[string]any {
		m := map[string]any{"mailboxIds": map[string]bool{drafts: true}, "bodyValues": map[string]any{"t": map[string]any{"value": "plain"}, "h": map[string]any{"value": "<p>rich <img src=cid:logo@x></p>"}}}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	structure := map[string]any{"type": "multipart/mixed", "subParts": []any{
		map[string]any{"type": "multipart/alternative", "subParts": []any{
			map[string]any{"partId": "t", "type": "text/plain", "header:X-Part:asText": "première"},
			map[string]any{"type": "multipart/related", "subParts": []any{
				map[string]any{"partId": "h", "type": "text/html", "language": []string{"en"}},
				map[string]any{"blobId": png, "type": "image/png", "cid": "logo@x"},
			}},
		}},
		map[string]any{"blobId": pdf, "type": "application/pdf", "name": "plan.pdf", "disposition": "attachment"},
	}}
	deep := map[string]any{"partId": "t"}
	for range maxBodyDepth + 1 {
		deep = map[string]any{"type": "multipart/mixed", "subParts": []any{deep}}
	}
	set := e.call1("Email/set", map[string]any{"create": map[string]any{
		"ok": base(map[string]any{"bodyStructure": structure, "subject": "Structured",
			"header:X-Mailer:asText": "Casella test", "header:List-Post:asURLs": []string{"mailto:list@example.org"},
			"header:Comments:all": []string{" one", " two"}}),
		"both":       base(map[string]any{"bodyStructure": structure, "textBody": []any{map[string]any{"partId": "t"}}}),
		"mimeHeader": base(map[string]any{"bodyStructure": map[string]any{"partId": "t"}, "header:Content-Type": " text/html"}),
		"twice":      base(map[string]any{"bodyStructure": map[string]any{"partId": "t"}, "subject": "a", "header:Subject:asText": "b"}),
		"noValue":    base(map[string]any{"bodyStructure": map[string]any{"partId": "nope"}}),
		"noBlob":     base(map[string]any{"bodyStructure": map[string]any{"blobId": strings.Repeat("4", 64), "type": "image/png"}}),
		"deep":       base(map[string]any{"bodyStructure": deep}),
		"badRaw":     base(map[string]any{"bodyStructure": map[string]any{"partId": "t"}, "header:X-Evil": " a\r\nBcc: x@example.org"}),
		"htmlBlob":   base(map[string]any{"bodyStructure": map[string]any{"partId": "t", "type": "image/png"}}),
	}})
	created := set["created"].(map[string]any)
	notCreated := set["notCreated"].(map[string]any)
	if len(created) != 1 {
		t.Fatalf("Email/set: %v", set)
	}
	for cid, typ := range map[string]string{"both": "invalidProperties", "mimeHeader": "invalidProperties", "twice": "invalidProperties",
		"noValue": "invalidProperties", "noBlob": "blobNotFound", "deep": "invalidProperties", "badRaw": "invalidProperties", "htmlBlob": "invalidProperties"} {
		if got, _ := notCreated[cid].(map[string]any); got == nil || got["type"] != typ {
			t.Errorf("%s: %v, want %s", cid, notCreated[cid], typ)
		}
	}
	id := created["ok"].(map[string]any)["id"].(string)
	o := e.call1("Email/get", map[string]any{"ids": []string{id}, "fetchAllBodyValues": true,
		"properties":     []string{"bodyStructure", "textBody", "htmlBody", "attachments", "bodyValues", "header:X-Mailer:asText", "header:List-Post:asURLs", "header:Comments:all"},
		"bodyProperties": []string{"partId", "type", "cid", "name", "disposition", "language", "header:X-Part:asText", "subParts"},
	})["list"].([]any)[0].(map[string]any)
	if o["header:X-Mailer:asText"] != "Casella test" || toStrings(o["header:List-Post:asURLs"])[0] != "mailto:list@example.org" || len(o["header:Comments:all"].([]any)) != 2 {
		t.Errorf("header properties: %v", o)
	}
	var types []string
	var walk func(p map[string]any)
	walk = func(p map[string]any) {
		types = append(types, p["type"].(string))
		if sub, ok := p["subParts"].([]any); ok {
			for _, s := range sub {
				walk(s.(map[string]any))
			}
		}
	}
	walk(o["bodyStructure"].(map[string]any))
	if got := strings.Join(types, " "); got != "multipart/mixed multipart/alternative text/plain multipart/related text/html image/png application/pdf" {
		t.Errorf("structure: %s", got)
	}
	text := o["textBody"].([]any)[0].(map[string]any)
	if text["header:X-Part:asText"] != "première" || o["bodyValues"].(map[string]any)[text["partId"].(string)].(map[string]any)["value"] != "plain" {
		t.Errorf("text part: %v", text)
	}
	html := o["htmlBody"].([]any)[0].(map[string]any)
	if html["type"] != "text/html" || toStrings(html["language"])[0] != "en" {
		t.Errorf("html part: %v", html)
	}
	att := o["attachments"].([]any)
	if len(att) != 2 || att[0].(map[string]any)["cid"] != "logo@x" || att[1].(map[string]any)["name"] != "plan.pdf" {
		t.Errorf("attachments: %v", att)
	}
}

// TestEmailCreateForwardAsAttachment attaches stored messages by their
// blobId as message/rfc822 parts: one that may go unencoded is written as
// it is, 8bit (RFC 2046 section 5.2.1), and reads back byte for byte; one
// with a line too long for 8bit falls back to base64, also byte for byte.
func TestEmailCreateForwardAsAttachment(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", "From: Bob <bob@example.org>\nTo: alice@example.org\nSubject: caffè\nMessage-ID: <fwd1@example.org>\n\nÈ pronto.\n\n")
	e.deliver("INBOX", "From: Bob <bob@example.org>\nTo: alice@example.org\nSubject: long\nMessage-ID: <fwd2@example.org>\n\n"+strings.Repeat("x", 1200)+"\n")
	got := e.call1("Email/get", map[string]any{"ids": nil, "properties": []string{"blobId", "subject"}})["list"].([]any)
	originals := map[string]string{}
	var parts []any
	for _, o := range got {
		m := o.(map[string]any)
		id := m["blobId"].(string)
		originals[m["subject"].(string)] = id
		parts = append(parts, map[string]any{"blobId": id, "type": "message/rfc822", "name": m["subject"].(string) + ".eml", "disposition": "attachment"})
	}
	set := e.call1("Email/set", map[string]any{"create": map[string]any{"f": map[string]any{
		"mailboxIds": map[string]bool{e.mailboxID("Drafts"): true}, "subject": "Fwd",
		"bodyValues":    map[string]any{"t": map[string]any{"value": "see attached"}},
		"bodyStructure": map[string]any{"type": "multipart/mixed", "subParts": append([]any{map[string]any{"partId": "t", "type": "text/plain"}}, parts...)},
	}}})
	created, _ := set["created"].(map[string]any)
	if created == nil {
		t.Fatalf("Email/set: %v", set)
	}
	id := created["f"].(map[string]any)["id"].(string)
	o := e.call1("Email/get", map[string]any{"ids": []string{id}, "properties": []string{"attachments"},
		"bodyProperties": []string{"blobId", "type", "name", "header:Content-Transfer-Encoding:asText"}})["list"].([]any)[0].(map[string]any)
	att := o["attachments"].([]any)
	if len(att) != 2 {
		t.Fatalf("attachments: %v", att)
	}
	// A base64 message/rfc822 is against RFC 2046: readers, this server's
	// too, take it for application/octet-stream.
	want := map[string][2]string{"caffè.eml": {"message/rfc822", "8bit"}, "long.eml": {"application/octet-stream", "base64"}}
	for _, a := range att {
		p := a.(map[string]any)
		name := p["name"].(string)
		if p["type"] != want[name][0] || p["header:Content-Transfer-Encoding:asText"] != want[name][1] {
			t.Errorf("%s: %v, want %s", name, p, want[name])
		}
		orig := e.do("GET", Prefix+"/download/A1/"+originals[strings.TrimSuffix(name, ".eml")]+"/o.eml", "")
		fwd := e.do("GET", Prefix+"/download/A1/"+p["blobId"].(string)+"/f.eml", "")
		ob, _ := io.ReadAll(orig.Body)
		fb, _ := io.ReadAll(fwd.Body)
		if orig.StatusCode != 200 || fwd.StatusCode != 200 || len(ob) == 0 || !bytes.Equal(ob, fb) {
			t.Errorf("%s: forwarded %d bytes (%s), the original %d (%s)\n%q\n%q", name, len(fb), fwd.Status, len(ob), orig.Status, fb, ob)
		}
	}
}

// TestIdentityEncoding checks which forwarded messages may go unencoded
// (RFC 2045 sections 2.7 and 2.8).
func TestIdentityEncoding(t *testing.T) {
	for _, c := range []struct {
		data, enc string
		ok        bool
	}{
		{"Subject: a\r\n\r\nhi\r\n", "7bit", true},
		{"Subject: caffè\r\n\r\nhi\r\n", "8bit", true},
		{strings.Repeat("x", 998) + "\r\n", "7bit", true},
		{strings.Repeat("x", 999) + "\r\n", "", false},
		{"Subject: a\n\nhi\n", "", false},
		{"Subject: a\r\n\r\nh\ri\r\n", "", false},
		{"Subject: a\r\n\r\nh\x00i\r\n", "", false},
		{"Subject: a\r\n\r\nhi", "", false},
		{"", "", false},
	} {
		enc, ok := identityEncoding([]byte(c.data))
		if enc != c.enc || ok != c.ok {
			t.Errorf("%q: %q %v, want %q %v", c.data, enc, ok, c.enc, c.ok)
		}
	}
}
