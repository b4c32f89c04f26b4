package main

import (
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"casella/internal/dkim"
	"casella/internal/server"
)

func (c *cli) dkimGenerate(args []string) error {
	fs, g := c.newFlags("dkim generate", "DOMAIN",
		"Make an RSA-2048 and an Ed25519 DKIM key for DOMAIN and print the DNS records to publish.\n"+
			"Mail from DOMAIN is signed with its newest key of each kind from the next message on.\n"+
			"To rotate, generate under a new selector, publish the new records, and remove the old\n"+
			"key files from DATA/dkim/DOMAIN a few days later.",
		"casella dkim generate example.com",
		"casella dkim generate --selector mail2027 example.com")
	prefix := fs.String("selector", "casella"+time.Now().Format("20060102"), "selector `prefix`; the keys get PREFIX-rsa and PREFIX-ed25519")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	keys, err := dkim.Open(filepath.Join(cfg.DataDir, server.DKIMDir)).Generate(pos[0], *prefix)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Publish these records, then mail from %s is signed with both keys:\n\n", keys[0].Domain)
	for _, k := range keys {
		fmt.Fprintln(c.stdout, k.ZoneLine())
	}
	return nil
}

func (c *cli) dkimList(args []string) error {
	fs, g := c.newFlags("dkim list", "[DOMAIN]",
		"List DKIM keys with the DNS record each needs; the newest of each kind signs.",
		"casella dkim list", "casella dkim list example.com")
	pos, err := c.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	domain := ""
	if len(pos) == 1 {
		domain = pos[0]
	}
	keys, err := dkim.Open(filepath.Join(cfg.DataDir, server.DKIMDir)).Keys(domain)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tSELECTOR\tALGORITHM\tCREATED\tSIGNS")
	signs := map[string]bool{}
	for _, k := range keys {
		active := !signs[k.Domain+" "+k.Algorithm]
		signs[k.Domain+" "+k.Algorithm] = true
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", k.Domain, k.Selector, k.Algorithm, k.Created.Format("2006-01-02"), active)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(keys) > 0 {
		fmt.Fprintln(c.stdout, "\nDNS records:")
	}
	for _, k := range keys {
		fmt.Fprintln(c.stdout, k.ZoneLine())
	}
	return nil
}
