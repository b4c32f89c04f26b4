package jmap

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"casella/internal/imap"
)

// TestIMAPCoherence runs Casella's IMAP server on the same store: a flag
// set over IMAP shows in Email/changes, and an email destroyed over JMAP
// is expunged from an IMAP session.
func TestIMAPCoherence(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	e.deliver("INBOX", multipartMsg)

	is := &imap.Server{Store: e.store, Blobs: e.blobs, Auth: e.srv.Auth, Hostname: "imap.example.org",
		Logger: e.srv.Logger, AllowPlainLoopback: true}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go is.Serve(l, false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		is.Shutdown(ctx)
	})
	var mu sync.Mutex
	var expunged []uint32
	c, err := imapclient.DialInsecure(l.Addr().String(), &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) {
			mu.Lock()
			expunged = append(expunged, seq)
			mu.Unlock()
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(testUser, testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(goimap.SeqSetNum(1, 2), &goimap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("fetch: %v %v", msgs, err)
	}
	state := e.call1("Email/get", map[string]any{"ids": []string{}})["state"].(string)

	if err := c.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	ch := e.call1("Email/changes", map[string]any{"sinceState": state})
	updated := toStrings(ch["updated"])
	if len(updated) != 1 {
		t.Fatalf("Email/changes after IMAP STORE: %v", ch)
	}
	got := e.call1("Email/get", map[string]any{"ids": updated, "properties": []string{"keywords"}})
	if got["list"].([]any)[0].(map[string]any)["keywords"].(map[string]any)["$flagged"] != true {
		t.Errorf("keywords after IMAP STORE: %v", got)
	}

	set := e.call1("Email/set", map[string]any{"destroy": updated})
	if !slices.Equal(toStrings(set["destroyed"]), updated) {
		t.Fatalf("destroy: %v", set)
	}
	if err := c.Noop().Wait(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(expunged, []uint32{1}) {
		t.Errorf("IMAP saw expunges %v after the JMAP destroy, want [1]", expunged)
	}
}
