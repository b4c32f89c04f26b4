package managesieve

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"casella/internal/directory"
)

// TestListScriptsFailure shows the active script's run-time failure, as
// the delivery recorded it, in LISTSCRIPTS's OK (WARNINGS), until the
// script is stored again.
func TestListScriptsFailure(t *testing.T) {
	f := start(t, true)
	c := f.dial(t)
	expect(t, c.do(`AUTHENTICATE "PLAIN" "`+plain("ann@example.com", "ann-password")+`"`), "OK")
	expect(t, c.do(`PUTSCRIPT "a" "keep;"`), "OK")
	expect(t, c.do(`SETACTIVE "a"`), "OK")
	m := f.srv.Scripts.(directory.SieveMemory)
	if err := directory.RecordSieveFailure(t.Context(), m, 1, "a", sha256.Sum256([]byte("keep;")), "line 1, column 1: boom", time.Now()); err != nil {
		t.Fatal(err)
	}
	got := c.do("LISTSCRIPTS")
	if last := got[strings.LastIndexByte(got, '\n')+1:]; !strings.HasPrefix(last, "OK (WARNINGS)") || !strings.Contains(last, "line 1, column 1: boom") {
		t.Errorf("LISTSCRIPTS: %q", got)
	}
	expect(t, c.do(`PUTSCRIPT "a" "keep; keep;"`), "OK")
	expect(t, c.do("LISTSCRIPTS"), `OK "Listscripts completed"`)
}
