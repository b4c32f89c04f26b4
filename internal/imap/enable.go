package imap

import "strings"

// cmdEnable: RFC 5161. The ENABLED response lists only what this command
// turned on (section 3.2); unknown names are ignored.
func (c *conn) cmdEnable(cmd *command) error {
	// enable = "ENABLE" 1*(SP capability) (RFC 5161 section 4).
	if err := c.p.sp(); err != nil {
		return err
	}
	var names []string
	for {
		name, err := c.p.atom()
		if err != nil {
			return err
		}
		names = append(names, strings.ToUpper(name))
		if ok, err := c.p.take(' '); err != nil {
			return err
		} else if !ok {
			break
		}
	}
	if err := c.p.end(); err != nil {
		return err
	}
	var enabled []string
	for _, name := range names {
		if c.enable(name) {
			if name == "IMAP4REV2" {
				name = "IMAP4rev2" // as CAPABILITY spells it
			}
			enabled = append(enabled, name)
		}
	}
	c.writeLine("* ENABLED%s", strings.Join(append([]string{""}, enabled...), " "))
	return nil
}

// enable turns on one extension and reports whether it was off before.
func (c *conn) enable(name string) bool {
	var flag *bool
	switch name {
	case "CONDSTORE":
		flag = &c.condstore
	case "QRESYNC":
		// QRESYNC implies CONDSTORE (RFC 7162 section 3.2.3).
		c.condstore = true
		flag = &c.qresync
	case "IMAP4REV2":
		// A rev2 client uses UTF-8 mailbox names (RFC 9051 section 5.1)
		// and strings (section 4.3).
		c.utf8 = true
		flag = &c.rev2
	case "UTF8=ACCEPT":
		flag = &c.utf8 // RFC 6855 section 3
	case "UIDONLY":
		flag = &c.uidonly // RFC 9586 section 3.1
	default:
		return false
	}
	was := *flag
	*flag = true
	return !was
}
