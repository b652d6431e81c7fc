// Package proxyprotocol is the proxy_protocol listener filter: it reads
// the PROXY protocol header (version 1, text, or version 2, binary) that a
// load balancer in front of sluice sends before the client's bytes, and
// makes the addresses it carries the connection's source and destination:
// what access logs show, what x-forwarded-for gets, what client_ip_allow
// and filter-chain source matching test.
//
// Only a listener configured with this filter reads the header: anywhere
// else "PROXY ..." is just the client's data, so a client cannot choose
// its address by sending one. Here the header is taken from the first
// bytes only, once: a second header inside the stream is data too.
// Malformed headers (a v1 line longer than 107 bytes or with bad
// addresses, a v2 header with a bad version, command, family or length)
// close the connection and are counted; a connection without a header is
// closed too unless allow_requests_without_proxy_protocol is set. A LOCAL
// command (a balancer's own health check) and UNKNOWN/UNSPEC addresses
// keep the socket's addresses. v2 TLVs are checked for framing and
// skipped.
package proxyprotocol

import (
	"bytes"
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/sluiceproxy/sluice/host/listener"
)

const (
	v1Prefix = "PROXY "
	v1MaxLen = 107 // the spec's bound, CRLF included
	v2Header = 16
)

var v2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// Stats are the filter's counters.
type Stats struct {
	V1Found   atomic.Uint64 // headers read, by version
	V2Found   atomic.Uint64
	NotFound  atomic.Uint64 // connections without a header, let through
	Missing   atomic.Uint64 // connections without a header, closed
	Malformed atomic.Uint64 // bad headers, closed
}

// Each calls fn for every counter, with its stat name.
func (s *Stats) Each(fn func(name string, v uint64)) {
	fn("v1_found", s.V1Found.Load())
	fn("v2_found", s.V2Found.Load())
	fn("not_found", s.NotFound.Load())
	fn("missing", s.Missing.Load())
	fn("malformed", s.Malformed.Load())
}

// Filter is one configured proxy_protocol filter.
type Filter struct {
	allowWithout bool
	Stats        Stats
}

// New makes the filter; allowWithout lets connections without a header
// through with their socket addresses.
func New(allowWithout bool) *Filter { return &Filter{allowWithout: allowWithout} }

var _ listener.Filter = (*Filter)(nil)

// Inspect implements listener.Filter: the header is consumed, the rest of
// the input is the client's.
func (f *Filter) Inspect(in []byte, eof bool, ins *listener.Inspection) (listener.FilterStatus, int) {
	switch {
	case hasPrefixOrIsPrefix(in, []byte(v1Prefix)):
		if len(in) < len(v1Prefix) {
			return listener.NeedMoreData, 0
		}
		return f.v1(in, ins)
	case hasPrefixOrIsPrefix(in, v2Signature):
		if len(in) < v2Header {
			return listener.NeedMoreData, 0
		}
		return f.v2(in, ins)
	}
	if f.allowWithout {
		f.Stats.NotFound.Add(1)
		return listener.Done, 0
	}
	f.Stats.Missing.Add(1)
	return listener.Reject, 0
}

// hasPrefixOrIsPrefix reports whether in starts with p, or is (so far) a
// prefix of it — an empty input included.
func hasPrefixOrIsPrefix(in, p []byte) bool {
	n := min(len(in), len(p))
	return bytes.Equal(in[:n], p[:n])
}

func (f *Filter) malformed() (listener.FilterStatus, int) {
	f.Stats.Malformed.Add(1)
	return listener.Reject, 0
}

// v1 reads "PROXY TCP4|TCP6 src dst sport dport\r\n" or
// "PROXY UNKNOWN ...\r\n".
func (f *Filter) v1(in []byte, ins *listener.Inspection) (listener.FilterStatus, int) {
	end := bytes.Index(in[:min(len(in), v1MaxLen)], []byte("\r\n"))
	if end < 0 {
		if len(in) >= v1MaxLen {
			return f.malformed()
		}
		return listener.NeedMoreData, 0
	}
	fields := bytes.Split(in[len(v1Prefix):end], []byte(" "))
	switch string(fields[0]) {
	case "UNKNOWN":
		f.Stats.V1Found.Add(1)
		return listener.Done, end + 2
	case "TCP4", "TCP6":
	default:
		return f.malformed()
	}
	if len(fields) != 5 {
		return f.malformed()
	}
	v6 := string(fields[0]) == "TCP6"
	src, ok1 := parseAddr(fields[1], v6)
	dst, ok2 := parseAddr(fields[2], v6)
	sport, ok3 := parsePort(fields[3])
	dport, ok4 := parsePort(fields[4])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return f.malformed()
	}
	ins.Source = netip.AddrPortFrom(src, sport)
	ins.Destination = netip.AddrPortFrom(dst, dport)
	f.Stats.V1Found.Add(1)
	return listener.Done, end + 2
}

func parseAddr(b []byte, v6 bool) (netip.Addr, bool) {
	a, err := netip.ParseAddr(string(b))
	if err != nil || a.Is6() != v6 || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// parsePort: decimal 0..65535 without a sign or leading zeros.
func parsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b), 10, 16)
	return uint16(n), err == nil
}

// v2 reads the binary header: signature, version/command, family/protocol,
// length, addresses, TLVs.
func (f *Filter) v2(in []byte, ins *listener.Inspection) (listener.FilterStatus, int) {
	verCmd, fam := in[12], in[13]
	length := int(in[14])<<8 | int(in[15])
	if verCmd>>4 != 2 {
		return f.malformed()
	}
	cmd := verCmd & 0xf
	if cmd > 1 {
		return f.malformed()
	}
	if len(in) < v2Header+length {
		return listener.NeedMoreData, 0
	}
	body := in[v2Header : v2Header+length]
	total := v2Header + length
	var addrLen int
	switch fam {
	case 0x00: // UNSPEC
	case 0x11, 0x12: // TCP/UDP over IPv4
		addrLen = 12
	case 0x21, 0x22: // over IPv6
		addrLen = 36
	case 0x31, 0x32: // UNIX
		addrLen = 216
	default:
		return f.malformed()
	}
	if len(body) < addrLen || !tlvsWellFormed(body[addrLen:]) {
		return f.malformed()
	}
	f.Stats.V2Found.Add(1)
	if cmd == 0 { // LOCAL: the balancer's own connection
		return listener.Done, total
	}
	switch addrLen {
	case 12:
		ins.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), be16(body[8:]))
		ins.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), be16(body[10:]))
	case 36:
		ins.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])).Unmap(), be16(body[32:]))
		ins.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])).Unmap(), be16(body[34:]))
	}
	return listener.Done, total
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

// tlvsWellFormed checks that the TLV area is a sequence of whole
// type-length-value items.
func tlvsWellFormed(b []byte) bool {
	for len(b) > 0 {
		if len(b) < 3 {
			return false
		}
		n := int(b[1])<<8 | int(b[2])
		if len(b) < 3+n {
			return false
		}
		b = b[3+n:]
	}
	return true
}
