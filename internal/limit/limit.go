// Package limit protects the protocol servers from abuse: it bounds
// concurrent connections per client address (Conns) and events per key
// over time (Rate), and defends password logins against guessing (Auth).
//
// Implementation notes:
//   - Conns keys on the client's IP address, IPv6 addresses grouped by
//     their /64, since one host usually owns a whole /64 (Key).
//   - Auth counts failures per account, per address and per network, and
//     waits before the password check, never after it (see Auth).
//   - State for a key is dropped once it carries nothing, so memory stays
//     bounded by the number of active or recently failing clients.
package limit

import (
	"net"
	"net/netip"
)

// Key returns the key that limiters use for a remote address: its IP, or
// its /64 prefix for IPv6.
func Key(addr net.Addr) string {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return addr.String()
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, err := ip.Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return ip.String()
}
