package jmap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"

	"casella/internal/message"
	"casella/internal/store"
)

// fill delivers n small messages to alice's inbox, in threads of four.
// The blobs of a batch are written at once, so that they share their
// fsyncs.
func (e *testEnv) fill(tb testing.TB, n int) {
	ctx := context.Background()
	if err := e.store.EnsureAccount(ctx, 1); err != nil {
		tb.Fatal(err)
	}
	const batchSize = 500
	for first := 0; first < n; first += batchSize {
		batch := make([]store.Delivery, min(batchSize, n-first))
		var wg sync.WaitGroup
		errs := make(chan error, len(batch))
		for j := range batch {
			wg.Go(func() {
				i := first + j
				subject := fmt.Sprintf("Topic %d", i/4)
				if i%4 != 0 {
					subject = "Re: " + subject
				}
				raw := []byte(fmt.Sprintf("From: user%d@example.org\r\nTo: alice@example.org\r\nSubject: %s\r\nMessage-ID: <m%d@example.org>\r\nReferences: <m%d@example.org>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\nBody of message %d.\r\n", i%50, subject, i, i-i%4, i))
				key, err := e.blobs.Put(ctx, raw)
				if err != nil {
					errs <- err
					return
				}
				batch[j] = store.Delivery{Key: fmt.Sprint(i), Account: 1, Message: store.NewMessage{Blob: key, Size: int64(len(raw)), Meta: message.Parse(raw)}}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
		if _, err := e.store.DeliverBatch(ctx, batch); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkQueryAndGet is what a client's mailbox list costs: the newest
// 50 emails of a 10,000-message inbox (JMAP_BENCH_MESSAGES to change it),
// with and without collapsing threads, and their list properties with
// preview, in one request. The first request of an account at a state
// reads the whole account; the others reuse its index.
func BenchmarkQueryAndGet(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("JMAP_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	e := newTestEnv(b)
	e.fill(b, n)
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			e.srv.indexes = indexCache{}
			e.api([]any{"Email/query", map[string]any{"limit": 50}, "q"})
		}
	})
	inbox := e.mailboxID("INBOX")
	mb, err := e.store.Mailbox(context.Background(), 1, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	queryAndGet := func(b *testing.B, collapse bool) {
		r := e.api(
			[]any{"Email/query", map[string]any{"filter": map[string]any{"inMailbox": inbox}, "sort": []any{map[string]any{"property": "receivedAt", "isAscending": false}}, "limit": 50, "collapseThreads": collapse}, "q"},
			[]any{"Email/get", map[string]any{"#ids": map[string]any{"resultOf": "q", "name": "Email/query", "path": "/ids"}, "properties": []string{"subject", "from", "receivedAt", "keywords", "preview", "threadId"}}, "g"},
		)
		if n := len(r[1][1].(map[string]any)["list"].([]any)); n != 50 {
			b.Fatalf("got %d emails", n)
		}
	}
	for _, collapse := range []bool{false, true} {
		b.Run(fmt.Sprintf("collapseThreads=%v", collapse), func(b *testing.B) {
			for b.Loop() {
				queryAndGet(b, collapse)
			}
		})
	}
	// afterChange is a client's next request after a flag changed
	// elsewhere (another client, IMAP): the state moved by one.
	b.Run("afterChange", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			op := store.FlagsAdd
			if i%2 == 0 {
				op = store.FlagsRemove
			}
			uid := uint32(i%n + 1)
			if _, err := e.store.UpdateFlags(context.Background(), 1, store.FlagUpdate{Mailbox: mb.ID, UIDs: []store.UIDRange{{First: uid, Last: uid}}, Op: op, Flags: []string{store.FlagFlagged}}); err != nil {
				b.Fatal(err)
			}
			queryAndGet(b, false)
		}
	})
}

// BenchmarkEmailGet is one page of a client's initial sync: Email/get of
// 500 emails (maxObjectsInGet) with the list properties that
// TestSyncJMAPAndIMAP asks, served in process so that the figures are
// the server's alone: reading the metadata, building and encoding the
// response.
func BenchmarkEmailGet(b *testing.B) {
	const n = 500
	e := newTestEnv(b)
	e.fill(b, n)
	ids := make([]string, 0, n)
	for _, em := range e.call1("Email/query", map[string]any{"limit": n})["ids"].([]any) {
		ids = append(ids, em.(string))
	}
	body, err := json.Marshal(map[string]any{"using": using, "methodCalls": []any{
		[]any{"Email/get", map[string]any{"ids": ids, "properties": syncProps}, "g"}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", Prefix+"/api", bytes.NewReader(body))
		req.SetBasicAuth(testUser, testPass)
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, req)
		if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(`"notFound":[]`)) {
			b.Fatalf("%d %.200s", w.Code, w.Body)
		}
		b.SetBytes(int64(w.Body.Len()))
	}
}

// BenchmarkBlobLookup is Blob/lookup (RFC 9404) of one message's blob
// and the download of that message, in a 10,000-message inbox
// (JMAP_BENCH_MESSAGES to change it): "first" is an account's first
// request, with no index of it cached, the others follow one.
func BenchmarkBlobLookup(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("JMAP_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	e := newTestEnv(b)
	e.fill(b, n)
	mb, err := e.store.Mailbox(context.Background(), 1, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	var key string
	uid := uint32(n / 2)
	if err := e.store.Messages(context.Background(), 1, store.Query{Mailbox: mb.ID, UIDs: []store.UIDRange{{First: uid, Last: uid}}}, func(m *store.Message) error {
		key = string(m.Blob)
		return nil
	}); err != nil || key == "" {
		b.Fatalf("message %d: %q, %v", uid, key, err)
	}
	lookup := func(b *testing.B) {
		r := e.call1("Blob/lookup", map[string]any{"typeNames": []string{"Email", "Mailbox", "Thread"}, "ids": []string{key}})
		if l := r["list"].([]any); len(l) != 1 {
			b.Fatalf("Blob/lookup: %v", r)
		}
	}
	download := func(b *testing.B) {
		resp := e.do("GET", Prefix+"/download/A1/"+key+"/m.eml", "")
		if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("download: %d, %v", resp.StatusCode, err)
		}
		resp.Body.Close()
	}
	for _, bc := range []struct {
		name string
		fn   func(*testing.B)
	}{{"lookup", lookup}, {"download", download}} {
		b.Run(bc.name+"/first", func(b *testing.B) {
			for b.Loop() {
				e.srv.indexes = indexCache{}
				bc.fn(b)
			}
		})
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				bc.fn(b)
			}
		})
	}
}
