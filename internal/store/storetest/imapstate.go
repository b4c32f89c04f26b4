package storetest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"casella/internal/store"
)

// testClaimRecent checks the \Recent claim (RFC 3501 section 2.3.2): each
// UID is claimed by one caller only, however many claim at once, and the
// mark never goes down.
func testClaimRecent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	newAccount(t, s, other)
	inbox := mailbox(t, s, acct, store.Inbox)
	if inbox.RecentMark != 0 {
		t.Fatalf("new mailbox has recent mark %d", inbox.RecentMark)
	}
	appendN(t, s, acct, inbox.ID, 1, 3)
	before := mailbox(t, s, acct, store.Inbox)
	if old, err := s.ClaimRecent(ctx, acct, inbox.ID, 2); err != nil || old != 0 {
		t.Fatalf("first claim = %d, %v; want 0", old, err)
	}
	if old, err := s.ClaimRecent(ctx, acct, inbox.ID, 1); err != nil || old != 2 {
		t.Fatalf("lower claim = %d, %v; want 2", old, err)
	}
	after := mailbox(t, s, acct, store.Inbox)
	if after.RecentMark != 2 {
		t.Fatalf("recent mark %d after claims up to 2 and 1", after.RecentMark)
	}
	// A claim is not a change of the mailbox.
	if after.HighestModSeq != before.HighestModSeq {
		t.Errorf("claims moved HIGHESTMODSEQ from %d to %d", before.HighestModSeq, after.HighestModSeq)
	}

	// Concurrent claims of the same UIDs: exactly one gets each.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		olds []uint32
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			old, err := s.ClaimRecent(ctx, acct, inbox.ID, 3)
			if err != nil {
				t.Errorf("concurrent claim: %v", err)
				return
			}
			mu.Lock()
			olds = append(olds, old)
			mu.Unlock()
		}()
	}
	wg.Wait()
	winners := 0
	for _, old := range olds {
		switch old {
		case 2:
			winners++
		case 3:
		default:
			t.Errorf("concurrent claim returned mark %d", old)
		}
	}
	if winners != 1 {
		t.Errorf("%d sessions claimed UID 3, want exactly 1", winners)
	}

	if _, err := s.ClaimRecent(ctx, other, inbox.ID, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("claim on another account's mailbox: %v, want ErrNotFound", err)
	}
	if _, err := s.ClaimRecent(ctx, acct, inbox.ID+1000, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("claim on a missing mailbox: %v, want ErrNotFound", err)
	}
}

// testAppendRecent checks that AppendRecent claims the new messages when
// every message below them is claimed, and only then.
func testAppendRecent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	newAccount(t, s, other)
	inbox := mailbox(t, s, acct, store.Inbox)
	uids, claimed, err := s.AppendRecent(ctx, acct, inbox.ID, []store.NewMessage{msg(1), msg(2)})
	if err != nil || !claimed || len(uids) != 2 {
		t.Fatalf("append to a mailbox with nothing unclaimed = %v, %v, %v; want 2 UIDs claimed", uids, claimed, err)
	}
	if mb := mailbox(t, s, acct, store.Inbox); mb.RecentMark != uids[1] || mb.Messages != 2 {
		t.Fatalf("recent mark %d, %d messages after the claiming append; want %d, 2", mb.RecentMark, mb.Messages, uids[1])
	}
	// A message nobody claimed stays below: the next append claims
	// nothing, and both are left to a ClaimRecent.
	below := appendN(t, s, acct, inbox.ID, 3, 1)
	uids, claimed, err = s.AppendRecent(ctx, acct, inbox.ID, []store.NewMessage{msg(4)})
	if err != nil || claimed || len(uids) != 1 {
		t.Fatalf("append above an unclaimed message = %v, %v, %v; want 1 UID, not claimed", uids, claimed, err)
	}
	if mb := mailbox(t, s, acct, store.Inbox); mb.RecentMark != below[0]-1 {
		t.Fatalf("recent mark %d after an append that claimed nothing, want %d", mb.RecentMark, below[0]-1)
	}
	if old, err := s.ClaimRecent(ctx, acct, inbox.ID, uids[0]); err != nil || old != below[0]-1 {
		t.Fatalf("claim after it = %d, %v; want %d", old, err, below[0]-1)
	}
	if _, _, err := s.AppendRecent(ctx, other, inbox.ID, []store.NewMessage{msg(5)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("append to another account's mailbox: %v, want ErrNotFound", err)
	}
}

// keywordSet returns a mailbox's keywords in lower case, sorted.
func keywordSet(t *testing.T, s store.Store, a store.Account, mb int64) []string {
	t.Helper()
	l, err := s.Keywords(ctxT(t), a, mb)
	if err != nil {
		t.Fatalf("Keywords: %v", err)
	}
	for i := range l {
		l[i] = strings.ToLower(l[i])
	}
	slices.Sort(l)
	return l
}

// testMailboxKeywords checks the keywords a mailbox lists (RFC 9051
// section 7.3.5): every keyword a message got by append, delivery, flag
// update, copy or move, once, and the limit on clients bringing new ones.
func testMailboxKeywords(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	newAccount(t, s, other)
	inbox := mailbox(t, s, acct, store.Inbox)
	archive := mailbox(t, s, acct, "Archive")
	if l := keywordSet(t, s, acct, inbox.ID); len(l) != 0 {
		t.Fatalf("new mailbox has keywords %q", l)
	}
	appendN(t, s, acct, inbox.ID, 1, 2, "$Forwarded", `\Seen`)
	if _, err := s.Deliver(ctx, store.Delivery{Key: "kw", Account: acct, Message: store.NewMessage{Blob: msg(9).Blob, Size: 9, Flags: []string{"$Junk"}}}); err != nil {
		t.Fatal(err)
	}
	update(t, s, store.FlagUpdate{Mailbox: inbox.ID, UIDs: []store.UIDRange{{First: 1, Last: 1}}, Op: store.FlagsAdd, Flags: []string{"Work", "$forwarded"}})
	update(t, s, store.FlagUpdate{Mailbox: inbox.ID, Op: store.FlagsRemove, Flags: []string{"work"}})
	if got, want := keywordSet(t, s, acct, inbox.ID), []string{"$forwarded", "$junk", "work"}; !slices.Equal(got, want) {
		t.Errorf("keywords %q, want %q (kept after their last use)", got, want)
	}
	if _, err := s.Copy(ctx, acct, inbox.ID, []store.UIDRange{{First: 1, Last: 1}}, archive.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(ctx, acct, inbox.ID, []store.UIDRange{{First: 3, Last: 3}}, archive.ID); err != nil {
		t.Fatal(err)
	}
	if got, want := keywordSet(t, s, acct, archive.ID), []string{"$forwarded", "$junk"}; !slices.Equal(got, want) {
		t.Errorf("keywords after copy and move %q, want %q", got, want)
	}
	if _, err := s.Keywords(ctx, other, inbox.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("keywords of another account's mailbox: %v, want ErrNotFound", err)
	}

	// The limit refuses a client's STORE and APPEND, all of it.
	var many []string
	for i := len(keywordSet(t, s, acct, inbox.ID)); i < store.MaxMailboxKeywords; i++ {
		many = append(many, fmt.Sprintf("k%d", i))
	}
	update(t, s, store.FlagUpdate{Mailbox: inbox.ID, UIDs: []store.UIDRange{{First: 2, Last: 2}}, Op: store.FlagsAdd, Flags: many})
	before := flagsOf(t, s, acct, inbox.ID)
	_, err := s.UpdateFlags(ctx, acct, store.FlagUpdate{Mailbox: inbox.ID, Op: store.FlagsAdd, Flags: []string{`\Flagged`, "OneTooMany"}})
	if !errors.Is(err, store.ErrTooManyKeywords) {
		t.Errorf("a keyword past the limit: %v, want ErrTooManyKeywords", err)
	}
	if _, err := s.Append(ctx, acct, inbox.ID, []store.NewMessage{msg(10, "OneTooMany")}); !errors.Is(err, store.ErrTooManyKeywords) {
		t.Errorf("append with a keyword past the limit: %v, want ErrTooManyKeywords", err)
	}
	if after := flagsOf(t, s, acct, inbox.ID); len(after) != len(before) || !sameFlags(after[1], before[1]) {
		t.Errorf("a refused update changed flags: %v, was %v", after, before)
	}
	if n := len(keywordSet(t, s, acct, inbox.ID)); n != store.MaxMailboxKeywords {
		t.Errorf("%d keywords after refusals, want %d", n, store.MaxMailboxKeywords)
	}
	// Keywords in use stay usable, and take the mailbox's spelling.
	update(t, s, store.FlagUpdate{Mailbox: inbox.ID, Op: store.FlagsAdd, Flags: []string{"WORK"}})
	if f := flagsOf(t, s, acct, inbox.ID)[2]; !slices.Contains(f, "Work") {
		t.Errorf("keyword added as WORK shows as %q, want the mailbox's spelling Work", f)
	}
	checkCounts(t, s, acct)
}

// testSubscriptions checks that subscriptions are names (RFC 9051
// sections 6.3.4 to 6.3.8): one outlives its mailbox, renames move them,
// and each account has its own.
func testSubscriptions(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	newAccount(t, s, other)
	subs := func(a store.Account) []string {
		t.Helper()
		l, err := s.Subscriptions(ctx, a)
		if err != nil {
			t.Fatalf("Subscriptions: %v", err)
		}
		return l
	}
	var defaults []string
	for _, d := range store.DefaultMailboxes {
		defaults = append(defaults, d.Name)
	}
	slices.Sort(defaults)
	if got := subs(acct); !slices.Equal(got, defaults) {
		t.Fatalf("new account's subscriptions %q, want %q", got, defaults)
	}
	for _, name := range []string{"Lists/Go", "Lists/Rust", "Old"} {
		if _, err := s.CreateMailbox(ctx, acct, name, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Subscribe(ctx, acct, name, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMailbox(ctx, acct, "Old"); err != nil {
		t.Fatal(err)
	}
	if got := subs(acct); !slices.Contains(got, "Old") {
		t.Errorf("deleting a mailbox removed its subscription: %q", got)
	}
	if err := s.RenameMailbox(ctx, acct, "Lists", "Groups"); err != nil {
		t.Fatal(err)
	}
	got := subs(acct)
	if !slices.Contains(got, "Groups/Go") || !slices.Contains(got, "Groups/Rust") || slices.Contains(got, "Lists/Go") || slices.Contains(got, "Groups") {
		t.Errorf("subscriptions after renaming Lists to Groups: %q", got)
	}
	if !mailbox(t, s, acct, "Groups/Go").Subscribed || mailbox(t, s, acct, "Groups").Subscribed {
		t.Errorf("Mailbox.Subscribed does not follow the subscriptions")
	}
	// A subscription without its mailbox can be removed; a name that is
	// neither cannot.
	if err := s.Subscribe(ctx, acct, "Old", false); err != nil {
		t.Errorf("unsubscribe a deleted mailbox: %v", err)
	}
	if err := s.Subscribe(ctx, acct, "Old", false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unsubscribe an unknown name: %v, want ErrNotFound", err)
	}
	if err := s.Subscribe(ctx, acct, "Old", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("subscribe to a missing mailbox: %v, want ErrNotFound", err)
	}
	// A mailbox created again under a subscribed name is subscribed.
	if err := s.DeleteMailbox(ctx, acct, "Groups/Rust"); err != nil {
		t.Fatal(err)
	}
	if mb, err := s.CreateMailbox(ctx, acct, "Groups/Rust", ""); err != nil || !mb.Subscribed {
		t.Errorf("recreated mailbox: %+v, %v; want subscribed", mb, err)
	}
	if got := subs(other); !slices.Equal(got, defaults) {
		t.Errorf("another account's subscriptions changed: %q", got)
	}
	if _, err := s.Subscriptions(ctx, 99); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("subscriptions of a missing account: %v, want ErrNotFound", err)
	}
}

// testMetadata checks annotations (RFC 5464): of mailboxes and of the
// account, names compared without case, removal, the limits, and that a
// mailbox takes its annotations along when deleted.
func testMetadata(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	newAccount(t, s, acct)
	newAccount(t, s, other)
	inbox := mailbox(t, s, acct, store.Inbox)
	get := func(a store.Account, mb int64) map[string]string {
		t.Helper()
		l, err := s.Metadata(ctx, a, mb)
		if err != nil {
			t.Fatalf("Metadata: %v", err)
		}
		m := map[string]string{}
		for _, e := range l {
			m[e.Name] = string(e.Value)
		}
		return m
	}
	set := func(mb int64, entries ...store.MetadataEntry) error {
		return s.SetMetadata(ctx, acct, mb, entries)
	}
	if err := set(inbox.ID, store.MetadataEntry{Name: "/private/Comment", Value: []byte("mine")},
		store.MetadataEntry{Name: "/shared/comment", Value: []byte("ours\x00binary")}); err != nil {
		t.Fatal(err)
	}
	before := mailbox(t, s, acct, store.Inbox)
	_, high, err := s.Changes(ctx, acct, 0, math.MaxInt64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := set(0, store.MetadataEntry{Name: "/shared/admin", Value: []byte("mailto:postmaster@example.org")}); err != nil {
		t.Fatal(err)
	}
	// Each set is one change of the log, not of the mailbox's messages.
	changes, _, err := s.Changes(ctx, acct, 0, high, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(changes); n != 1 || changes[0].Kind != store.MetadataChanged || changes[0].Mailbox != 0 {
		t.Errorf("changes after a server annotation: %+v", changes)
	}
	if after := mailbox(t, s, acct, store.Inbox); after.HighestModSeq != before.HighestModSeq {
		t.Errorf("an annotation moved HIGHESTMODSEQ from %d to %d", before.HighestModSeq, after.HighestModSeq)
	}
	if got := get(acct, inbox.ID); len(got) != 2 || got["/private/comment"] != "mine" || got["/shared/comment"] != "ours\x00binary" {
		t.Errorf("mailbox annotations %q", got)
	}
	if got := get(acct, 0); len(got) != 1 || got["/shared/admin"] == "" {
		t.Errorf("server annotations %q", got)
	}
	if got := get(other, 0); len(got) != 0 {
		t.Errorf("another account sees annotations %q", got)
	}
	if _, err := s.Metadata(ctx, other, inbox.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("annotations of another account's mailbox: %v, want ErrNotFound", err)
	}
	// A nil value removes; the same name in another case is the same entry.
	if err := set(inbox.ID, store.MetadataEntry{Name: "/PRIVATE/COMMENT"}, store.MetadataEntry{Name: "/shared/comment", Value: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	if got := get(acct, inbox.ID); len(got) != 1 || got["/shared/comment"] != "new" {
		t.Errorf("after removal and update %q", got)
	}
	for _, bad := range []string{"/comment", "/private/", "/private//x", "/shared/a/", "/shared/a*", "/shared/%", "private/x", "/shared/a\x01"} {
		if err := set(inbox.ID, store.MetadataEntry{Name: bad, Value: []byte("x")}); !errors.Is(err, store.ErrMetadataName) {
			t.Errorf("name %q: %v, want ErrMetadataName", bad, err)
		}
	}
	big := make([]byte, store.MaxMetadataValue+1)
	if err = set(inbox.ID, store.MetadataEntry{Name: "/private/big", Value: big}); !errors.Is(err, store.ErrMetadataTooLarge) {
		t.Errorf("value of %d bytes: %v, want ErrMetadataTooLarge", len(big), err)
	}
	var many []store.MetadataEntry
	for i := range store.MaxMetadataEntries {
		many = append(many, store.MetadataEntry{Name: fmt.Sprintf("/private/e%d", i), Value: []byte("v")})
	}
	if err := set(inbox.ID, many...); !errors.Is(err, store.ErrMetadataTooMany) {
		t.Errorf("%d entries: %v, want ErrMetadataTooMany", len(many)+1, err)
	}
	if got := get(acct, inbox.ID); len(got) != 1 {
		t.Errorf("a refused set left %d entries", len(got))
	}
	// Replacing within the limit works.
	if err := set(inbox.ID, append(many[:store.MaxMetadataEntries-1], store.MetadataEntry{Name: "/shared/comment"})...); err != nil {
		t.Errorf("a set within the limit: %v", err)
	}

	// The account's annotations together stay within MaxMetadataBytes,
	// however many mailboxes carry them.
	value := make([]byte, store.MaxMetadataValue)
	full := make([]store.MetadataEntry, store.MaxMetadataEntries)
	for i := range full {
		full[i] = store.MetadataEntry{Name: fmt.Sprintf("/private/full%d", i), Value: value}
	}
	perMailbox := int64(store.MaxMetadataEntries * store.MaxMetadataValue)
	var quotaErr error
	for _, name := range []string{"Sent", "Drafts", "Trash", "Junk"} {
		if quotaErr = set(mailbox(t, s, acct, name).ID, full...); quotaErr != nil {
			break
		}
	}
	if !errors.Is(quotaErr, store.ErrMetadataQuota) || 4*perMailbox <= store.MaxMetadataBytes {
		t.Errorf("annotations past %d bytes for the account: %v, want ErrMetadataQuota", store.MaxMetadataBytes, quotaErr)
	}

	mb, err := s.CreateMailbox(ctx, acct, "Annotated", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := set(mb.ID, store.MetadataEntry{Name: "/private/comment", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMailbox(ctx, acct, "Annotated"); err != nil {
		t.Fatal(err)
	}
	if mb, err = s.CreateMailbox(ctx, acct, "Annotated", ""); err != nil {
		t.Fatal(err)
	}
	if got := get(acct, mb.ID); len(got) != 0 {
		t.Errorf("a recreated mailbox has the old one's annotations %q", got)
	}
	if err := s.SetMetadata(ctx, acct, mb.ID+1000, []store.MetadataEntry{{Name: "/private/x", Value: []byte("x")}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("annotating a missing mailbox: %v, want ErrNotFound", err)
	}
}
