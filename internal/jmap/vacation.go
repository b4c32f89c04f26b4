package jmap

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"casella/internal/directory"
	"casella/internal/sieve"
)

// capVacation is VacationResponse (RFC 8621 section 8).
const capVacation = "urn:ietf:params:jmap:vacationresponse"

// The VacationResponse is a Sieve script, directory.VacationScript,
// generated from it and run by the delivery before the active script
// (docs/sieve.md). The object itself rides in the script's first line, so
// that /get returns what /set stored; a script edited over ManageSieve,
// or an active script with a vacation of its own, shows as far as its
// vacation's subject and text go.
const vacationMarker = "# casella-vacation-response: "

// vacation is the VacationResponse singleton.
type vacation struct {
	ID        string     `json:"id"`
	IsEnabled bool       `json:"isEnabled"`
	FromDate  *time.Time `json:"fromDate"`
	ToDate    *time.Time `json:"toDate"`
	Subject   *string    `json:"subject"`
	TextBody  *string    `json:"textBody"`
	HTMLBody  *string    `json:"htmlBody"`
}

var errNoScripts = errors.New("this server keeps no Sieve scripts")

// loadVacation returns the response and its state, a digest of the
// scripts it was read from.
func (c *call) loadVacation() (vacation, string, error) {
	v := vacation{ID: "singleton"}
	if c.s.Sieve == nil {
		return v, "", errNoScripts
	}
	_, src, err := c.s.Sieve.SieveScript(c.ctx, c.acct, directory.VacationScript)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		// No response set over JMAP: the active script's own vacation,
		// if it has one, is what answers.
		name, active, err := c.s.Sieve.ActiveSieveScript(c.ctx, c.acct)
		if err != nil && !errors.Is(err, directory.ErrNotFound) {
			return v, "", fmt.Errorf("reading the active sieve script: %w", err)
		}
		if err == nil {
			src = name + "\x00" + active
			if s, err := sieve.Compile(active); err == nil {
				v = vacationOf(s)
			}
		}
	case err != nil:
		return v, "", fmt.Errorf("reading the vacation response's script: %w", err)
	default:
		v = parseVacationScript(src)
	}
	sum := sha256.Sum256([]byte(src))
	return v, hex.EncodeToString(sum[:8]), nil
}

// vacationOf shows a script's first vacation as a response.
func vacationOf(s *sieve.Script) vacation {
	v := vacation{ID: "singleton"}
	subject, reason, ok := s.VacationText()
	if !ok {
		return v
	}
	v.IsEnabled, v.TextBody = true, &reason
	if subject != "" {
		v.Subject = &subject
	}
	return v
}

// parseVacationScript reads the response back from its script: from the
// first line when the script is still the one generated from it, else
// from the script's vacation.
func parseVacationScript(src string) vacation {
	if line, _, ok := strings.Cut(src, "\n"); ok {
		if js, ok := strings.CutPrefix(line, vacationMarker); ok {
			var v vacation
			if json.Unmarshal([]byte(js), &v) == nil && vacationScript(v) == src {
				v.ID = "singleton"
				return v
			}
		}
	}
	s, err := sieve.Compile(src)
	if err != nil {
		return vacation{ID: "singleton"}
	}
	return vacationOf(s)
}

// vacationScript generates the script of a response: a vacation action
// (RFC 5230) between fromDate and toDate, tested on the delivery time in
// UTC (RFC 5260 section 5), with the HTML body as a MIME reply.
func vacationScript(v vacation) string {
	v.ID = "singleton"
	js, _ := json.Marshal(v)
	var b strings.Builder
	b.WriteString(vacationMarker + string(js) + "\n")
	b.WriteString("# Generated from the JMAP VacationResponse; setting that again replaces this script.\n")
	if !v.IsEnabled {
		return b.String()
	}
	b.WriteString(`require ["vacation", "date", "relational"];` + "\n")
	var conds []string
	if v.FromDate != nil {
		conds = append(conds, `currentdate :zone "+0000" :value "ge" "iso8601" `+sieveQuote(v.FromDate.UTC().Format("2006-01-02T15:04:05-07:00")))
	}
	if v.ToDate != nil {
		conds = append(conds, `currentdate :zone "+0000" :value "lt" "iso8601" `+sieveQuote(v.ToDate.UTC().Format("2006-01-02T15:04:05-07:00")))
	}
	action := "vacation"
	if v.Subject != nil && *v.Subject != "" {
		action += " :subject " + sieveQuote(*v.Subject)
	}
	text := ""
	if v.TextBody != nil {
		text = *v.TextBody
	}
	if v.HTMLBody != nil {
		// RFC 5230 section 4.4: the reason is a MIME entity.
		const boundary = "casella-vacation-alternative"
		action += " :mime " + sieveQuote("Content-Type: multipart/alternative; boundary=\""+boundary+"\"\r\n\r\n"+
			"--"+boundary+"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"+text+"\r\n"+
			"--"+boundary+"\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"+*v.HTMLBody+"\r\n"+
			"--"+boundary+"--\r\n")
	} else {
		action += " " + sieveQuote(text)
	}
	switch len(conds) {
	case 0:
		b.WriteString(action + ";\n")
	default:
		b.WriteString("if allof(" + strings.Join(conds, ", ") + ") {\n\t" + action + ";\n}\n")
	}
	return b.String()
}

// sieveQuote writes s as a Sieve quoted string (RFC 5228 section 2.4.2).
func sieveQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// vacationProps are VacationResponse's properties (RFC 8621 section 8).
var vacationProps = []string{"id", "isEnabled", "fromDate", "toDate", "subject", "textBody", "htmlBody"}

func (c *call) vacationGet(raw json.RawMessage) (any, error) {
	return c.singletonGet(raw, vacationProps, func() (any, string, error) { return c.loadVacation() })
}

// vacationSet is VacationResponse/set: only the singleton, only updated.
// The update writes the response's script.
func (c *call) vacationSet(raw json.RawMessage) (any, error) {
	var v vacation
	load := func() (state string, err error) {
		v, state, err = c.loadVacation()
		return state, err
	}
	return c.singletonSet(raw, "VacationResponse", load, func(patch json.RawMessage) (*setError, error) {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(patch, &fields); err != nil {
			return setErr("invalidPatch", "a patch is an object"), nil
		}
		if _, ok := fields["id"]; ok {
			return &setError{Type: "invalidProperties", Description: "id cannot be set", Properties: []string{"id"}}, nil
		}
		merged, _ := json.Marshal(v)
		var all map[string]json.RawMessage
		json.Unmarshal(merged, &all)
		for k, val := range fields {
			all[k] = val
		}
		b, _ := json.Marshal(all)
		var nv vacation
		if err := decodeArgs(b, &nv); err != nil {
			return setErr("invalidProperties", "%v", err), nil
		}
		src := vacationScript(nv)
		if _, err := sieve.Compile(src); err != nil {
			return nil, fmt.Errorf("the generated vacation script does not compile: %w", err)
		}
		if err := c.s.Sieve.PutSieveScript(c.ctx, c.acct, directory.VacationScript, src); err != nil {
			return nil, fmt.Errorf("storing the vacation response: %w", err)
		}
		return nil, nil
	})
}
