package jmap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/mail"
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

// Submission is what EmailSubmission needs: local recipients go to the
// intake spool, remote ones to the outbound queue, as mail submitted over
// SMTP does.
type Submission struct {
	Directory Resolver
	Spool     Enqueuer
	Outbound  Enqueuer
	// SendRate, when set, is the account's budget of remote recipients,
	// shared with SMTP submission.
	SendRate *limit.Rate
}

// submissionCreate is the part of an EmailSubmission a client sets
// (RFC 8621 section 7).
type submissionCreate struct {
	IdentityID string `json:"identityId"`
	EmailID    string `json:"emailId"`
	Envelope   *struct {
		MailFrom struct {
			Email string `json:"email"`
		} `json:"mailFrom"`
		RcptTo []struct {
			Email string `json:"email"`
		} `json:"rcptTo"`
	} `json:"envelope"`
}

// emailSubmissionSet is EmailSubmission/set (RFC 8621 section 7.5):
// creating one sends the email at once, so undoStatus is final; updates
// and destroys of sent submissions are refused. onSuccessUpdateEmail and
// onSuccessDestroyEmail run as an implicit Email/set.
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
	r, err := c.beginSet(&a.setArgs)
	if err != nil {
		return nil, err
	}
	emailOf := map[string]string{} // submission id -> email id
	for cid, props := range a.Create {
		id, emailID, serr := c.submit(props)
		if serr != nil {
			r.NotCreated[cid] = serr
			continue
		}
		c.created[cid] = id
		emailOf["#"+cid] = emailID
		r.Created[cid] = map[string]any{"id": id, "undoStatus": "final", "sendAt": utcDate(time.Now()), "deliveryStatus": nil, "dsnBlobIds": []string{}, "mdnBlobIds": []string{}}
	}
	for id := range a.Update {
		r.NotUpdated[id] = setErr("cannotUnsend", "the email has been sent")
	}
	for _, id := range a.Destroy {
		r.NotDestroyed[id] = setErr("notFound", "sent submissions are not kept")
	}
	res, err := c.endSet(r)
	if err != nil {
		return nil, err
	}
	// The implicit Email/set (section 7.5) names submissions by their
	// creation id; it acts only on those created now.
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
	return res, nil
}

// submit sends one email; it returns the submission's id and the email's.
func (c *call) submit(raw json.RawMessage) (string, string, *setError) {
	var p submissionCreate
	if serr := decodeProps(raw, &p, "id", "threadId", "sendAt", "undoStatus", "deliveryStatus", "dsnBlobIds", "mdnBlobIds"); serr != nil {
		return "", "", serr
	}
	if p.IdentityID != identityID(c) {
		return "", "", badProp("identityId", "no identity %q", p.IdentityID)
	}
	x, err := c.index()
	if err != nil {
		return "", "", setErr("serverFail", "%v", err)
	}
	eid, _ := c.resolveID(p.EmailID)
	e := x.emails[parseID('E', eid)]
	if e == nil {
		return "", "", badProp("emailId", "no email %q", p.EmailID)
	}
	meta, err := c.metaOf(e)
	if err != nil {
		return "", "", setErr("serverFail", "reading the email failed")
	}
	// As over SMTP submission, the sender is the logged-in account.
	self := c.ss.acct.Address
	from := meta.Envelope.From
	if len(from) != 1 || !strings.EqualFold(from[0].Local+"@"+from[0].Host, self) {
		return "", "", setErr("forbiddenFrom", "the From address must be %s", self)
	}
	var rcpts []string
	if p.Envelope != nil {
		if !strings.EqualFold(p.Envelope.MailFrom.Email, self) {
			return "", "", setErr("forbiddenMailFrom", "the envelope sender must be %s", self)
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
		return "", "", setErr("noRecipients", "the email has no recipients")
	}
	data, err := c.blobs.Get(c.ctx, e.blob)
	if err != nil {
		return "", "", setErr("serverFail", "reading the email failed")
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
			return "", "", setErr("serverFail", "resolving recipients failed; try again")
		default:
			for _, r := range rs {
				local = append(local, spool.Recipient{Address: to, Account: int64(r.Account.ID), Tag: r.Tag, Cell: r.Account.Cell})
			}
		}
	}
	if len(invalid) > 0 {
		return "", "", &setError{Type: "invalidRecipients", Description: "no such recipients: " + strings.Join(invalid, ", ")}
	}
	if rate := c.s.Submission.SendRate; rate != nil {
		for range remote {
			if !rate.Allow(self) {
				if c.s.Refused != nil {
					c.s.Refused("send_rate")
				}
				return "", "", setErr("forbiddenToSend", "the account's sending limit is reached; try again later")
			}
		}
	}
	var ids []string
	for _, q := range []struct {
		to    Enqueuer
		rcpts []spool.Recipient
	}{{c.s.Submission.Spool, local}, {c.s.Submission.Outbound, remote}} {
		if len(q.rcpts) == 0 {
			continue
		}
		env := spool.Envelope{From: self, Recipients: q.rcpts, Received: time.Now(), Auth: self}
		id, err := q.to.Enqueue(c.ctx, env, data)
		if err != nil {
			c.s.logger().Warn("jmap: queueing a submission", "err", err, "account", c.acct)
			return "", "", setErr("serverFail", "queueing the email failed; try again")
		}
		ids = append(ids, id)
	}
	c.s.logger().Info("jmap: email submitted", "account", c.acct, "rcpts", len(rcpts), "ids", ids)
	return "S" + strings.Join(ids, "-"), emailID(e.id), nil
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
