package router

import (
	"github.com/sluiceproxy/sluice/host/headers"
)

// maxFastHost is the longest :authority lowercased on the stack; longer
// ones (invalid as DNS names anyway) take a slower, allocating path.
const maxFastHost = 256

// Match returns the route for the request, or nil when no virtual host or
// no route matches. It does not allocate.
func (t *Table) Match(h *headers.Map) *Route {
	if t == nil {
		return nil
	}
	vh := t.virtualHost(h.Authority())
	if vh == nil {
		return nil
	}
	path := stripQuery(h.Path())
	connect := string(h.Method()) == "CONNECT"
	for _, r := range vh.routes {
		if r.matches(path, connect, h) {
			return r
		}
	}
	return nil
}

func (t *Table) virtualHost(authority []byte) *virtualHost {
	if !t.keepPort {
		authority = stripPort(authority)
	}
	var buf [maxFastHost]byte
	var host []byte
	if len(authority) <= len(buf) {
		host = buf[:len(authority)]
	} else {
		host = make([]byte, len(authority))
	}
	for i, c := range authority {
		host[i] = lowerByte(c)
	}
	if vh, ok := t.exact[string(host)]; ok {
		return vh
	}
	// A wildcard never matches the empty string: "*.a.com" needs a label.
	for _, w := range t.suffixes {
		if len(host) > len(w.fix) && string(host[len(host)-len(w.fix):]) == w.fix {
			return w.vh
		}
	}
	for _, w := range t.prefixes {
		if len(host) > len(w.fix) && string(host[:len(w.fix)]) == w.fix {
			return w.vh
		}
	}
	return t.catchAll
}

// stripPort removes ":port" from host:port and [v6]:port; a bare IPv6
// literal has several colons and is left alone.
func stripPort(a []byte) []byte {
	if len(a) > 0 && a[0] == '[' {
		for i := len(a) - 1; i > 0; i-- {
			if a[i] == ']' {
				return a[:i+1]
			}
		}
		return a
	}
	colon := -1
	for i, c := range a {
		if c == ':' {
			if colon >= 0 {
				return a // bare IPv6
			}
			colon = i
		}
	}
	if colon >= 0 {
		return a[:colon]
	}
	return a
}

// stripQuery cuts the path at '?' or '#': routes match the path alone.
func stripQuery(p []byte) []byte {
	for i, c := range p {
		if c == '?' || c == '#' {
			return p[:i]
		}
	}
	return p
}
