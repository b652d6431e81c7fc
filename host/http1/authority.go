package http1

import "net/netip"

// validAuthority checks uri-host [":" port] as used by absolute-form, the
// Host field and (with needPort) CONNECT's authority-form. Userinfo is
// refused (RFC 9110 4.2.4 calls it an error in http URIs), as are
// percent-encoded hosts, which only serve to confuse a router.
func validAuthority(a []byte, needPort bool) bool {
	if len(a) == 0 {
		return false
	}
	var port []byte
	hasPort := false
	if a[0] == '[' {
		end := -1
		for i, c := range a {
			if c == ']' {
				end = i
				break
			}
		}
		if end < 0 || !validIPv6Literal(a[1:end]) {
			return false
		}
		rest := a[end+1:]
		if len(rest) > 0 {
			if rest[0] != ':' {
				return false
			}
			port, hasPort = rest[1:], true
		}
	} else {
		host := a
		for i, c := range a {
			if c == ':' {
				host, port, hasPort = a[:i], a[i+1:], true
				break
			}
		}
		if len(host) == 0 {
			return false
		}
		for _, c := range host {
			if !hostTable[c] {
				return false
			}
		}
	}
	if needPort && len(port) == 0 {
		return false
	}
	if hasPort && !validPort(port) {
		return false
	}
	return true
}

// validPort is RFC 3986's *DIGIT, bounded so it cannot be a giant number.
func validPort(p []byte) bool {
	if len(p) > 5 {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func validIPv6Literal(b []byte) bool {
	if len(b) == 0 || len(b) > 45 {
		return false
	}
	for _, c := range b {
		if hexValue[c] < 0 && c != ':' && c != '.' {
			return false // also refuses zones and IPvFuture
		}
	}
	// IPv6 literals are rare on the wire, so their one allocation is fine.
	addr, err := netip.ParseAddr(string(b))
	return err == nil && addr.Is6()
}
