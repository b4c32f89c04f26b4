package jmap

import (
	"encoding/json"
	"slices"
	"strings"
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

// FuzzQueryArguments checks the validation of sorts and of requested
// properties, header:Name:asForm included, on hostile input.
func FuzzQueryArguments(f *testing.F) {
	f.Add([]byte(`[{"property":"subject","isAscending":false},{"property":"hasKeyword","keyword":"$seen"}]`), "header:List-Post:asURLs:all")
	f.Add([]byte(`[{"property":"from","collation":"i;unicode-casemap"}]`), "header::asText")
	f.Fuzz(func(t *testing.T, sorts []byte, prop string) {
		var l []comparator
		if json.Unmarshal(sorts, &l) == nil {
			if err := checkSort(l); err == nil {
				for _, s := range l {
					if !validSortProperty(s.Property) {
						t.Fatalf("accepted sort by %q", s.Property)
					}
				}
			}
		}
		hp, err := parseHeaderProp(prop)
		if err == nil && (hp.name == "" || strings.Contains(hp.name, ":")) {
			t.Fatalf("header property %q parsed as %+v", prop, hp)
		}
		props, err := properties(&[]string{prop}, emailProps, emailDefault, isHeaderProp)
		if err == nil && !slices.Contains(props, prop) {
			t.Fatalf("accepted %q but dropped it", prop)
		}
	})
}

func validSortProperty(p string) bool { return slices.Contains(sortProperties, p) }

// FuzzCreateHeaders feeds hostile header:* properties and body parts to
// the Email/set create parser: every field it renders is one header
// field, folded or not, so that no value can smuggle in another field or
// end the header.
func FuzzCreateHeaders(f *testing.F) {
	f.Add([]byte(`{"header:X-A:asText":"caffè","header:List-Post:asURLs":["mailto:a@b"],"header:X-B:all":[" x"," y"]}`))
	f.Add([]byte(`{"type":"multipart/related","subParts":[{"partId":"h","header:X-P:asAddresses":[{"name":"A","email":"a@b.c"}]}]}`))
	f.Add([]byte(`{"header:X-R":" a\r\n b","header:X-G:asGroupedAddresses":[{"name":"team","addresses":[]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(hdrs []headerField) {
			for _, h := range hdrs {
				line := strings.TrimSuffix(h.line, "\r\n")
				unfolded := strings.NewReplacer("\r\n ", "", "\r\n\t", "").Replace(line)
				if strings.ContainsAny(unfolded, "\r\n") || !strings.HasPrefix(line, h.name+":") || !validFieldName(h.name) {
					t.Fatalf("rendered %q from %s", h.line, body)
				}
			}
		}
		if _, hdrs, err := splitHeaderProps(body); err == nil {
			check(hdrs)
		}
		var bp bodyPartIn
		if json.Unmarshal(body, &bp) == nil {
			var walk func(p *bodyPartIn)
			walk = func(p *bodyPartIn) {
				check(p.headers)
				for i := range p.SubParts {
					walk(&p.SubParts[i])
				}
			}
			walk(&bp)
		}
	})
}
