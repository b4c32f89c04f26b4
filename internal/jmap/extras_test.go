package jmap

import (
	"strings"
	"testing"
)

func TestSearchSnippet(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	ids := toStrings(e.call1("Email/query", map[string]any{})["ids"])
	got := e.call1("SearchSnippet/get", map[string]any{"emailIds": append(ids, "E999"),
		"filter": map[string]any{"operator": "AND", "conditions": []any{map[string]any{"text": "alice"}, map[string]any{"subject": "hello"}}}})
	l := got["list"].([]any)
	if len(l) != 1 || len(got["notFound"].([]any)) != 1 {
		t.Fatalf("SearchSnippet/get: %v", got)
	}
	sn := l[0].(map[string]any)
	if sn["subject"] != "<mark>Hello</mark> there" || !strings.Contains(sn["preview"].(string), "<mark>Alice</mark>") {
		t.Errorf("snippet: %v", sn)
	}
	if typ := e.callErr("SearchSnippet/get", map[string]any{"filter": map[string]any{}}); typ != "invalidArguments" {
		t.Errorf("without emailIds: %s", typ)
	}
}

func TestQuota(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	got := e.call1("Quota/get", map[string]any{})
	q := got["list"].([]any)[0].(map[string]any)
	if q["resourceType"] != "octets" || q["used"].(float64) <= 0 || q["hardLimit"].(float64) != 1<<30 || q["scope"] != "account" {
		t.Errorf("Quota/get: %v", q)
	}
	state := got["state"].(string)
	e.deliver("INBOX", multipartMsg)
	ch := e.call1("Quota/changes", map[string]any{"sinceState": state})
	if len(ch["updated"].([]any)) != 1 {
		t.Errorf("Quota/changes after a delivery: %v", ch)
	}
	if q := e.call1("Quota/query", map[string]any{}); len(q["ids"].([]any)) != 1 {
		t.Errorf("Quota/query: %v", q)
	}
}

func TestVacationResponse(t *testing.T) {
	e := newTestEnv(t)
	got := e.call1("VacationResponse/get", map[string]any{})
	v := got["list"].([]any)[0].(map[string]any)
	if v["id"] != "singleton" || v["isEnabled"] != false {
		t.Fatalf("default vacation response: %v", v)
	}
	set := e.call1("VacationResponse/set", map[string]any{
		"update":  map[string]any{"singleton": map[string]any{"isEnabled": true, "subject": "Away", "textBody": "Back on Monday."}, "other": map[string]any{}},
		"create":  map[string]any{"x": map[string]any{}},
		"destroy": []string{"singleton"},
	})
	if _, ok := set["updated"].(map[string]any)["singleton"]; !ok || set["notCreated"].(map[string]any)["x"].(map[string]any)["type"] != "singleton" ||
		set["notUpdated"].(map[string]any)["other"] == nil || set["oldState"] == set["newState"] {
		t.Fatalf("VacationResponse/set: %v", set)
	}
	v = e.call1("VacationResponse/get", map[string]any{"ids": []string{"singleton"}})["list"].([]any)[0].(map[string]any)
	if v["isEnabled"] != true || v["subject"] != "Away" || v["textBody"] != "Back on Monday." {
		t.Errorf("stored vacation response: %v", v)
	}
	set = e.call1("VacationResponse/set", map[string]any{"update": map[string]any{"singleton": map[string]any{"isEnabled": "yes"}}})
	if set["notUpdated"].(map[string]any)["singleton"] == nil {
		t.Errorf("a mistyped property was accepted: %v", set)
	}
}
