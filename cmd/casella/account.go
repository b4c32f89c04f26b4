package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"casella/internal/config"
	"casella/internal/directory"
	"casella/internal/store"
)

// passwordFlags are the ways a command takes a password.
type passwordFlags struct {
	password string
	stdin    bool
}

func addPasswordFlags(fs *flag.FlagSet) *passwordFlags {
	p := &passwordFlags{}
	fs.StringVar(&p.password, "password", "", "the `password` (visible to other local users in the process list; prefer --password-stdin)")
	fs.BoolVar(&p.stdin, "password-stdin", false, "read the password from the first line of standard input")
	return p
}

// get returns the password the flags give, or a generated one.
func (p *passwordFlags) get(c *cli) (pw string, generated bool, err error) {
	switch {
	case p.stdin && p.password != "":
		return "", false, usagef("give --password or --password-stdin, not both")
	case p.stdin:
		line, err := bufio.NewReader(c.stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", false, fmt.Errorf("reading password from standard input: %v; pipe it in, for example: echo 'secret' | casella ...", err)
		}
		pw = strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", false, errors.New("empty password on standard input; give a non-empty line")
		}
		return pw, false, nil
	case p.password != "":
		return p.password, false, nil
	default:
		// 26 characters of base32: 130 bits.
		return rand.Text(), true, nil
	}
}

func (c *cli) accountAdd(args []string) error {
	fs, g := c.newFlags("account add", "ADDRESS",
		"Add an account in a local domain and create its mailboxes. Without --password or\n"+
			"--password-stdin a password is generated and printed once. In a cluster the\n"+
			"account goes to the cell with the fewest accounts, or to the one --cell names.",
		"casella account add alice@example.com",
		"casella account add --cell b --config cluster.toml carol@example.com",
		"casella account add --quota 2GiB --password-stdin bob@example.com < password.txt")
	pf := addPasswordFlags(fs)
	var quota config.Size
	fs.Var(&quota, "quota", "storage `size` limit, like 500MiB or 2GiB; 0 means no limit")
	cellName := fs.String("cell", "", "in a cluster, the `cell` that stores the account; default: the one with the fewest accounts")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if quota < 0 {
		return usagef("account add: --quota must not be negative")
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "cell" })
	if given && *cellName == "" {
		return usagef("account add: --cell needs the name of a cell")
	}
	pw, generated, err := pf.get(c)
	if err != nil {
		return err
	}
	e, err := g.openData()
	if err != nil {
		return err
	}
	defer e.Close()
	cell, err := newAccountCell(c, e, *cellName)
	if err != nil {
		return err
	}
	a, err := e.Directory.AddAccount(c.ctx, pos[0], pw, int64(quota), cell)
	if err != nil {
		return err
	}
	if err := e.Store.EnsureAccount(c.ctx, a.ID); err != nil {
		// Without mailboxes the account is half made: take it back out so
		// that running the command again works.
		if _, rerr := e.Directory.RemoveAccount(c.ctx, a.Address); rerr != nil {
			return fmt.Errorf("creating mailboxes of %s: %w; the account stays in the directory without mailboxes (removing it failed: %v): run \"casella account remove --yes %s\" and add it again", a.Address, err, rerr, a.Address)
		}
		return fmt.Errorf("creating mailboxes of %s: %w; the account was not added, try again", a.Address, err)
	}
	if cell != "" {
		fmt.Fprintf(c.stdout, "added account %s (id %d) in cell %s\n", a.Address, a.ID, cell)
	} else {
		fmt.Fprintf(c.stdout, "added account %s (id %d)\n", a.Address, a.ID)
	}
	if generated {
		fmt.Fprintf(c.stdout, "password: %s\n(shown only this once)\n", pw)
	}
	return nil
}

// newAccountCell returns the cell of a new account: the one given, which
// the configuration must list, or the one with the fewest accounts; ""
// in embedded mode.
func newAccountCell(c *cli, e *env, given string) (string, error) {
	if !e.Config.Cluster() {
		if given != "" {
			return "", usagef("account add: --cell needs a cluster configuration, with [[cell]] sections")
		}
		return "", nil
	}
	if given != "" {
		if e.Store.Cell(given) == nil {
			return "", fmt.Errorf("no cell %q in the configuration; give one of its [[cell]] names", given)
		}
		return given, nil
	}
	counts, err := e.Directory.CellCounts(c.ctx)
	if err != nil {
		return "", fmt.Errorf("counting accounts per cell: %w", err)
	}
	return e.Store.ForNewAccount(counts), nil
}

func (c *cli) accountList(args []string) error {
	fs, g := c.newFlags("account list", "[DOMAIN]", "List the accounts of a domain, or of all domains.",
		"casella account list", "casella account list example.com")
	pos, e, err := c.parseOpen(fs, g, args, 0, 1)
	if err != nil {
		return err
	}
	defer e.Close()
	l, err := e.Directory.Accounts(c.ctx, optionalArg(pos))
	if err != nil {
		return err
	}
	// The CELL column appears once accounts live in cells: embedded
	// mode's listing stays as it was.
	cells := slices.ContainsFunc(l, func(a directory.Account) bool { return a.Cell != "" })
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	if cells {
		fmt.Fprintln(tw, "ADDRESS\tID\tQUOTA\tCELL\tCREATED")
	} else {
		fmt.Fprintln(tw, "ADDRESS\tID\tQUOTA\tCREATED")
	}
	for _, a := range l {
		fmt.Fprintf(tw, "%s\t%d\t%s\t", a.Address, a.ID, quotaString(a.Quota))
		if cells {
			fmt.Fprintf(tw, "%s\t", a.Cell)
		}
		fmt.Fprintf(tw, "%s\n", a.Created.Format("2006-01-02"))
	}
	return tw.Flush()
}

func (c *cli) accountShow(args []string) error {
	fs, g := c.newFlags("account show", "ADDRESS", "Show an account: its id, quota, usage and mailboxes.",
		"casella account show alice@example.com")
	pos, e, err := c.parseOpen(fs, g, args, 1, 1)
	if err != nil {
		return err
	}
	defer e.Close()
	a, err := e.Directory.Account(c.ctx, pos[0])
	if err != nil {
		return err
	}
	u, err := e.Store.Usage(c.ctx, a.ID)
	if err != nil {
		return fmt.Errorf("reading usage of %s: %w", a.Address, err)
	}
	mboxes, err := e.Store.Mailboxes(c.ctx, a.ID)
	if err != nil {
		return fmt.Errorf("reading mailboxes of %s: %w", a.Address, err)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "address:\t%s\n", a.Address)
	fmt.Fprintf(tw, "id:\t%d\n", a.ID)
	fmt.Fprintf(tw, "created:\t%s\n", a.Created.Format("2006-01-02 15:04:05 MST"))
	fmt.Fprintf(tw, "quota:\t%s\n", quotaString(a.Quota))
	fmt.Fprintf(tw, "usage:\t%s in %d messages\n", config.Size(u.Bytes), u.Messages)
	if a.Cell != "" {
		fmt.Fprintf(tw, "cell:\t%s\n", a.Cell)
	}
	l, locked, err := e.Directory.AccountLock(c.ctx, a.Address)
	switch {
	case err != nil:
		fmt.Fprintf(tw, "locked:\tunknown (%v)\n", err)
	case locked:
		fmt.Fprintf(tw, "locked:\tuntil %s after %d failed logins, the last from %s; \"casella account unlock %s\" lifts it\n",
			l.Until.Format("2006-01-02 15:04:05 MST"), l.Failures, l.From, a.Address)
	default:
		fmt.Fprintf(tw, "locked:\tno\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout)
	tw = tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "MAILBOX\tMESSAGES\tUNSEEN\tSIZE")
	for _, m := range mboxes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", m.Name, m.Messages, m.Unseen, config.Size(m.Size))
	}
	return tw.Flush()
}

func (c *cli) accountPasswd(args []string) error {
	fs, g := c.newFlags("account passwd", "ADDRESS",
		"Set an account's password. Without --password or --password-stdin a password is\n"+
			"generated and printed once.",
		"casella account passwd alice@example.com",
		"echo 'new secret' | casella account passwd --password-stdin alice@example.com")
	pf := addPasswordFlags(fs)
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	pw, generated, err := pf.get(c)
	if err != nil {
		return err
	}
	e, err := g.openData()
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.Directory.SetPassword(c.ctx, pos[0], pw); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "password of %s changed\n", pos[0])
	if generated {
		fmt.Fprintf(c.stdout, "password: %s\n(shown only this once)\n", pw)
	}
	return nil
}

func (c *cli) accountQuota(args []string) error {
	fs, g := c.newFlags("account quota", "ADDRESS SIZE",
		"Set an account's storage quota; 0 means no limit. Mail already stored stays.",
		"casella account quota alice@example.com 5GiB")
	pos, err := c.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	quota, err := config.ParseSize(pos[1])
	if err != nil || quota < 0 {
		return usagef("account quota: invalid size %q; write for example 500MiB or 2GiB, or 0 for no limit", pos[1])
	}
	e, err := g.openData()
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.Directory.SetQuota(c.ctx, pos[0], int64(quota)); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "quota of %s set to %s\n", pos[0], quotaString(int64(quota)))
	return nil
}

func (c *cli) accountUnlock(args []string) error {
	fs, g := c.newFlags("account unlock", "ADDRESS",
		"Lift the lock that repeated failed logins put on an account, on every node at once.\n"+
			"The account's owner logging in from a usual address is never locked out; this is for\n"+
			"the other devices. \"casella account show\" tells whether an account is locked.",
		"casella account unlock alice@example.com")
	pos, e, err := c.parseOpen(fs, g, args, 1, 1)
	if err != nil {
		return err
	}
	defer e.Close()
	held, err := e.Directory.UnlockAccount(c.ctx, pos[0])
	if err != nil {
		return err
	}
	if !held {
		fmt.Fprintf(c.stdout, "%s was not locked\n", pos[0])
		return nil
	}
	fmt.Fprintf(c.stdout, "unlocked %s\n", pos[0])
	return nil
}

func (c *cli) accountRemove(args []string) error {
	fs, g := c.newFlags("account remove", "ADDRESS",
		"Remove an account and delete all its mail, irreversibly. The account is also\n"+
			"removed from aliases and catch-alls. Its id is never given out again.",
		"casella account remove --yes alice@example.com")
	yes := fs.Bool("yes", false, "confirm that the account's mail is to be deleted")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if !*yes {
		return usagef("account remove deletes all mail of %s; add --yes to confirm", pos[0])
	}
	e, err := g.openData()
	if err != nil {
		return err
	}
	defer e.Close()
	a, err := e.Directory.Account(c.ctx, pos[0])
	if err != nil {
		return err
	}
	// Mail goes first: if deleting it fails, the account is untouched and
	// the command can simply be run again.
	if err := e.Store.DeleteAccount(c.ctx, a.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("deleting the mail of %s: %w; nothing was removed, try again", a.Address, err)
	}
	if _, err := e.Directory.RemoveAccount(c.ctx, a.Address); err != nil {
		return fmt.Errorf("mail of %s deleted, but removing the account failed: %w; run the command again", a.Address, err)
	}
	fmt.Fprintf(c.stdout, "removed account %s (id %d) and its mail\n", a.Address, a.ID)
	return nil
}

// quotaString formats a quota in bytes.
func quotaString(q int64) string {
	if q == 0 {
		return "unlimited"
	}
	return config.Size(q).String()
}
