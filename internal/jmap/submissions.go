package jmap

import (
	"cmp"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"casella/internal/directory"
)

// EmailSubmission objects (RFC 8621 section 7) are records in the
// directory (directory.Submissions), with a state of their own: a
// counter per account that every change of a record raises. A pending
// record becomes final when its sendAt has passed; that is written, and
// the state raised, by the first read after it (settle), and push
// streams wake for it (watchStates).

var submissionProps = []string{"id", "identityId", "emailId", "threadId", "envelope", "sendAt", "undoStatus",
	"deliveryStatus", "dsnBlobIds", "mdnBlobIds"}

// submissions settles the account's records that are due and returns
// them with their state.
func (c *call) submissions() ([]directory.Submission, string, error) {
	recs := c.records()
	if recs == nil {
		return nil, "0", nil
	}
	if _, err := recs.SettleSubmissions(c.ctx, c.acct, time.Now()); err != nil {
		return nil, "", err
	}
	l, state, err := recs.Submissions(c.ctx, c.acct)
	if err != nil {
		return nil, "", err
	}
	return l, strconv.FormatInt(state, 10), nil
}

func (c *call) records() directory.Submissions {
	if c.s.Submission == nil {
		return nil
	}
	return c.s.Submission.Records
}

// submissionState returns the state of the account's submissions and
// when the next pending one leaves (zero: none is pending), settling the
// due ones first. It reads no records: push streams call it at every
// change of the account.
func (c *call) submissionState() (string, time.Time, error) {
	recs := c.records()
	if recs == nil {
		return "0", time.Time{}, nil
	}
	if _, err := recs.SettleSubmissions(c.ctx, c.acct, time.Now()); err != nil {
		return "", time.Time{}, err
	}
	state, next, err := recs.SubmissionState(c.ctx, c.acct)
	if err != nil {
		return "", time.Time{}, err
	}
	return strconv.FormatInt(state, 10), next, nil
}

// submissionByID returns a record for an update or destroy.
func (c *call) submissionByID(id string) (directory.Submission, *setError) {
	l, _, err := c.submissions()
	if err != nil {
		return directory.Submission{}, setErr("serverFail", "reading submissions failed; try again")
	}
	i := slices.IndexFunc(l, func(s directory.Submission) bool { return s.ID == id })
	if i < 0 {
		return directory.Submission{}, setErr("notFound", "no submission %q", id)
	}
	return l[i], nil
}

// submissionEmail returns the email of a submission, for
// onSuccessUpdateEmail after an update.
func (c *call) submissionEmail(id string) (string, bool) {
	s, serr := c.submissionByID(id)
	return s.EmailID, serr == nil
}

// submissionObject renders a record with the given properties.
func submissionObject(s directory.Submission, props []string) map[string]any {
	o := map[string]any{}
	for _, p := range props {
		switch p {
		case "id":
			o[p] = s.ID
		case "identityId":
			o[p] = s.IdentityID
		case "emailId":
			o[p] = s.EmailID
		case "threadId":
			o[p] = s.ThreadID
		case "envelope":
			if len(s.Envelope) > 0 {
				o[p] = json.RawMessage(s.Envelope)
			} else {
				o[p] = nil
			}
		case "sendAt":
			o[p] = utcDate(s.SendAt)
		case "undoStatus":
			o[p] = s.UndoStatus
		case "deliveryStatus":
			o[p] = deliveryStatusObject(s)
		case "dsnBlobIds", "mdnBlobIds":
			o[p] = []string{}
		}
	}
	return o
}

// deliveryStatusObject renders a record's deliveryStatus (RFC 8621
// section 7): null for a record made before statuses were kept, which
// the RFC allows; whether the message was displayed is never known.
func deliveryStatusObject(s directory.Submission) any {
	if s.DeliveryStatus == nil {
		return nil
	}
	o := make(map[string]any, len(s.DeliveryStatus))
	for addr, st := range s.DeliveryStatus {
		o[addr] = map[string]any{"smtpReply": st.SMTPReply, "delivered": st.Delivered, "displayed": "unknown"}
	}
	return o
}

// emailSubmissionGet is EmailSubmission/get (RFC 8621 section 7.1).
func (c *call) emailSubmissionGet(raw json.RawMessage) (any, error) {
	var a getArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	props, err := properties(a.Properties, submissionProps, submissionProps, nil)
	if err != nil {
		return nil, err
	}
	if a.IDs != nil && len(*a.IDs) > maxObjectsInGet {
		return nil, mErr("requestTooLarge", "more than maxObjectsInGet ids")
	}
	l, state, err := c.submissions()
	if err != nil {
		return nil, err
	}
	list, notFound := []any{}, []string{}
	if a.IDs == nil {
		for _, s := range l {
			list = append(list, submissionObject(s, props))
		}
	} else {
		for _, id := range *a.IDs {
			rid, _ := c.resolveID(id)
			i := slices.IndexFunc(l, func(s directory.Submission) bool { return s.ID == rid })
			if i < 0 {
				notFound = append(notFound, id)
				continue
			}
			list = append(list, submissionObject(l[i], props))
		}
	}
	return map[string]any{"accountId": accountID(c.acct), "state": state, "list": list, "notFound": notFound}, nil
}

// emailSubmissionChanges is EmailSubmission/changes (RFC 8621 section
// 7.2), from the records' modseqs and tombstones.
func (c *call) emailSubmissionChanges(raw json.RawMessage) (any, error) {
	var a changesArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	since, err := parseRecordState(a)
	if err != nil {
		return nil, err
	}
	if _, _, err := c.submissions(); err != nil {
		return nil, err
	}
	var changes []directory.Change
	state := int64(0)
	if recs := c.records(); recs != nil {
		changes, state, err = recs.SubmissionChanges(c.ctx, c.acct, since)
		if errors.Is(err, directory.ErrChangesExpired) {
			return nil, mErr("cannotCalculateChanges", "the changes since state %d have expired", since)
		}
		if err != nil {
			return nil, err
		}
	}
	return recordChanges(c, a, since, changes, state)
}

// parseRecordState checks a /changes of records whose state is a
// directory counter (submissions, Sieve scripts).
func parseRecordState(a changesArgs) (int64, error) {
	since, err := strconv.ParseInt(a.SinceState, 10, 64)
	if err != nil || since < 0 {
		return 0, mErr("cannotCalculateChanges", "%q is not a state this server gave", a.SinceState)
	}
	if a.MaxChanges != nil && *a.MaxChanges <= 0 {
		return 0, invalidArgs("maxChanges must be positive")
	}
	return since, nil
}

// recordChanges answers a /changes from a directory change log
// (directory.Change): records created and destroyed since are left out
// (RFC 8620 section 5.2).
func recordChanges(c *call, a changesArgs, since int64, changes []directory.Change, state int64) (any, error) {
	if since > state {
		return nil, mErr("cannotCalculateChanges", "state %d is ahead of the account's state %d", since, state)
	}
	created, updated, destroyed := []string{}, []string{}, []string{}
	more := false
	for i, ch := range changes {
		// Each change has a modseq of its own, so the list may be cut
		// after any of them.
		if a.MaxChanges != nil && i >= *a.MaxChanges {
			state, more = changes[i-1].ModSeq, true
			break
		}
		switch {
		case ch.Created && ch.Destroyed:
		case ch.Created:
			created = append(created, ch.ID)
		case ch.Destroyed:
			destroyed = append(destroyed, ch.ID)
		default:
			updated = append(updated, ch.ID)
		}
	}
	return map[string]any{"accountId": accountID(c.acct), "oldState": a.SinceState, "newState": strconv.FormatInt(state, 10),
		"hasMoreChanges": more, "created": created, "updated": updated, "destroyed": destroyed}, nil
}

// submissionFilter is a FilterOperator or a FilterCondition of
// EmailSubmission/query (RFC 8621 section 7.3).
type submissionFilter struct {
	Operator   string             `json:"operator"`
	Conditions []submissionFilter `json:"conditions"`

	IdentityIDs *[]string `json:"identityIds"`
	EmailIDs    *[]string `json:"emailIds"`
	ThreadIDs   *[]string `json:"threadIds"`
	UndoStatus  *string   `json:"undoStatus"`
	Before      *string   `json:"before"`
	After       *string   `json:"after"`

	before, after time.Time
}

// maxSubmissionFilterDepth bounds the nesting of filter operators.
const maxSubmissionFilterDepth = 16

// parseSubmissionFilter decodes and checks a filter: unknown properties,
// operators and dates are invalid (RFC 8620 section 5.5).
func parseSubmissionFilter(raw json.RawMessage) (*submissionFilter, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var f submissionFilter
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, mErr("unsupportedFilter", "%v", err)
	}
	if err := f.check(0); err != nil {
		return nil, err
	}
	return &f, nil
}

func (f *submissionFilter) check(depth int) error {
	if depth > maxSubmissionFilterDepth {
		return mErr("unsupportedFilter", "filters nest deeper than %d", maxSubmissionFilterDepth)
	}
	if f.Operator != "" {
		if f.Operator != "AND" && f.Operator != "OR" && f.Operator != "NOT" {
			return mErr("unsupportedFilter", "unknown operator %q", f.Operator)
		}
		for i := range f.Conditions {
			if err := f.Conditions[i].check(depth + 1); err != nil {
				return err
			}
		}
		return nil
	}
	if f.Conditions != nil {
		return mErr("unsupportedFilter", "conditions without an operator")
	}
	for _, d := range []struct {
		s *string
		t *time.Time
	}{{f.Before, &f.before}, {f.After, &f.after}} {
		if d.s == nil {
			continue
		}
		t, err := time.Parse(time.RFC3339, *d.s)
		if err != nil {
			return mErr("unsupportedFilter", "%q is not a UTCDate", *d.s)
		}
		*d.t = t
	}
	return nil
}

func (f *submissionFilter) match(s directory.Submission) bool {
	switch f.Operator {
	case "AND":
		return !slices.ContainsFunc(f.Conditions, func(g submissionFilter) bool { return !g.match(s) })
	case "OR":
		return slices.ContainsFunc(f.Conditions, func(g submissionFilter) bool { return g.match(s) })
	case "NOT":
		return !slices.ContainsFunc(f.Conditions, func(g submissionFilter) bool { return g.match(s) })
	}
	in := func(l *[]string, v string) bool { return l == nil || slices.Contains(*l, v) }
	return in(f.IdentityIDs, s.IdentityID) && in(f.EmailIDs, s.EmailID) && in(f.ThreadIDs, s.ThreadID) &&
		(f.UndoStatus == nil || *f.UndoStatus == s.UndoStatus) &&
		(f.Before == nil || s.SendAt.Before(f.before)) &&
		(f.After == nil || !s.SendAt.Before(f.after))
}

// submissionSorts are the sorts of EmailSubmission/query.
var submissionSorts = []string{"emailId", "threadId", "sentAt"}

// emailSubmissionQuery is EmailSubmission/query (RFC 8621 section 7.3).
// Without a sort, submissions come in the order they were made.
func (c *call) emailSubmissionQuery(raw json.RawMessage) (any, error) {
	var a struct {
		AccountID      string          `json:"accountId"`
		Filter         json.RawMessage `json:"filter"`
		Sort           []comparator    `json:"sort"`
		Position       int             `json:"position"`
		Anchor         *string         `json:"anchor"`
		AnchorOffset   int             `json:"anchorOffset"`
		Limit          *int            `json:"limit"`
		CalculateTotal bool            `json:"calculateTotal"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	f, err := parseSubmissionFilter(a.Filter)
	if err != nil {
		return nil, err
	}
	for _, s := range a.Sort {
		if !slices.Contains(submissionSorts, s.Property) {
			return nil, mErr("unsupportedSort", "cannot sort by %q", s.Property)
		}
	}
	l, state, err := c.submissions()
	if err != nil {
		return nil, err
	}
	if f != nil {
		l = slices.DeleteFunc(l, func(s directory.Submission) bool { return !f.match(s) })
	}
	slices.SortStableFunc(l, func(x, y directory.Submission) int {
		for _, s := range a.Sort {
			var n int
			switch s.Property {
			case "emailId":
				n = cmp.Compare(x.EmailID, y.EmailID)
			case "threadId":
				n = cmp.Compare(x.ThreadID, y.ThreadID)
			case "sentAt":
				n = x.SendAt.Compare(y.SendAt)
			}
			if !s.ascending() {
				n = -n
			}
			if n != 0 {
				return n
			}
		}
		return 0
	})
	ids := make([]string, len(l))
	for i, s := range l {
		ids[i] = s.ID
	}
	return pageResult(c, state, ids, a.Position, a.Limit, a.CalculateTotal, a.Anchor, a.AnchorOffset)
}
