package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

func (c *cli) aliasAdd(args []string) error {
	fs, g := c.newFlags("alias add", "ALIAS TARGET...",
		"Add an address whose mail goes to one or more targets: accounts, not other aliases,\n"+
			"or addresses outside the local domains, to which the mail is forwarded\n"+
			"SRS-rewritten, DKIM-signed and ARC-sealed (docs/mailauth.md).",
		"casella alias add info@example.com alice@example.com bob@example.com",
		"casella alias add old@example.com alice@elsewhere.example")
	pos, err := c.parse(fs, args, 2, -1)
	if err != nil {
		return err
	}
	e, err := g.openData()
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.Directory.AddAlias(c.ctx, pos[0], pos[1:]); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "added alias %s -> %s\n", pos[0], strings.Join(pos[1:], ", "))
	return nil
}

func (c *cli) aliasList(args []string) error {
	fs, g := c.newFlags("alias list", "[DOMAIN]", "List the aliases of a domain, or of all domains.",
		"casella alias list", "casella alias list example.com")
	pos, e, err := c.parseOpen(fs, g, args, 0, 1)
	if err != nil {
		return err
	}
	defer e.Close()
	l, err := e.Directory.Aliases(c.ctx, optionalArg(pos))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ALIAS\tTARGETS")
	for _, a := range l {
		fmt.Fprintf(tw, "%s\t%s\n", a.Address, strings.Join(a.Targets, ", "))
	}
	return tw.Flush()
}

func (c *cli) aliasRemove(args []string) error {
	fs, g := c.newFlags("alias remove", "ALIAS", "Remove an alias. The accounts it pointed to stay.",
		"casella alias remove info@example.com")
	pos, e, err := c.parseOpen(fs, g, args, 1, 1)
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.Directory.RemoveAlias(c.ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "removed alias %s\n", pos[0])
	return nil
}
