package imap

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestCopyMove(t *testing.T) {
	e := newTestEnv(t)
	c := e.client(t, nil)
	for range 3 {
		cmd := c.Append("INBOX", int64(len(simpleMsg)), nil)
		cmd.Write([]byte(simpleMsg))
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	cp, err := c.Copy(imap.SeqSetNum(1, 3), "Archive").Wait()
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	if cp.UIDValidity == 0 || cp.SourceUIDs.String() != "1,3" || cp.DestUIDs.String() != "1:2" {
		t.Fatalf("COPYUID = %d %v %v", cp.UIDValidity, cp.SourceUIDs, cp.DestUIDs)
	}
	mv, err := c.Move(imap.UIDSetNum(2), "Trash").Wait()
	if err != nil {
		t.Fatalf("move: %v", err)
	}
	if mv.SourceUIDs.String() != "2" || mv.DestUIDs.String() != "1" {
		t.Fatalf("move COPYUID %v %v", mv.SourceUIDs, mv.DestUIDs)
	}
	if n := c.Mailbox().NumMessages; n != 2 {
		t.Fatalf("after move the client counts %d messages", n)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Nowhere").Wait(); err == nil || !strings.Contains(err.Error(), "TRYCREATE") {
		t.Fatalf("copy to missing mailbox: %v", err)
	}
	st, err := c.Status("Archive", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 2 {
		t.Fatalf("archive status %+v %v", st, err)
	}
}

func TestExpunge(t *testing.T) {
	e := newTestEnv(t)
	rc := e.raw(t)
	rc.login()
	for _, f := range []string{`\Deleted`, "", `\Deleted`, `\Deleted`} {
		rc.appendMsg("INBOX", f, simpleMsg)
	}
	rc.ok("s SELECT INBOX")
	u := rc.ok("a UID EXPUNGE 3:4")
	if strings.Join(u, ",") != "* 4 EXPUNGE,* 3 EXPUNGE" {
		t.Fatalf("uid expunge: %q", u)
	}
	u = rc.ok("b EXPUNGE")
	if strings.Join(u, ",") != "* 1 EXPUNGE" {
		t.Fatalf("expunge: %q", u)
	}
	u = rc.ok("c UID FETCH 1:* UID")
	if strings.Join(u, ",") != "* 1 FETCH (UID 2)" {
		t.Fatalf("left: %q", u)
	}
	rc.ok("d EXAMINE INBOX")
	rc.expect("e EXPUNGE", "e NO")
}
