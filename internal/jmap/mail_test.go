package jmap

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"casella/internal/store"
)

func TestMailbox(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	got := e.call1("Mailbox/get", map[string]any{})
	state := got["state"].(string)
	var inbox map[string]any
	for _, o := range got["list"].([]any) {
		if m := o.(map[string]any); m["role"] == "inbox" {
			inbox = m
		}
	}
	if inbox == nil || inbox["name"] != "INBOX" || inbox["totalEmails"].(float64) != 1 || inbox["unreadEmails"].(float64) != 1 ||
		inbox["totalThreads"].(float64) != 1 || inbox["myRights"].(map[string]any)["mayDelete"] != false {
		t.Fatalf("inbox: %v", inbox)
	}

	set := e.call1("Mailbox/set", map[string]any{
		"create": map[string]any{
			"p": map[string]any{"name": "Projects", "isSubscribed": true},
			"c": map[string]any{"name": "Casella", "parentId": "#p", "sortOrder": 5},
			"x": map[string]any{"name": "Bad", "totalEmails": 3},
		},
	})
	created := set["created"].(map[string]any)
	if len(created) != 2 || set["notCreated"].(map[string]any)["x"].(map[string]any)["type"] != "invalidProperties" {
		t.Fatalf("Mailbox/set create: %v", set)
	}
	child := created["c"].(map[string]any)["id"].(string)
	parent := created["p"].(map[string]any)["id"].(string)
	if id := e.mailboxID("Projects/Casella"); id != child {
		t.Errorf("child created as %s, store has %s", child, id)
	}
	got = e.call1("Mailbox/get", map[string]any{"ids": []string{child}})
	o := got["list"].([]any)[0].(map[string]any)
	if o["parentId"] != parent || o["sortOrder"].(float64) != 5 || o["name"] != "Casella" {
		t.Errorf("child: %v", o)
	}

	ch := e.call1("Mailbox/changes", map[string]any{"sinceState": state})
	if !slices.Equal(toStrings(ch["created"]), []string{parent, child}) {
		t.Errorf("Mailbox/changes: %v", ch)
	}

	q := e.call1("Mailbox/query", map[string]any{"filter": map[string]any{"parentId": parent}})
	if !slices.Equal(toStrings(q["ids"]), []string{child}) {
		t.Errorf("Mailbox/query by parent: %v", q)
	}
	q = e.call1("Mailbox/query", map[string]any{"filter": map[string]any{"role": "inbox"}})
	if len(q["ids"].([]any)) != 1 {
		t.Errorf("Mailbox/query by role: %v", q)
	}

	set = e.call1("Mailbox/set", map[string]any{
		"update":  map[string]any{child: map[string]any{"name": "Mail", "parentId": nil}, e.mailboxID("INBOX"): map[string]any{"name": "Other"}},
		"destroy": []string{parent, e.mailboxID("INBOX")},
	})
	if _, ok := set["updated"].(map[string]any)[child]; !ok {
		t.Errorf("rename: %v", set)
	}
	if _, err := e.store.Mailbox(context.Background(), 1, "Mail"); err != nil {
		t.Errorf("renamed mailbox: %v", err)
	}
	if set["notUpdated"].(map[string]any)[e.mailboxID("INBOX")] == nil || set["notDestroyed"].(map[string]any)[e.mailboxID("INBOX")] == nil {
		t.Errorf("the inbox can be renamed or destroyed: %v", set)
	}
	if !slices.Contains(toStrings(set["destroyed"]), parent) {
		t.Errorf("destroy: %v", set)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestEmailGet(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	e.deliver("INBOX", multipartMsg)
	q := e.call1("Email/query", map[string]any{"sort": []any{map[string]any{"property": "subject"}}, "calculateTotal": true})
	ids := toStrings(q["ids"])
	if len(ids) != 2 || q["total"].(float64) != 2 {
		t.Fatalf("Email/query: %v", q)
	}
	got := e.call1("Email/get", map[string]any{
		"ids": ids, "fetchTextBodyValues": true, "fetchHTMLBodyValues": true, "maxBodyValueBytes": 10,
		"properties": []string{"subject", "from", "to", "messageId", "inReplyTo", "references", "sentAt", "keywords", "mailboxIds",
			"textBody", "htmlBody", "attachments", "bodyValues", "hasAttachment", "preview", "bodyStructure", "threadId",
			"header:List-Post:asURLs", "header:To:asGroupedAddresses", "header:Subject:asText", "header:X-Nope", "header:Date:asDate"},
	})
	list := got["list"].([]any)
	hello, report := list[0].(map[string]any), list[1].(map[string]any)
	if report["subject"] != "Report" || hello["subject"] != "Hello there" {
		t.Fatalf("order by subject: %v / %v", report["subject"], hello["subject"])
	}
	from := hello["from"].([]any)[0].(map[string]any)
	if from["name"] != "Bob" || from["email"] != "bob@example.org" || len(hello["to"].([]any)) != 1 {
		t.Errorf("addresses: from %v to %v", hello["from"], hello["to"])
	}
	if !slices.Equal(toStrings(hello["messageId"]), []string{"m1@example.org"}) || hello["sentAt"] != "2026-03-02T10:00:00Z" {
		t.Errorf("messageId %v sentAt %v", hello["messageId"], hello["sentAt"])
	}
	if !slices.Equal(toStrings(hello["header:List-Post:asURLs"]), []string{"mailto:list@example.org"}) || hello["header:X-Nope"] != nil ||
		hello["header:Subject:asText"] != "Hello there" || hello["header:Date:asDate"] != "2026-03-02T10:00:00Z" {
		t.Errorf("header forms: %v %v %v", hello["header:List-Post:asURLs"], hello["header:X-Nope"], hello["header:Date:asDate"])
	}
	groups := hello["header:To:asGroupedAddresses"].([]any)
	if len(groups) != 2 || groups[1].(map[string]any)["name"] != "undisclosed" {
		t.Errorf("grouped addresses: %v", groups)
	}
	if !slices.Equal(toStrings(report["inReplyTo"]), []string{"m1@example.org"}) || report["hasAttachment"] != true {
		t.Errorf("report: inReplyTo %v hasAttachment %v", report["inReplyTo"], report["hasAttachment"])
	}
	text := report["textBody"].([]any)
	html := report["htmlBody"].([]any)
	att := report["attachments"].([]any)
	if len(text) != 1 || len(html) != 1 || len(att) != 1 {
		t.Fatalf("body lists: text %v html %v attachments %v", text, html, att)
	}
	if text[0].(map[string]any)["type"] != "text/plain" || html[0].(map[string]any)["type"] != "text/html" || att[0].(map[string]any)["name"] != "report.pdf" {
		t.Errorf("parts: %v %v %v", text, html, att)
	}
	values := report["bodyValues"].(map[string]any)
	tv := values[text[0].(map[string]any)["partId"].(string)].(map[string]any)
	if tv["value"] != "plain body" || tv["isTruncated"] != true {
		t.Errorf("text body value: %v", tv)
	}
	if len(values) != 2 {
		t.Errorf("bodyValues: %v", values)
	}
	bs := report["bodyStructure"].(map[string]any)
	if bs["type"] != "multipart/mixed" || len(bs["subParts"].([]any)) != 2 {
		t.Errorf("bodyStructure: %v", bs)
	}
	hv := e.call1("Email/get", map[string]any{"ids": []string{ids[0]}, "fetchAllBodyValues": true, "properties": []string{"bodyValues"}})
	for _, v := range hv["list"].([]any)[0].(map[string]any)["bodyValues"].(map[string]any) {
		if !strings.Contains(v.(map[string]any)["value"].(string), "café") {
			t.Errorf("quoted-printable UTF-8 body: %v", v)
		}
	}

	// The attachment downloads as its decoded bytes, never inline.
	blobID := att[0].(map[string]any)["blobId"].(string)
	resp := e.do("GET", Prefix+"/download/A1/"+blobID+"/report.pdf?type=application/pdf", "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "%PDF-1.4\n" {
		t.Fatalf("download: %s %q", resp.Status, body)
	}
	h := resp.Header
	if !strings.HasPrefix(h.Get("Content-Disposition"), "attachment") || h.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("download headers: %v", h)
	}
	if resp := e.do("GET", Prefix+"/download/A1/"+strings.Repeat("0", 64)+"/x", ""); resp.StatusCode != 404 {
		t.Errorf("download of an unknown blob: %s", resp.Status)
	}
}

func TestEmailQueryFilters(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	e.deliver("INBOX", multipartMsg)
	e.deliver("Archive", strings.Replace(simpleMsg, "Hello there", "Old news", 1))
	count := func(filter map[string]any, collapse bool) int {
		t.Helper()
		q := e.call1("Email/query", map[string]any{"filter": filter, "collapseThreads": collapse})
		return len(q["ids"].([]any))
	}
	inbox := e.mailboxID("INBOX")
	for _, tc := range []struct {
		filter map[string]any
		want   int
	}{
		{map[string]any{"inMailbox": inbox}, 2},
		{map[string]any{"inMailboxOtherThan": []string{inbox}}, 1},
		{map[string]any{"from": "bob"}, 2},
		{map[string]any{"subject": "report"}, 1},
		{map[string]any{"hasAttachment": true}, 1},
		{map[string]any{"body": "HTML BODY"}, 1},
		{map[string]any{"text": "café"}, 2},
		{map[string]any{"header": []string{"List-Post"}}, 2},
		{map[string]any{"minSize": 400}, 1},
		{map[string]any{"notKeyword": "$seen"}, 3},
		{map[string]any{"operator": "NOT", "conditions": []any{map[string]any{"from": "bob"}}}, 1},
		{map[string]any{"operator": "OR", "conditions": []any{map[string]any{"subject": "old"}, map[string]any{"subject": "report"}}}, 2},
	} {
		if got := count(tc.filter, false); got != tc.want {
			t.Errorf("filter %v: %d emails, want %d", tc.filter, got, tc.want)
		}
	}
	// The reply threads with the first message.
	if all, collapsed := count(nil, false), count(nil, true); all != 3 || collapsed >= all {
		t.Errorf("collapseThreads: %d of %d", collapsed, all)
	}
	q := e.call1("Email/query", map[string]any{"position": 1, "limit": 1})
	if len(q["ids"].([]any)) != 1 || q["position"].(float64) != 1 {
		t.Errorf("window: %v", q)
	}
}

// TestEmailSetAndChanges checks that changes made over JMAP land in the
// store as IMAP sees them, and that changes made through the store, as
// IMAP makes them, show in Email/changes.
func TestEmailSetAndChanges(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.deliver("INBOX", simpleMsg)
	e.deliver("INBOX", multipartMsg)
	ids := toStrings(e.call1("Email/query", map[string]any{"sort": []any{map[string]any{"property": "subject"}}})["ids"])
	hello, report := ids[0], ids[1]
	state := e.call1("Email/get", map[string]any{"ids": []string{}})["state"].(string)

	archive := e.mailboxID("Archive")
	set := e.call1("Email/set", map[string]any{"update": map[string]any{
		hello:  map[string]any{"keywords/$seen": true, "keywords/$flagged": true},
		report: map[string]any{"mailboxIds": map[string]any{archive: true}},
	}})
	if len(set["updated"].(map[string]any)) != 2 {
		t.Fatalf("Email/set: %v", set)
	}
	mb, _ := e.store.Mailbox(ctx, 1, "INBOX")
	var flags []string
	e.store.Messages(ctx, 1, store.Query{Mailbox: mb.ID}, func(m *store.Message) error {
		flags = append(flags, m.Flags...)
		return nil
	})
	if mb.Messages != 1 || !slices.Contains(flags, store.FlagSeen) || !slices.Contains(flags, store.FlagFlagged) {
		t.Errorf("store after Email/set: %d messages, flags %v", mb.Messages, flags)
	}
	ch := e.call1("Email/changes", map[string]any{"sinceState": state})
	if !slices.Equal(toStrings(ch["updated"]), []string{hello, report}) && !slices.Equal(toStrings(ch["updated"]), []string{report, hello}) ||
		len(ch["created"].([]any)) != 0 || len(ch["destroyed"].([]any)) != 0 {
		t.Errorf("Email/changes after Email/set: %v", ch)
	}
	state = ch["newState"].(string)

	// As IMAP's STORE would: a flag change through the store.
	if _, err := e.store.UpdateFlags(ctx, 1, store.FlagUpdate{Mailbox: mb.ID, UIDs: []store.UIDRange{{First: 1, Last: 0}}, Op: store.FlagsRemove, Flags: []string{store.FlagSeen}}); err != nil {
		t.Fatal(err)
	}
	e.deliver("INBOX", strings.Replace(simpleMsg, "m1@", "m3@", 1))
	ch = e.call1("Email/changes", map[string]any{"sinceState": state, "maxChanges": 1})
	if !slices.Equal(toStrings(ch["updated"]), []string{hello}) || ch["hasMoreChanges"] != true {
		t.Errorf("Email/changes with maxChanges: %v", ch)
	}
	ch = e.call1("Email/changes", map[string]any{"sinceState": ch["newState"]})
	if len(ch["created"].([]any)) != 1 || ch["hasMoreChanges"] != false {
		t.Errorf("Email/changes rest: %v", ch)
	}
	state = ch["newState"].(string)

	reportThread := e.call1("Email/get", map[string]any{"ids": []string{report}, "properties": []string{"threadId"}})["list"].([]any)[0].(map[string]any)["threadId"].(string)
	set = e.call1("Email/set", map[string]any{"destroy": []string{report, "E999"}, "update": map[string]any{hello: map[string]any{"size": 3}, "E998": map[string]any{}}})
	if !slices.Equal(toStrings(set["destroyed"]), []string{report}) || set["notDestroyed"].(map[string]any)["E999"] == nil ||
		set["notUpdated"].(map[string]any)[hello].(map[string]any)["type"] != "invalidProperties" {
		t.Errorf("Email/set destroy and bad update: %v", set)
	}
	ch = e.call1("Email/changes", map[string]any{"sinceState": state})
	if !slices.Equal(toStrings(ch["destroyed"]), []string{report}) {
		t.Errorf("Email/changes after destroy: %v", ch)
	}
	if mb, _ := e.store.Mailbox(ctx, 1, "Archive"); mb.Messages != 0 {
		t.Errorf("destroyed email still in Archive: %d", mb.Messages)
	}
	// The thread of a destroyed email is known to the node that saw it
	// go; after a restart it is not.
	th := e.call1("Thread/changes", map[string]any{"sinceState": state})
	if !slices.Contains(append(toStrings(th["destroyed"]), toStrings(th["updated"])...), reportThread) {
		t.Errorf("Thread/changes over a destroy: %v, want %s", th, reportThread)
	}
	e.srv.indexes = indexCache{}
	if err := e.callErr("Thread/changes", map[string]any{"sinceState": state}); err != "cannotCalculateChanges" {
		t.Errorf("Thread/changes over a destroy after a restart: %s", err)
	}
}

func TestUploadImportParse(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	raw := strings.ReplaceAll(multipartMsg, "\n", "\r\n")
	resp := e.do("POST", Prefix+"/upload/A1/", raw)
	if resp.StatusCode != 201 {
		t.Fatalf("upload: %s", resp.Status)
	}
	up := decode(t, resp.Body)
	blobID := up["blobId"].(string)
	if up["size"].(float64) != float64(len(raw)) {
		t.Errorf("upload: %v", up)
	}
	if resp := e.do("POST", Prefix+"/upload/A2/", "x"); resp.StatusCode != 404 {
		t.Errorf("upload to another account: %s", resp.Status)
	}

	p := e.call1("Email/parse", map[string]any{"blobIds": []string{blobID, strings.Repeat("1", 64)}, "properties": []string{"subject", "attachments"}})
	parsed := p["parsed"].(map[string]any)[blobID].(map[string]any)
	if parsed["subject"] != "Report" || len(parsed["attachments"].([]any)) != 1 || len(p["notFound"].([]any)) != 1 {
		t.Errorf("Email/parse: %v", p)
	}

	drafts := e.mailboxID("Drafts")
	imp := e.call1("Email/import", map[string]any{"emails": map[string]any{
		"a": map[string]any{"blobId": blobID, "mailboxIds": map[string]bool{drafts: true}, "keywords": map[string]bool{"$draft": true}},
		"b": map[string]any{"blobId": strings.Repeat("2", 64), "mailboxIds": map[string]bool{drafts: true}},
		"c": map[string]any{"blobId": blobID, "mailboxIds": map[string]bool{"M999": true}},
	}})
	if imp["created"].(map[string]any)["a"] == nil || imp["notCreated"].(map[string]any)["b"].(map[string]any)["type"] != "blobNotFound" ||
		imp["notCreated"].(map[string]any)["c"].(map[string]any)["type"] != "invalidProperties" {
		t.Fatalf("Email/import: %v", imp)
	}
	id := imp["created"].(map[string]any)["a"].(map[string]any)["id"].(string)
	got := e.call1("Email/get", map[string]any{"ids": []string{id}, "properties": []string{"keywords", "mailboxIds", "threadId"}})
	o := got["list"].([]any)[0].(map[string]any)
	if o["keywords"].(map[string]any)["$draft"] != true || o["mailboxIds"].(map[string]any)[drafts] != true {
		t.Errorf("imported email: %v", o)
	}
	// The reply joins the delivered message's thread.
	th := e.call1("Thread/get", map[string]any{"ids": []string{o["threadId"].(string)}})
	if len(th["list"].([]any)[0].(map[string]any)["emailIds"].([]any)) != 2 {
		t.Errorf("thread of the imported reply: %v", th)
	}

	ident := e.call1("Identity/get", map[string]any{})
	if ident["list"].([]any)[0].(map[string]any)["email"] != testUser {
		t.Errorf("Identity/get: %v", ident)
	}
}
