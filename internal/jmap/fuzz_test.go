package jmap

import (
	"encoding/json"
	"testing"
)

// FuzzParseRequest feeds hostile request bodies to the request parser and
// the result reference resolver: neither may panic, and a parsed request
// has using and methodCalls.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"using":["urn:ietf:params:jmap:core"],"methodCalls":[["Core/echo",{"a":1},"c"]]}`))
	f.Add([]byte(`{"using":[],"methodCalls":[["Email/get",{"#ids":{"resultOf":"c","name":"Core/echo","path":"/a/*/b"}},"d"]]}`))
	f.Add([]byte(`{"using":[],"methodCalls":[[1,2,3]]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, rerr := ParseRequest(body)
		if rerr != nil {
			return
		}
		if req.Using == nil || req.MethodCalls == nil {
			t.Fatalf("parsed without using or methodCalls: %s", body)
		}
		var done []Invocation
		for _, inv := range req.MethodCalls {
			if _, err := resolveReferences(inv.Args, done); err == nil {
				done = append(done, inv)
			}
		}
	})
}

// FuzzParseFilter checks filter validation on hostile filters.
func FuzzParseFilter(f *testing.F) {
	f.Add([]byte(`{"operator":"AND","conditions":[{"from":"a"},{"operator":"NOT","conditions":[{"hasKeyword":"$seen"}]}]}`))
	f.Add([]byte(`{"header":["Subject","x"],"before":"2026-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		flt, err := ParseFilter(body)
		if err != nil {
			return
		}
		if flt.Cond == nil && flt.Operator == "" {
			t.Fatalf("a filter that is neither a condition nor an operator: %s", body)
		}
		if !json.Valid(body) {
			t.Fatalf("invalid JSON accepted: %s", body)
		}
	})
}
