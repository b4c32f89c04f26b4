package jmap

import (
	"encoding/json"
	"html"
	"strings"
)

// snippetTerms collects the words a filter searches for, outside NOT.
func snippetTerms(f *filter) (subject, body []string) {
	if f == nil {
		return nil, nil
	}
	if c := f.Cond; c != nil {
		if c.Text != nil {
			subject, body = append(subject, *c.Text), append(body, *c.Text)
		}
		if c.Subject != nil {
			subject = append(subject, *c.Subject)
		}
		if c.Body != nil {
			body = append(body, *c.Body)
		}
		return subject, body
	}
	if f.Operator == "NOT" {
		return nil, nil
	}
	for _, sub := range f.Conditions {
		s, b := snippetTerms(sub)
		subject, body = append(subject, s...), append(body, b...)
	}
	return subject, body
}

// highlight escapes s as HTML and marks the terms in it (RFC 8621
// section 5); nil when no term occurs.
func highlight(s string, terms []string) any {
	lower := strings.ToLower(s)
	type span struct{ from, to int }
	var spans []span
	for _, t := range terms {
		t = strings.ToLower(t)
		if t == "" {
			continue
		}
		for i := 0; ; {
			j := strings.Index(lower[i:], t)
			if j < 0 {
				break
			}
			spans = append(spans, span{i + j, i + j + len(t)})
			i += j + len(t)
		}
	}
	if len(spans) == 0 || len(lower) != len(s) {
		return nil
	}
	marked := make([]bool, len(s)+1)
	for _, sp := range spans {
		for i := sp.from; i < sp.to; i++ {
			marked[i] = true
		}
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && marked[j] == marked[i] {
			j++
		}
		if marked[i] {
			b.WriteString("<mark>" + html.EscapeString(s[i:j]) + "</mark>")
		} else {
			b.WriteString(html.EscapeString(s[i:j]))
		}
		i = j
	}
	return b.String()
}

// snippetGet is SearchSnippet/get (RFC 8621 section 5.1): the subject
// and the preview with the filter's words marked.
func (c *call) snippetGet(raw json.RawMessage) (any, error) {
	var a struct {
		AccountID string          `json:"accountId"`
		Filter    json.RawMessage `json:"filter"`
		EmailIDs  []string        `json:"emailIds"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	if a.EmailIDs == nil {
		return nil, invalidArgs("emailIds is required")
	}
	if len(a.EmailIDs) > maxObjectsInGet {
		return nil, mErr("requestTooLarge", "more than maxObjectsInGet emailIds")
	}
	var f *filter
	if len(a.Filter) > 0 && string(a.Filter) != "null" {
		var err error
		if f, err = ParseFilter(a.Filter); err != nil {
			return nil, mErr("unsupportedFilter", "%v", err)
		}
	}
	subjectTerms, bodyTerms := snippetTerms(f)
	x, err := c.index()
	if err != nil {
		return nil, err
	}
	list, notFound := []any{}, []string{}
	for _, id := range a.EmailIDs {
		e := x.emails[parseID('E', id)]
		if e == nil {
			notFound = append(notFound, id)
			continue
		}
		meta, err := c.metaOf(e)
		if err != nil {
			return nil, err
		}
		list = append(list, map[string]any{"emailId": id, "subject": highlight(meta.Envelope.Subject, subjectTerms), "preview": highlight(meta.Preview, bodyTerms)})
	}
	return map[string]any{"accountId": accountID(c.acct), "list": list, "notFound": notFound}, nil
}
