package worker

import (
	"net"
	"net/netip"
	"unsafe"

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

// fromRawSockaddr is fromSockaddr for the kernel's own layout, as accept4
// and getsockname fill it. x/sys's conversion asks the kernel for the
// socket's protocol (a getsockopt) on every IPv4 or IPv6 address, to tell
// L2TP sockets apart; these are TCP sockets.
func fromRawSockaddr(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), portFromNetwork(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), portFromNetwork(sa.Port))
	}
	return netip.AddrPort{}
}

// portFromNetwork reads a port stored in network byte order.
func portFromNetwork(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// accept4 is accept4(2) on a non-blocking listening socket as a raw
// syscall (it never sleeps), the peer's address read from the worker's
// scratch space. Loop thread only.
func (w *Worker) accept4(fd int) (int, netip.AddrPort, error) {
	rsa := &w.sockaddr
	n := uint32(unsafe.Sizeof(*rsa))
	r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(rsa)), uintptr(unsafe.Pointer(&n)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, netip.AddrPort{}, e
	}
	return int(r), fromRawSockaddr(rsa), nil
}

// getsockname is getsockname(2) as a raw syscall. Loop thread only.
func (w *Worker) getsockname(fd int) (netip.AddrPort, error) {
	rsa := &w.sockaddr
	n := uint32(unsafe.Sizeof(*rsa))
	_, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(rsa)), uintptr(unsafe.Pointer(&n)))
	if e != 0 {
		return netip.AddrPort{}, e
	}
	return fromRawSockaddr(rsa), nil
}
