package main

import (
	"fmt"
	"text/tabwriter"
)

func (c *cli) domainAdd(args []string) error {
	fs, g := c.newFlags("domain add", "DOMAIN", "Add a domain whose mail this server receives.",
		"casella domain add example.com")
	pos, e, err := c.parseOpen(fs, g, args, 1, 1)
	if err != nil {
		return err
	}
	defer e.Close()
	d, err := e.Directory.AddDomain(c.ctx, pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "added domain %s\n", d.Name)
	return nil
}

func (c *cli) domainList(args []string) error {
	fs, g := c.newFlags("domain list", "", "List the local domains with their catch-all accounts.",
		"casella domain list")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	e, err := g.openData()
	if err != nil {
		return err
	}
	defer e.Close()
	l, err := e.Directory.Domains(c.ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tCATCH-ALL\tCREATED")
	for _, d := range l {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Name, orDash(d.CatchAll), d.Created.Format("2006-01-02"))
	}
	return tw.Flush()
}

func (c *cli) domainRemove(args []string) error {
	fs, g := c.newFlags("domain remove", "DOMAIN",
		"Remove a domain. It must have no accounts or aliases left: remove them first.",
		"casella domain remove example.com")
	pos, e, err := c.parseOpen(fs, g, args, 1, 1)
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.Directory.RemoveDomain(c.ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "removed domain %s\n", pos[0])
	return nil
}

func (c *cli) domainCatchAll(args []string) error {
	fs, g := c.newFlags("domain catchall", "DOMAIN [ACCOUNT]",
		"Send mail for unknown addresses of DOMAIN to ACCOUNT, or with --off stop doing so.\n"+
			"ACCOUNT may be in any local domain. Catch-alls attract spam; prefer aliases.",
		"casella domain catchall example.com postmaster@example.com",
		"casella domain catchall --off example.com")
	off := fs.Bool("off", false, "remove the domain's catch-all")
	pos, err := c.parse(fs, args, 1, 2)
	if err != nil {
		return err
	}
	if *off == (len(pos) == 2) {
		return usagef("domain catchall: give either an ACCOUNT or --off; run \"casella domain catchall --help\"")
	}
	e, err := g.openData()
	if err != nil {
		return err
	}
	defer e.Close()
	account := ""
	if !*off {
		account = pos[1]
	}
	if err := e.Directory.SetCatchAll(c.ctx, pos[0], account); err != nil {
		return err
	}
	if *off {
		fmt.Fprintf(c.stdout, "removed the catch-all of %s\n", pos[0])
	} else {
		fmt.Fprintf(c.stdout, "mail for unknown addresses of %s goes to %s\n", pos[0], account)
	}
	return nil
}

// orDash returns s, or "-" when it is empty, so columns stay aligned.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
