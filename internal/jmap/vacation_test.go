package jmap

import (
	"context"
	"strings"
	"testing"

	"casella/internal/directory"
	"casella/internal/sieve"
)

// TestVacationResponseScript checks both directions between the
// VacationResponse and the Sieve scripts: setting it writes a script the
// interpreter compiles, with the dates as tests; a vacation in the active
// script, set over ManageSieve, shows in VacationResponse/get.
func TestVacationResponseScript(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	set := e.call1("VacationResponse/set", map[string]any{"update": map[string]any{"singleton": map[string]any{
		"isEnabled": true, "subject": `Away "now"`, "textBody": "Back on Monday.", "fromDate": "2026-12-01T00:00:00Z", "toDate": "2026-12-24T00:00:00Z"}}})
	if _, ok := set["updated"].(map[string]any)["singleton"]; !ok {
		t.Fatalf("set: %v", set)
	}
	_, src, err := e.srv.Sieve.SieveScript(ctx, 1, directory.VacationScript)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sieve.Compile(src)
	if err != nil {
		t.Fatalf("the generated script does not compile: %v\n%s", err, src)
	}
	if subj, text, ok := s.VacationText(); !ok || subj != `Away "now"` || text != "Back on Monday." ||
		!strings.Contains(src, `currentdate :zone "+0000" :value "ge" "iso8601" "2026-12-01T00:00:00+00:00"`) {
		t.Errorf("generated script:\n%s", src)
	}
	v := e.call1("VacationResponse/get", map[string]any{})["list"].([]any)[0].(map[string]any)
	if v["fromDate"] != "2026-12-01T00:00:00Z" || v["subject"] != `Away "now"` {
		t.Errorf("get: %v", v)
	}
	// Only the properties asked, and the id (RFC 8620 section 5.1).
	v = e.call1("VacationResponse/get", map[string]any{"properties": []string{"subject"}})["list"].([]any)[0].(map[string]any)
	if len(v) != 2 || v["id"] != "singleton" || v["subject"] != `Away "now"` {
		t.Errorf("get of the subject: %v", v)
	}

	// Over ManageSieve: the response's script removed, an active script
	// with a vacation of its own.
	if err := e.srv.Sieve.DeleteSieveScript(ctx, 1, directory.VacationScript); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Sieve.PutSieveScript(ctx, 1, "mine", `require "vacation"; vacation :subject "Gone" "Gone fishing.";`); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Sieve.SetActiveSieveScript(ctx, 1, "mine"); err != nil {
		t.Fatal(err)
	}
	v = e.call1("VacationResponse/get", map[string]any{})["list"].([]any)[0].(map[string]any)
	if v["isEnabled"] != true || v["subject"] != "Gone" || v["textBody"] != "Gone fishing." {
		t.Errorf("get of a ManageSieve vacation: %v", v)
	}
	set = e.call1("VacationResponse/set", map[string]any{"update": map[string]any{"singleton": map[string]any{"isEnabled": false}}})
	if _, src, _ := e.srv.Sieve.SieveScript(ctx, 1, directory.VacationScript); strings.Contains(src, "vacation :") {
		t.Errorf("a disabled response's script answers:\n%s", src)
	}
}

// FuzzVacationScript reads hostile scripts stored over ManageSieve as
// the VacationResponse, and generates scripts from hostile responses:
// reading never panics, and a generated script compiles and reads back
// as the response it came from.
func FuzzVacationScript(f *testing.F) {
	f.Add(vacationMarker+`{"isEnabled":true}`+"\n", "Away", "Back \"soon\" \\ ${x}")
	f.Add("require \"vacation\"; vacation \"x\";", "", "")
	f.Fuzz(func(t *testing.T, src, subject, text string) {
		parseVacationScript(src)
		v := vacation{ID: "singleton", IsEnabled: true, Subject: &subject, TextBody: &text}
		gen := vacationScript(v)
		if _, err := sieve.Compile(gen); err != nil {
			if strings.ToValidUTF8(subject+text, "") != subject+text {
				return // JSON replaces invalid UTF-8, so the line no longer matches
			}
			t.Fatalf("generated script does not compile: %v\n%s", err, gen)
		}
		back := parseVacationScript(gen)
		if !back.IsEnabled {
			t.Fatalf("read back disabled:\n%s", gen)
		}
	})
}
