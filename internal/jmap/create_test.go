package jmap

import (
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
