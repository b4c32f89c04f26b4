package directory

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on address lengths, in octets. RFC 5321 section 4.5.3.1.1 limits
// a local part to 64 octets; section 4.5.3.1.3 limits a path to 256 octets
// including the angle brackets, which leaves 254 for the address.
const (
	MaxLocalLength   = 64
	MaxAddressLength = 254
	maxDomainLength  = 253 // RFC 1035 section 2.3.4, without the final dot
	maxLabelLength   = 63
)

// Canonical returns the canonical form of an email address: surrounding
// space trimmed, split at the last '@', the domain in canonical form (see
// CanonicalDomain) and the local part lower-cased. Casella treats local
// parts without regard to case, as nearly all providers do, although
// RFC 5321 section 2.4 allows a server to distinguish them.
//
// It returns an error wrapping ErrInvalid for an empty part, a control
// character or malformed UTF-8 in the local part, or an address longer
// than the limits of RFC 5321.
func Canonical(address string) (string, error) {
	address = strings.TrimSpace(address)
	at := strings.LastIndexByte(address, '@')
	if at < 0 {
		return "", fmt.Errorf("address %q: %w: missing @", address, ErrInvalid)
	}
	local, domain := address[:at], address[at+1:]
	if err := checkLocal(local); err != nil {
		return "", fmt.Errorf("address %q: %w", address, err)
	}
	d, err := CanonicalDomain(domain)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", address, err)
	}
	a := strings.ToLower(local) + "@" + d
	if len(a) > MaxAddressLength {
		return "", fmt.Errorf("address %q: %w: longer than %d octets", address, ErrInvalid, MaxAddressLength)
	}
	return a, nil
}

func checkLocal(local string) error {
	switch {
	case local == "":
		return fmt.Errorf("%w: empty local part", ErrInvalid)
	case len(local) > MaxLocalLength:
		return fmt.Errorf("%w: local part longer than %d octets", ErrInvalid, MaxLocalLength)
	case !utf8.ValidString(local):
		return fmt.Errorf("%w: local part is not valid UTF-8", ErrInvalid)
	}
	for _, r := range local {
		// C0 and C1 controls and DEL are never part of a mailbox name
		// (RFC 5321 section 4.1.2, RFC 6531 section 3.3).
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return fmt.Errorf("%w: control character in local part", ErrInvalid)
		}
	}
	return nil
}

// CanonicalDomain returns the canonical form of a domain name: lower-cased
// ASCII, each label 1 to 63 letters, digits or hyphens, not starting or
// ending with a hyphen (RFC 1035 section 2.3.1, RFC 5321 section 4.1.2).
// Internationalised domains are accepted in their A-label form
// ("xn--..."); a domain in Unicode form is rejected with an error wrapping
// ErrInvalid that says so, because mapping U-labels to A-labels needs the
// IDNA tables (RFC 5891) that Casella does not carry yet.
func CanonicalDomain(domain string) (string, error) {
	d := strings.ToLower(strings.TrimSpace(domain))
	if d == "" {
		return "", fmt.Errorf("%w: empty domain", ErrInvalid)
	}
	if len(d) > maxDomainLength {
		return "", fmt.Errorf("%w: domain longer than %d octets", ErrInvalid, maxDomainLength)
	}
	for label := range strings.SplitSeq(d, ".") {
		if err := checkLabel(label); err != nil {
			return "", fmt.Errorf("domain %q: %w", domain, err)
		}
	}
	return d, nil
}

func checkLabel(label string) error {
	if label == "" {
		return fmt.Errorf("%w: empty label", ErrInvalid)
	}
	if len(label) > maxLabelLength {
		return fmt.Errorf("%w: label longer than %d octets", ErrInvalid, maxLabelLength)
	}
	if label[0] == '-' || label[len(label)-1] == '-' {
		return fmt.Errorf("%w: label starts or ends with a hyphen", ErrInvalid)
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c >= utf8.RuneSelf:
			return fmt.Errorf("%w: non-ASCII domain; give it in its A-label (xn--) form", ErrInvalid)
		default:
			return fmt.Errorf("%w: character %q not allowed in a domain", ErrInvalid, c)
		}
	}
	return nil
}

// DomainOf returns the domain of a canonical address.
func DomainOf(address string) string {
	return address[strings.LastIndexByte(address, '@')+1:]
}

// SubaddressSeparator separates the base of a local part from its tag
// (RFC 5233 section 1).
const SubaddressSeparator = '+'

// SplitSubaddress splits a local part into its base and tag at the first
// '+' (RFC 5233). A local part without a separator, or one whose base would
// be empty, has no tag: it is returned whole with tag "".
func SplitSubaddress(local string) (base, tag string) {
	i := strings.IndexByte(local, SubaddressSeparator)
	if i <= 0 {
		return local, ""
	}
	return local[:i], local[i+1:]
}

// maxCellLength bounds a cell name, which appears in logs, metrics labels
// and configuration.
const maxCellLength = 64

// CheckCell checks a cell name: "" (embedded mode's only cell), or up to
// 64 ASCII letters, digits, '-', '_' and '.', so that the name is safe in
// a log line, a metric label and a file name. It returns an error
// wrapping ErrInvalid otherwise.
func CheckCell(name string) error {
	if len(name) > maxCellLength {
		return fmt.Errorf("cell name: %w: longer than %d octets", ErrInvalid, maxCellLength)
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("cell name %q: %w: only letters, digits, '-', '_' and '.' are allowed", name, ErrInvalid)
		}
	}
	return nil
}
