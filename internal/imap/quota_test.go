package imap

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"casella/internal/directory"
)

// quotaAuth gives every account the same quota.
type quotaAuth struct {
	testAuth
	quota int64
}

func (a quotaAuth) Authenticate(ctx context.Context, address, password string) (directory.Account, error) {
	acct, err := a.testAuth.Authenticate(ctx, address, password)
	acct.Quota = a.quota
	return acct, err
}

func TestQuota(t *testing.T) {
	e := newTestEnv(t, func(s *Server) { s.Auth = quotaAuth{s.Auth.(testAuth), 10 << 10} })
	rc := e.raw(t)
	rc.login()
	rc.appendMsg("INBOX", "", simpleMsg)
	u := rc.ok("a GETQUOTAROOT INBOX")
	if strings.Join(u, "\n") != "* QUOTAROOT INBOX \"\"\n* QUOTA \"\" (STORAGE 1 10)" {
		t.Fatalf("getquotaroot: %q", u)
	}
	if u := rc.ok(`b GETQUOTA ""`); u[0] != `* QUOTA "" (STORAGE 1 10)` {
		t.Fatalf("getquota: %q", u)
	}
	rc.expect(`c GETQUOTA "other"`, "c NO [NONEXISTENT]")
	rc.expect(`d SETQUOTA "" (STORAGE 100)`, "d NO [NOPERM]")

	big := simpleMsg + strings.Repeat("x", 6<<10) + "\r\n"
	rc.appendMsg("INBOX", "", big)
	rc.send(fmt.Sprintf("e APPEND INBOX {%d+}\r\n%s\r\n", len(big), big))
	if _, tagged := rc.until("e"); !strings.HasPrefix(tagged, "e NO [OVERQUOTA]") {
		t.Fatalf("append over quota: %q", tagged)
	}
	rc.ok("s SELECT INBOX")
	rc.expect("f COPY 2 Archive", "f NO [OVERQUOTA]")
	rc.ok("g COPY 1 Archive")
	rc.ok("h MOVE 2 Archive") // a move adds nothing

	rc.ok("s SELECT Archive")
	rc.ok(`i UID STORE 2 +FLAGS.SILENT (\Deleted)`)
	if u := rc.ok("j STATUS Archive (DELETED DELETED-STORAGE)"); u[0] != "* STATUS Archive (DELETED 1 DELETED-STORAGE 7)" {
		t.Fatalf("status: %q", u)
	}
}

func TestQuotaGoIMAP(t *testing.T) {
	e := newTestEnv(t, func(s *Server) { s.Auth = quotaAuth{s.Auth.(testAuth), 1 << 20} })
	c := e.client(t, nil)
	if !c.Caps().Has(imap.CapQuota) || !c.Caps().Has("QUOTA=RES-STORAGE") {
		t.Fatalf("caps %v", c.Caps())
	}
	roots, err := c.GetQuotaRoot("INBOX").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || roots[0].Root != "" || roots[0].Resources[imap.QuotaResourceStorage].Limit != 1024 {
		t.Fatalf("quota roots %+v", roots)
	}
	// Without a quota there is no root.
	e2 := newTestEnv(t)
	c2 := e2.client(t, nil)
	if roots, err := c2.GetQuotaRoot("INBOX").Wait(); err != nil || len(roots) != 0 {
		t.Fatalf("no quota: %+v %v", roots, err)
	}
}
