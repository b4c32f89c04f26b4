package jmap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"casella/internal/directory"
	"casella/internal/limit"
	"casella/internal/message"
	"casella/internal/spool"
)

// Resolver resolves recipients; directory.Directory implements it.
type Resolver interface {
	Resolve(ctx context.Context, address string) ([]directory.Recipient, error)
}

// Enqueuer stores a message durably for delivery; the intake spool and
// the outbound queue implement it, as SMTP uses them.
type Enqueuer interface {
	Enqueue(ctx context.Context, env spool.Envelope, data []byte) (string, error)
}

// Unsender takes back a message held in a queue; the spool implements
// it (spool.Spool.Unsend).
type Unsender interface {
	Unsend(ctx context.Context, id string) error
}

// Submission is what EmailSubmission needs: local recipients go to the
// intake spool, remote ones to the outbound queue, as mail submitted over
// SMTP does.
type Submission struct {
	Directory Resolver
	Spool     Enqueuer
	Outbound  Enqueuer
	// Records keeps the EmailSubmission objects; nil: a submission is
	// sent at once and not kept.
	Records directory.Submissions
	// SpoolHold and OutboundHold take back held entries of Spool and
	// Outbound. With both and Records, a submission may be held
	// (FUTURERELEASE's HOLDFOR and HOLDUNTIL, RFC 4865, as RFC 8621
	// section 7 lets a client ask) and canceled until it leaves.
	SpoolHold, OutboundHold Unsender
	// MaxDelayedSend is the longest hold a client may ask for; zero:
	// holds are refused (maxDelayedSend 0).
	MaxDelayedSend time.Duration
	// UndoWindow is the hold of a client that asks for one with HOLDFOR
	// and no value: the "undo send" of webmail.
	UndoWindow time.Duration
	// SendRate, when set, is the account's budget of remote recipients,
	// shared with SMTP submission.
	SendRate *limit.Rate
	// Node, when set, names this node of a cluster. Each node queues
	// on its own disk, so a held message can only be taken back by the
	// node that queued it; records say which.
	Node func() string
}

// node returns this node's name; "" in embedded mode.
func (sub *Submission) node() string {
	if sub.Node == nil {
		return ""
	}
	return sub.Node()
}

// errOtherNode is unsendEntry's answer for an entry another node holds.
var errOtherNode = errors.New("held by node")

// maxDelayedSend is what the submission capability advertises (RFC 8621
// section 1.3.2): 0 when holds are not possible.
func (sub *Submission) maxDelayedSend() time.Duration {
	if sub == nil || sub.Records == nil || sub.SpoolHold == nil || sub.OutboundHold == nil {
		return 0
	}
	return sub.MaxDelayedSend
}

// Queue names in Submission records (directory.Submission.Queued).
const (
	queueSpool    = "inbound"
	queueOutbound = "outbound"
)

// envelopeIn is the Envelope of an EmailSubmission (RFC 8621 section 7).
type envelopeIn struct {
	MailFrom envAddress   `json:"mailFrom"`
	RcptTo   []envAddress `json:"rcptTo"`
}

// envAddress is an envelope Address: an email and its SMTP parameters.
type envAddress struct {
	Email      string             `json:"email"`
	Parameters map[string]*string `json:"parameters,omitempty"`
}

// submissionCreate is the part of an EmailSubmission a client sets
// (RFC 8621 section 7).
type submissionCreate struct {
	IdentityID string      `json:"identityId"`
	EmailID    string      `json:"emailId"`
	Envelope   *envelopeIn `json:"envelope"`
}

// emailSubmissionSet is EmailSubmission/set (RFC 8621 section 7.5).
// Creating one queues the email, held until its sendAt when the client
// asked for a hold (undoStatus pending), at once otherwise (final). An
// update may only set undoStatus to canceled, which takes a pending
// submission back out of the queues; one that has left, or is about to,
// gets cannotUnsend. onSuccessUpdateEmail and onSuccessDestroyEmail run
// as an implicit Email/set.
func (c *call) emailSubmissionSet(raw json.RawMessage) (any, error) {
	var a struct {
		setArgs
		OnSuccessUpdateEmail  map[string]json.RawMessage `json:"onSuccessUpdateEmail"`
		OnSuccessDestroyEmail []string                   `json:"onSuccessDestroyEmail"`
	}
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	if c.s.Submission == nil {
		return nil, mErr("forbidden", "this server does not send mail")
	}
	r, err := c.beginSetAt(&a.setArgs, func() (string, error) {
		st, _, err := c.submissionState()
		return st, err
	})
	if err != nil {
		return nil, err
	}
	emailOf := map[string]string{} // submission id -> email id
	for cid, props := range a.Create {
		sub, serr := c.submit(props)
		if serr != nil {
			r.NotCreated[cid] = serr
			continue
		}
		c.created[cid] = sub.ID
		emailOf["#"+cid] = sub.EmailID
		emailOf[sub.ID] = sub.EmailID
		r.Created[cid] = map[string]any{"id": sub.ID, "threadId": sub.ThreadID, "undoStatus": sub.UndoStatus, "sendAt": utcDate(sub.SendAt),
			"deliveryStatus": deliveryStatusObject(sub), "dsnBlobIds": []string{}, "mdnBlobIds": []string{}}
	}
	for id, patch := range a.Update {
		if serr := c.unsend(id, patch); serr != nil {
			r.NotUpdated[id] = serr
			continue
		}
		r.Updated[id] = nil
		if e, ok := c.submissionEmail(id); ok {
			emailOf[id] = e
		}
	}
	for _, id := range a.Destroy {
		e, serr := c.destroySubmission(id)
		if serr != nil {
			r.NotDestroyed[id] = serr
			continue
		}
		r.Destroyed = append(r.Destroyed, id)
		emailOf[id] = e
	}
	if len(a.Create)+len(a.Update)+len(a.Destroy) > 0 {
		c.s.subWatch.Wake(c.acct)
	}
	st, _, err := c.submissionState()
	if err != nil {
		return nil, err
	}
	r.NewState = st
	// The implicit Email/set (section 7.5) names submissions by creation
	// id or by id; it acts only on those this call created, updated or
	// destroyed.
	update := map[string]json.RawMessage{}
	for ref, patch := range a.OnSuccessUpdateEmail {
		if e, ok := emailOf[ref]; ok {
			update[e] = patch
		}
	}
	var destroy []string
	for _, ref := range a.OnSuccessDestroyEmail {
		if e, ok := emailOf[ref]; ok {
			destroy = append(destroy, e)
		}
	}
	if len(update) > 0 || len(destroy) > 0 {
		args, _ := json.Marshal(map[string]any{"accountId": accountID(c.acct), "update": update, "destroy": destroy})
		out, err := c.emailSet(args)
		if err != nil {
			return nil, err
		}
		c.extra = append(c.extra, extraResponse{"Email/set", out})
	}
	return r, nil
}

// holdOf reads a FUTURERELEASE request (RFC 4865 section 3) from the
// envelope's MAIL FROM parameters: HOLDFOR seconds or HOLDUNTIL a date;
// HOLDFOR without a value asks for the server's undo window. It returns
// zero for no hold.
func (c *call) holdOf(env *envelopeIn, now time.Time) (time.Time, *setError) {
	if env == nil {
		return time.Time{}, nil
	}
	var until time.Time
	var forV, untilV *string
	var hasFor, hasUntil bool
	// ESMTP parameter names are case-insensitive (RFC 5321 section 2.4).
	for k, v := range env.MailFrom.Parameters {
		switch strings.ToUpper(k) {
		case "HOLDFOR":
			forV, hasFor = v, true
		case "HOLDUNTIL":
			untilV, hasUntil = v, true
		}
	}
	switch {
	case hasFor && hasUntil:
		return time.Time{}, badProp("envelope", "give HOLDFOR or HOLDUNTIL, not both")
	case hasFor && forV == nil:
		until = now.Add(c.s.Submission.UndoWindow)
	case hasFor:
		n, err := strconv.ParseUint(*forV, 10, 32)
		if err != nil || n > 999999999 {
			return time.Time{}, badProp("envelope", "HOLDFOR is a number of seconds")
		}
		until = now.Add(time.Duration(n) * time.Second)
	case hasUntil && untilV != nil:
		t, err := time.Parse(time.RFC3339, *untilV)
		if err != nil {
			return time.Time{}, badProp("envelope", "HOLDUNTIL is an RFC 3339 date-time")
		}
		until = t
	case hasUntil:
		return time.Time{}, badProp("envelope", "HOLDUNTIL needs a date-time")
	default:
		return time.Time{}, nil
	}
	max := c.s.Submission.maxDelayedSend()
	if max <= 0 {
		return time.Time{}, badProp("envelope", "this server does not hold messages (maxDelayedSend is 0)")
	}
	if until.Sub(now) > max {
		return time.Time{}, badProp("envelope", "the hold is longer than maxDelayedSend (%d s)", int(max/time.Second))
	}
	if !until.After(now) {
		return time.Time{}, nil
	}
	return until, nil
}

// submit queues one email and records the submission.
func (c *call) submit(raw json.RawMessage) (directory.Submission, *setError) {
	var p submissionCreate
	if serr := decodeProps(raw, &p, "id", "threadId", "sendAt", "undoStatus", "deliveryStatus", "dsnBlobIds", "mdnBlobIds"); serr != nil {
		return directory.Submission{}, serr
	}
	if p.IdentityID != identityID(c) {
		return directory.Submission{}, badProp("identityId", "no identity %q", p.IdentityID)
	}
	now := time.Now()
	hold, serr := c.holdOf(p.Envelope, now)
	if serr != nil {
		return directory.Submission{}, serr
	}
	x, err := c.index()
	if err != nil {
		return directory.Submission{}, setErr("serverFail", "%v", err)
	}
	eid, _ := c.resolveID(p.EmailID)
	e := x.emails[parseID('E', eid)]
	if e == nil {
		return directory.Submission{}, badProp("emailId", "no email %q", p.EmailID)
	}
	meta, err := c.metaOf(e)
	if err != nil {
		return directory.Submission{}, setErr("serverFail", "reading the email failed")
	}
	// As over SMTP submission, the sender is the logged-in account.
	self := c.ss.acct.Address
	from := meta.Envelope.From
	if len(from) != 1 || !strings.EqualFold(from[0].Local+"@"+from[0].Host, self) {
		return directory.Submission{}, setErr("forbiddenFrom", "the From address must be %s", self)
	}
	var rcpts []string
	if p.Envelope != nil {
		if !strings.EqualFold(p.Envelope.MailFrom.Email, self) {
			return directory.Submission{}, setErr("forbiddenMailFrom", "the envelope sender must be %s", self)
		}
		for _, r := range p.Envelope.RcptTo {
			rcpts = append(rcpts, r.Email)
		}
	} else {
		env := meta.Envelope
		for _, l := range [][]message.Address{env.To, env.Cc, env.Bcc} {
			for _, a := range l {
				if a.Group == message.Mailbox {
					rcpts = append(rcpts, a.Local+"@"+a.Host)
				}
			}
		}
	}
	if len(rcpts) == 0 {
		return directory.Submission{}, setErr("noRecipients", "the email has no recipients")
	}
	data, err := c.blobs.Get(c.ctx, e.blob)
	if err != nil {
		return directory.Submission{}, setErr("serverFail", "reading the email failed")
	}
	data = stripBcc(data, meta.Structure.BodyStart)
	var local, remote []spool.Recipient
	var invalid []string
	for _, to := range rcpts {
		if _, err := mail.ParseAddress(to); err != nil {
			invalid = append(invalid, to)
			continue
		}
		rs, err := c.s.Submission.Directory.Resolve(c.ctx, to)
		switch {
		case errors.Is(err, directory.ErrNotLocal):
			remote = append(remote, spool.Recipient{Address: to})
		case errors.Is(err, directory.ErrNoSuchUser), errors.Is(err, directory.ErrInvalid):
			invalid = append(invalid, to)
		case err != nil || len(rs) == 0:
			return directory.Submission{}, setErr("serverFail", "resolving recipients failed; try again")
		default:
			for _, r := range rs {
				local = append(local, spool.Recipient{Address: to, Account: int64(r.Account.ID), Tag: r.Tag, Cell: r.Account.Cell, Forward: r.Forward})
			}
		}
	}
	if len(invalid) > 0 {
		return directory.Submission{}, &setError{Type: "invalidRecipients", Description: "no such recipients: " + strings.Join(invalid, ", ")}
	}
	if rate := c.s.Submission.SendRate; rate != nil {
		for range remote {
			if !rate.Allow(self) {
				if c.s.Refused != nil {
					c.s.Refused("send_rate")
				}
				return directory.Submission{}, setErr("forbiddenToSend", "the account's sending limit is reached; try again later")
			}
		}
	}
	sub := directory.Submission{ID: "S" + randomID(), IdentityID: p.IdentityID, EmailID: emailID(e.id), ThreadID: threadID(e.thread),
		SendAt: now, UndoStatus: directory.UndoFinal}
	if !hold.IsZero() {
		sub.SendAt, sub.UndoStatus = hold, directory.UndoPending
	}
	recs := c.s.Submission.Records
	var ref *spool.SubmissionRef
	stored := false // the record is in the directory
	if recs != nil {
		// The entries name the record, whose deliveryStatus their loops
		// keep (deliverystatus.go); outcomes that come before the
		// record is stored are held until it is.
		ref = &spool.SubmissionRef{Account: int64(c.acct), ID: sub.ID}
		sub.DeliveryStatus = map[string]directory.DeliveryStatus{}
		for _, to := range rcpts {
			sub.DeliveryStatus[to] = directory.DeliveryStatus{Delivered: directory.DeliveredQueued, SMTPReply: statusQueued}
		}
		id := sub.ID
		c.s.early.begin(id)
		defer c.s.early.end(id, func(m map[string]directory.DeliveryStatus) {
			if stored {
				c.s.setDeliveryStatus(c.acct, id, m)
			}
		})
	}
	for _, q := range []struct {
		name  string
		to    Enqueuer
		rcpts []spool.Recipient
	}{{queueSpool, c.s.Submission.Spool, local}, {queueOutbound, c.s.Submission.Outbound, remote}} {
		if len(q.rcpts) == 0 {
			continue
		}
		env := spool.Envelope{From: self, Recipients: q.rcpts, Received: now, Auth: self, HoldUntil: hold, Submission: ref}
		id, err := q.to.Enqueue(c.ctx, env, data)
		if err != nil {
			c.s.logger().Warn("jmap: queueing a submission", "err", err, "account", c.acct)
			c.takeBack(sub)
			return directory.Submission{}, setErr("serverFail", "queueing the email failed; try again")
		}
		entry := q.name + "/" + id
		if n := c.s.Submission.node(); n != "" {
			entry += "@" + n
		}
		sub.Queued = append(sub.Queued, entry)
	}
	if p.Envelope != nil {
		sub.Envelope, _ = json.Marshal(p.Envelope)
	}
	if recs != nil {
		rec, err := recs.AddSubmission(c.ctx, c.acct, sub)
		if err != nil {
			c.s.logger().Warn("jmap: recording a submission", "err", err, "account", c.acct, "queued", sub.Queued)
			if sub.UndoStatus == directory.UndoPending {
				// Without its record a held message could not be
				// canceled: take it back and let the client retry.
				c.takeBack(sub)
				return directory.Submission{}, setErr("serverFail", "recording the submission failed; try again")
			}
			// Sent already: failing would make the client send it again.
		} else {
			sub, stored = rec, true
		}
	}
	c.s.logger().Info("jmap: email submitted", "account", c.acct, "rcpts", len(rcpts), "queued", sub.Queued, "sendAt", sub.SendAt)
	return sub, nil
}

// takeBack unsends the held queue entries of a submission that failed
// half-way; entries not held have left and stay sent.
func (c *call) takeBack(sub directory.Submission) {
	if sub.UndoStatus != directory.UndoPending {
		return
	}
	for _, q := range sub.Queued {
		if err := c.unsendEntry(q); err != nil {
			c.s.logger().Error("jmap: taking back a held submission failed; it will be sent", "err", err, "entry", q, "account", c.acct)
		}
	}
}

// unsendEntry takes one held queue entry back: "queue/id", with
// "@node" in a cluster.
func (c *call) unsendEntry(q string) error {
	q, node, _ := strings.Cut(q, "@")
	if node != c.s.Submission.node() {
		return fmt.Errorf("%w %s", errOtherNode, node)
	}
	name, id, _ := strings.Cut(q, "/")
	u := c.s.Submission.SpoolHold
	if name == queueOutbound {
		u = c.s.Submission.OutboundHold
	}
	if u == nil {
		return spool.ErrReleased
	}
	return u.Unsend(c.ctx, id)
}

// unsend applies an update, which may only cancel a pending submission
// (RFC 8621 section 7.5): its queue entries are taken back durably first,
// then its record says canceled. A crash between the two leaves the
// record pending and the entries gone; canceling again finds them gone
// (spool.ErrNotFound) from this node's queues and finishes. Entries of
// another node are never taken for gone: that node still holds them.
func (c *call) unsend(id string, patch json.RawMessage) *setError {
	var p map[string]json.RawMessage
	if err := json.Unmarshal(patch, &p); err != nil {
		return setErr("invalidPatch", "not an object")
	}
	for k, v := range p {
		if k != "undoStatus" || string(v) != `"canceled"` {
			return &setError{Type: "invalidProperties", Description: "only undoStatus may be set, to canceled", Properties: []string{k}}
		}
	}
	sub, serr := c.submissionByID(id)
	if serr != nil {
		return serr
	}
	switch sub.UndoStatus {
	case directory.UndoCanceled:
		return nil
	case directory.UndoFinal:
		return setErr("cannotUnsend", "the email has been sent")
	}
	for _, q := range sub.Queued {
		err := c.unsendEntry(q)
		switch {
		case err == nil, errors.Is(err, spool.ErrNotFound):
		case errors.Is(err, spool.ErrReleased):
			return setErr("cannotUnsend", "the email is leaving now")
		case errors.Is(err, errOtherNode):
			return setErr("cannotUnsend", "the email is %v of the cluster; cancel it through that node", err)
		default:
			c.s.logger().Warn("jmap: unsending", "err", err, "entry", q, "account", c.acct)
			return setErr("serverFail", "taking the email back failed; try again")
		}
	}
	err := c.s.Submission.Records.SetUndoStatus(c.ctx, c.acct, id, directory.UndoPending, directory.UndoCanceled)
	if err != nil {
		c.s.logger().Warn("jmap: recording a cancel", "err", err, "account", c.acct, "submission", id)
		return setErr("serverFail", "the email was taken back, recording it failed; cancel again")
	}
	c.s.logger().Info("jmap: submission canceled", "account", c.acct, "submission", id)
	return nil
}

// destroySubmission forgets a submission that is not pending (RFC 8621
// section 7.5 lets the server refuse to destroy one that may still be
// canceled: its record is what a cancel needs).
// It returns the submission's email, for onSuccessUpdateEmail.
func (c *call) destroySubmission(id string) (string, *setError) {
	sub, serr := c.submissionByID(id)
	if serr != nil {
		return "", serr
	}
	if sub.UndoStatus == directory.UndoPending {
		return "", setErr("forbidden", "the submission is pending; cancel it first or wait until it is sent")
	}
	if err := c.s.Submission.Records.DestroySubmission(c.ctx, c.acct, id); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return "", setErr("notFound", "no submission %q", id)
		}
		return "", setErr("serverFail", "destroying the submission failed; try again")
	}
	return sub.EmailID, nil
}

// stripBcc removes the Bcc field from the message header (RFC 5322
// section 3.6.3: recipients must not see the blind copies).
func stripBcc(data []byte, bodyStart int64) []byte {
	if bodyStart <= 0 || bodyStart > int64(len(data)) {
		return data
	}
	var out bytes.Buffer
	header := data[:bodyStart]
	skipping := false
	for len(header) > 0 {
		line := header
		if i := bytes.IndexByte(header, '\n'); i >= 0 {
			line = header[:i+1]
		}
		header = header[len(line):]
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if !skipping {
				out.Write(line)
			}
			continue
		}
		skipping = len(line) >= 4 && strings.EqualFold(string(line[:4]), "bcc:")
		if !skipping {
			out.Write(line)
		}
	}
	out.Write(data[bodyStart:])
	return out.Bytes()
}

// identityID is the id of the account's one identity.
func identityID(c *call) string { return "I" + strings.TrimPrefix(accountID(c.acct), "A") }
