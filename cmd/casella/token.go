package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"casella/internal/directory"
)

// tokens returns the directory's app passwords, or an error saying that
// it keeps none.
func (e *env) tokens() (directory.Tokens, error) {
	t, ok := e.Directory.(directory.Tokens)
	if !ok {
		return nil, errors.New("this directory keeps no app passwords")
	}
	return t, nil
}

// accountTokens returns the directory's app passwords and the account
// with the given address.
func (e *env) accountTokens(ctx context.Context, address string) (directory.Tokens, directory.Account, error) {
	tk, err := e.tokens()
	if err != nil {
		return nil, directory.Account{}, err
	}
	a, err := e.Directory.Account(ctx, address)
	return tk, a, err
}

// parseExpiry reads --expires: a duration from now ("90d", "12h") or a
// date ("2027-01-31", or RFC 3339 with a time).
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 && n <= 100*366 {
			return now.AddDate(0, 0, n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(d), nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef("invalid --expires %q; write a duration like 90d or 12h, or a date like 2027-01-31", s)
}

func (c *cli) accountTokenAdd(args []string) error {
	fs, g := c.newFlags("account token add", "ADDRESS",
		"Make an app password for an account: a token that logs in to it in place of its\n"+
			"password, as \"Authorization: Bearer\" over JMAP and as the password over IMAP,\n"+
			"POP3, SMTP submission and ManageSieve. The token is printed once; only its hash\n"+
			"is stored. Give each device its own, and revoke it alone when the device is lost.",
		"casella account token add --name phone alice@example.com",
		"casella account token add --name backup --expires 90d alice@example.com")
	name := fs.String("name", "", "a `label` for the token, unique in the account; default: its id")
	expires := fs.String("expires", "", "when the token stops working: a `duration` like 90d or 12h, or a date like 2027-01-31; default: never")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	exp, err := parseExpiry(*expires, time.Now())
	if err != nil {
		return err
	}
	e, err := g.openData()
	if err != nil {
		return err
	}
	defer e.Close()
	tk, a, err := e.accountTokens(c.ctx, pos[0])
	if err != nil {
		return err
	}
	t, secret, err := tk.AddToken(c.ctx, a.ID, *name, exp)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "added token %s (id %s) for %s", t.Name, t.ID, a.Address)
	if !t.Expires.IsZero() {
		fmt.Fprintf(c.stdout, ", expires %s", t.Expires.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(c.stdout, "\ntoken: %s\n(shown only this once)\n", secret)
	return nil
}

func (c *cli) accountTokenList(args []string) error {
	fs, g := c.newFlags("account token list", "ADDRESS",
		"List an account's app passwords: name, id, created, last used and expiry. The\n"+
			"tokens themselves are never shown: only their hashes are stored.",
		"casella account token list alice@example.com")
	pos, e, err := c.parseOpen(fs, g, args, 1, 1)
	if err != nil {
		return err
	}
	defer e.Close()
	tk, a, err := e.accountTokens(c.ctx, pos[0])
	if err != nil {
		return err
	}
	l, err := tk.Tokens(c.ctx, a.ID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tCREATED\tLAST USED\tEXPIRES")
	when := func(t time.Time, none string) string {
		if t.IsZero() {
			return none
		}
		return t.UTC().Format("2006-01-02 15:04")
	}
	for _, t := range l {
		exp := when(t.Expires, "never")
		if !t.Expires.IsZero() && !t.Expires.After(time.Now()) {
			exp += " (expired)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.ID, when(t.Created, ""), when(t.LastUsed, "never"), exp)
	}
	return tw.Flush()
}

func (c *cli) accountTokenRevoke(args []string) error {
	fs, g := c.newFlags("account token revoke", "ADDRESS NAME-OR-ID",
		"Revoke an app password. No node caches tokens: the next login with it fails,\n"+
			"on every node. Sessions already logged in with it run until they end.",
		"casella account token revoke alice@example.com phone")
	pos, e, err := c.parseOpen(fs, g, args, 2, 2)
	if err != nil {
		return err
	}
	defer e.Close()
	tk, a, err := e.accountTokens(c.ctx, pos[0])
	if err != nil {
		return err
	}
	if err := tk.RevokeToken(c.ctx, a.ID, pos[1]); err != nil {
		return fmt.Errorf("%w; \"casella account token list %s\" shows its tokens", err, a.Address)
	}
	fmt.Fprintf(c.stdout, "revoked token %s of %s\n", pos[1], a.Address)
	return nil
}
