package main

import (
	"crypto/x509"
	"fmt"
	"text/tabwriter"
	"time"

	"casella/internal/server"
	"casella/internal/tlsconf"
)

func (c *cli) certStatus(args []string) error {
	fs, g := c.newFlags("cert status", "",
		"List the names [acme] gets certificates for, with the certificate each has: its issuer,\n"+
			"when it expires and from when it is renewed (a third of its life before). A name without\n"+
			"one is served the [tls] certificate, self-signed by default; the server's log says why\n"+
			"a name failed, and it retries with backoff.",
		"casella cert status")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	e, err := g.openData()
	if err != nil {
		return err
	}
	defer e.Close()
	if !e.Config.ACME.Enabled {
		fmt.Fprintln(c.stdout, "ACME is off: every name gets the [tls] certificate. Set [acme] enabled = true to obtain certificates.")
	}
	names, err := server.ACMENames(c.ctx, e.Config, e.Directory)
	if err != nil {
		return err
	}
	cache, err := server.ACMECache(e.Config, e.Directory)
	if err != nil {
		return err
	}
	kept := map[string]*x509.Certificate{}
	for _, n := range names {
		cert, err := tlsconf.Kept(c.ctx, cache, n)
		if err != nil {
			return err
		}
		if cert != nil {
			kept[n] = cert.Leaf
		}
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tISSUER\tEXPIRES\tRENEWS FROM")
	for _, n := range names {
		leaf := kept[n]
		if leaf == nil {
			fmt.Fprintf(tw, "%s\t-\tnone yet: the [tls] certificate is served\t-\n", n)
			continue
		}
		left := time.Until(leaf.NotAfter).Round(time.Hour)
		fmt.Fprintf(tw, "%s\t%s\t%s (in %s)\t%s\n", n, leaf.Issuer.CommonName,
			leaf.NotAfter.UTC().Format(time.RFC3339), left, tlsconf.RenewAt(leaf).UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}
