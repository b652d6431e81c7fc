package worker

import (
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// toSockaddr converts an address for bind/connect and picks the family.
func toSockaddr(ap netip.AddrPort) (unix.Sockaddr, int, error) {
	a := ap.Addr()
	if !a.IsValid() {
		return nil, 0, ErrInvalidAddr
	}
	if a.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}, unix.AF_INET, nil
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	if z := a.Zone(); z != "" {
		ifi, err := net.InterfaceByName(z)
		if err != nil {
			return nil, 0, err
		}
		sa.ZoneId = uint32(ifi.Index)
	}
	return sa, unix.AF_INET6, nil
}

// fromSockaddr converts a kernel address; 4-in-6 mapped addresses are
// unmapped so an IPv4 peer on a dual-stack socket looks like IPv4.
func fromSockaddr(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}
