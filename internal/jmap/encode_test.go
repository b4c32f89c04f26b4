package jmap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"casella/internal/directory"
)

// Messages whose Email objects exercise every writer: groups, encoded
// words, characters encoding/json escapes, invalid UTF-8, absent and
// unparsable fields, nested and related multiparts, a long body.
var encodeMsgs = []string{simpleMsg, multipartMsg,
	"From: \"Dan <&> \\\"Q\\\"\" <dan@example.org>\n" +
		"To: Team: a@example.org, \"B\" <b@example.org>;, c@example.org, Empty:;\n" +
		"Cc: =?utf-8?q?J=C3=B6rg?= <jorg@example.org>, \"\" <noname@example.org>\n" +
		"Reply-To: <r@example.org>\nSender: s@example.org\nBcc: hidden@example.org\n" +
		"Subject: =?utf-8?q?tags_<b>_&_more?= \u2028 line \xff sep\n" +
		"Date: not a date\nMessage-ID: <x@y> <z@w>\nIn-Reply-To: <x@y>\n" +
		"Received: from a\nReceived: from b\n" +
		"List-Unsubscribe: <https://example.org/u?a=1&b=2>, <mailto:u@example.org>, junk\n" +
		"X-Odd: \x01ctrl\tand tab\n" +
		"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\ncaf\xe9 latin1\n",
	"Subject: related\nMIME-Version: 1.0\nContent-Type: multipart/related; boundary=r\n\n" +
		"--r\nContent-Type: text/html\nContent-Language: en, de\nContent-Location: http://example.org/x\n\n<img src=cid:i1>\n" +
		"--r\nContent-Type: image/png\nContent-ID: <i1>\nContent-Transfer-Encoding: base64\n\niVBORw0K\n" +
		"--r\nContent-Type: message/rfc822\n\nFrom: inner@example.org\nSubject: inner\n\ninner body\n" +
		"--r--\n",
	"\nno header at all\n",
	"From: e@example.org\nSubject: long\nContent-Type: text/plain; charset=utf-8\n\n" + strings.Repeat("é€😀 ", 40) + "\n",
}

// TestEncodersMatchMaps is the differential test of the jsonw writers:
// for each set of arguments, Email/get, Email/parse, Mailbox/get and
// Thread/get must write byte for byte what json.Marshal made of the maps
// the methods built before (oracle_test.go).
func TestEncodersMatchMaps(t *testing.T) {
	e := newTestEnv(t)
	for _, m := range encodeMsgs {
		e.deliver("INBOX", m)
	}
	e.fill(t, 8)
	created := e.call1("Mailbox/set", map[string]any{"create": map[string]any{"w": map[string]any{"name": "Work <&>"}}})
	work := created["created"].(map[string]any)["w"].(map[string]any)["id"].(string)
	q := e.call1("Email/query", map[string]any{})
	var ids []string
	for _, id := range q["ids"].([]any) {
		ids = append(ids, id.(string))
	}
	inbox := e.mailboxID("INBOX")
	e.call1("Email/set", map[string]any{"update": map[string]any{
		ids[0]: map[string]any{"keywords": map[string]bool{"$seen": true, "$flagged": true, "Work": true, "$answered": true}},
		ids[1]: map[string]any{"mailboxIds": map[string]bool{inbox: true, work: true}},
		ids[2]: map[string]any{"keywords/$draft": true},
	}})

	ctx := context.Background()
	newCall := func() *call {
		return &call{ctx: ctx, s: e.srv, acct: 1, ss: &session{acct: directory.Account{ID: 1, Address: testUser}, blobs: e.blobs},
			blobs: e.blobs, created: map[string]string{}}
	}
	compare := func(t *testing.T, name string, args map[string]any, got, want func(*call, json.RawMessage) (any, error)) {
		t.Helper()
		raw, err := json.Marshal(args)
		if err != nil {
			t.Fatal(err)
		}
		g, gerr := got(newCall(), raw)
		w, werr := want(newCall(), raw)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Fatalf("%s %s: error %v, the maps' %v", name, raw, gerr, werr)
		}
		if gerr != nil {
			return
		}
		gb, err := marshalResult(g)
		if err != nil {
			t.Fatal(err)
		}
		wb, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gb, wb) {
			i := 0
			for i < len(gb) && i < len(wb) && gb[i] == wb[i] {
				i++
			}
			t.Fatalf("%s %s: differs at byte %d:\n got  …%.300s\n want …%.300s", name, raw, i, gb[max(0, i-100):], wb[max(0, i-100):])
		}
		if !json.Valid(gb) {
			t.Fatalf("%s %s: not JSON: %s", name, raw, gb)
		}
	}

	var headerProps []string
	for _, h := range []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Post", "Received", "X-Odd", "X-Missing"} {
		for _, form := range []string{"", ":asRaw", ":asText", ":asAddresses", ":asGroupedAddresses", ":asMessageIds", ":asDate", ":asURLs"} {
			headerProps = append(headerProps, "header:"+h+form, "header:"+strings.ToLower(h)+form+":all")
		}
	}
	allBody := append([]string{"header:Content-Type", "header:Content-Disposition:all", "header:Content-Language:asText"}, bodyProps...)
	// Without ids the order is the index map's, which differs from call
	// to call, so every case names its emails.
	getArgs := []map[string]any{
		{"ids": ids},
		{"ids": ids, "properties": syncProps},
		{"ids": ids, "properties": emailProps, "bodyProperties": allBody, "fetchAllBodyValues": true},
		{"ids": ids, "properties": append([]string{"id"}, headerProps...)},
		{"ids": ids, "properties": []string{"bodyStructure", "textBody"}, "bodyProperties": []string{"partId", "subParts"}},
		{"ids": ids, "properties": []string{"bodyStructure", "attachments", "htmlBody"}, "bodyProperties": []string{"type", "name", "size"}},
		{"ids": ids, "properties": []string{"bodyValues"}, "fetchTextBodyValues": true, "maxBodyValueBytes": 5},
		{"ids": ids, "properties": []string{"bodyValues"}, "fetchHTMLBodyValues": true, "maxBodyValueBytes": 1},
		{"ids": ids, "properties": []string{"bodyValues", "references"}, "fetchTextBodyValues": true, "fetchHTMLBodyValues": true},
		{"ids": append([]string{"E999999", "nonsense", ids[0]}, ids[0], ids[1]), "properties": []string{"from", "from", "keywords", "mailboxIds"}},
		{"ids": []string{}, "properties": []string{"subject"}},
		{"ids": ids, "properties": []string{"nope"}},
		{"ids": ids, "maxBodyValueBytes": -1},
	}
	for _, a := range getArgs {
		compare(t, "Email/get", a, (*call).emailGet, (*call).oldEmailGet)
	}

	blobs := e.call1("Email/get", map[string]any{"ids": ids, "properties": []string{"blobId"}})
	var blobIDs []string
	for _, o := range blobs["list"].([]any) {
		blobIDs = append(blobIDs, o.(map[string]any)["blobId"].(string))
	}
	blobIDs = append(blobIDs, blobIDs[0], strings.Repeat("0", 64), "bad", blobIDs[3]+"_3")
	for _, a := range []map[string]any{
		{"blobIds": blobIDs},
		{"blobIds": blobIDs, "properties": emailProps, "bodyProperties": allBody, "fetchAllBodyValues": true},
		{"blobIds": blobIDs, "properties": headerProps},
		{"blobIds": []string{}},
	} {
		compare(t, "Email/parse", a, (*call).emailParse, (*call).oldEmailParse)
	}

	for _, a := range []map[string]any{
		{},
		{"ids": []string{work, "M999", inbox, inbox}},
		{"properties": []string{"name", "myRights", "role", "parentId", "name"}},
		{"properties": []string{"totalThreads", "unreadThreads", "totalEmails", "unreadEmails", "sortOrder", "isSubscribed"}},
		{"properties": []string{"bogus"}},
	} {
		compare(t, "Mailbox/get", a, (*call).mailboxGet, (*call).oldMailboxGet)
	}

	threads := e.call1("Email/get", map[string]any{"ids": ids, "properties": []string{"threadId"}})
	var threadIDs []string
	for _, o := range threads["list"].([]any) {
		threadIDs = append(threadIDs, o.(map[string]any)["threadId"].(string))
	}
	for _, a := range []map[string]any{
		{"ids": append(threadIDs, "T999999", "x")},
		{"ids": threadIDs, "properties": []string{"emailIds"}},
	} {
		compare(t, "Thread/get", a, (*call).threadGet, (*call).oldThreadGet)
	}
}

// FuzzJSONString checks appendJSONString against encoding/json, whose
// escaping the writers must repeat byte for byte.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "<a href=\"x\">&amp;</a>", "tab\tnl\ncr\rff\fbs\b\x00\x1f\x7f",
		"caf\xe9", "\xff\xfe", "\u2028\u2029", "é€😀", "\xe2\x80", `back\slash`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, encoding/json %s", s, got, want)
		}
	})
}

// TestResultStructsMatchMaps checks that the /query and /changes result
// structs write what the maps they replaced wrote: the same members,
// sorted, with total and limit only when set.
func TestResultStructsMatchMaps(t *testing.T) {
	n, l := 0, 5
	for _, c := range []struct {
		s any
		m map[string]any
	}{
		{&queryResult{AccountID: "A1", IDs: []string{}, QueryState: "7"},
			map[string]any{"accountId": "A1", "canCalculateChanges": false, "ids": []string{}, "position": 0, "queryState": "7"}},
		{&queryResult{AccountID: "A1", CanCalculateChanges: true, IDs: []string{"E1", "E2"}, Position: 3, QueryState: "7", Total: &n, Limit: &l},
			map[string]any{"accountId": "A1", "canCalculateChanges": true, "ids": []string{"E1", "E2"}, "position": 3, "queryState": "7", "total": 0, "limit": 5}},
		{&changesResult{AccountID: "A1", Created: []string{"E1"}, Updated: []string{}, Destroyed: []string{"E2"}, NewState: "9", OldState: "3", HasMoreChanges: true},
			map[string]any{"accountId": "A1", "created": []string{"E1"}, "updated": []string{}, "destroyed": []string{"E2"}, "newState": "9", "oldState": "3", "hasMoreChanges": true}},
	} {
		got, err := json.Marshal(c.s)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(c.m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}
