package router

import (
	"bytes"
	"net/netip"

	"github.com/cespare/xxhash/v2"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/headers"
)

// hashKind is the source of one hash_policy entry.
type hashKind uint8

const (
	hashHeader hashKind = iota
	hashCookie
	hashSourceIP
	hashQuery
)

// hashPolicy is one compiled hash_policy entry.
type hashPolicy struct {
	kind     hashKind
	name     string // header (lower case), cookie or query parameter name
	terminal bool
}

func compileHashPolicies(list []config.HashPolicy) []hashPolicy {
	out := make([]hashPolicy, 0, len(list))
	for _, p := range list {
		hp := hashPolicy{terminal: p.Terminal}
		switch {
		case p.Header != nil:
			hp.kind, hp.name = hashHeader, lowerASCII(p.Header.HeaderName)
		case p.Cookie != nil:
			hp.kind, hp.name = hashCookie, p.Cookie.Name
		case p.ConnectionProperties != nil:
			hp.kind = hashSourceIP
		case p.QueryParameter != nil:
			hp.kind, hp.name = hashQuery, p.QueryParameter.Name
		default:
			continue
		}
		out = append(out, hp)
	}
	return out
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lowerByte(c)
	}
	return string(b)
}

// HasHashPolicy reports whether the route makes request hashes.
func (r *Route) HasHashPolicy() bool { return len(r.hashes) > 0 }

// HashKey computes the request's hash for ring_hash and maglev from the
// route's hash_policy, as Envoy does: each policy that finds its input
// contributes xxHash64 of it, combined as rotl(hash, 1) ^ new; a terminal
// policy that produced a hash ends the list. ok is false when no policy
// found anything (the load balancer then picks at random). It does not
// allocate.
func (r *Route) HashKey(h *headers.Map, source netip.AddrPort) (hash uint64, ok bool) {
	for i := range r.hashes {
		p := &r.hashes[i]
		v, found := p.compute(h, source)
		if !found {
			continue
		}
		if ok {
			hash = (hash<<1 | hash>>63) ^ v
		} else {
			hash = v
		}
		ok = true
		if p.terminal {
			break
		}
	}
	return hash, ok
}

func (p *hashPolicy) compute(h *headers.Map, source netip.AddrPort) (uint64, bool) {
	switch p.kind {
	case hashHeader:
		var hash uint64
		found := false
		// Several values (or fields) are combined in order.
		h.Values(p.name, func(v []byte) bool {
			x := xxhash.Sum64(v)
			if found {
				hash = (hash<<1 | hash>>63) ^ x
			} else {
				hash = x
			}
			found = true
			return true
		})
		return hash, found
	case hashCookie:
		var hash uint64
		found := false
		h.Values("cookie", func(v []byte) bool {
			if c, ok := cookieValue(v, p.name); ok {
				hash, found = xxhash.Sum64(c), true
				return false
			}
			return true
		})
		return hash, found
	case hashSourceIP:
		if !source.IsValid() {
			return 0, false
		}
		var buf [64]byte
		return xxhash.Sum64(source.Addr().AppendTo(buf[:0])), true
	case hashQuery:
		if v, ok := queryValue(h.Path(), p.name); ok {
			return xxhash.Sum64(v), true
		}
	}
	return 0, false
}

// cookieValue finds name's value in one Cookie header ("a=1; b=2").
func cookieValue(header []byte, name string) ([]byte, bool) {
	for len(header) > 0 {
		var pair []byte
		if i := bytes.IndexByte(header, ';'); i >= 0 {
			pair, header = header[:i], header[i+1:]
		} else {
			pair, header = header, nil
		}
		pair = bytes.TrimLeft(pair, " \t")
		if len(pair) > len(name) && pair[len(name)] == '=' && string(pair[:len(name)]) == name {
			v := bytes.TrimRight(pair[len(name)+1:], " \t")
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return nil, false
}

// queryValue finds the first value of a query parameter, as sent (not
// percent-decoded); a parameter without "=" has an empty value.
func queryValue(path []byte, name string) ([]byte, bool) {
	i := bytes.IndexByte(path, '?')
	if i < 0 {
		return nil, false
	}
	q := path[i+1:]
	if j := bytes.IndexByte(q, '#'); j >= 0 {
		q = q[:j]
	}
	for len(q) > 0 {
		var pair []byte
		if j := bytes.IndexByte(q, '&'); j >= 0 {
			pair, q = q[:j], q[j+1:]
		} else {
			pair, q = q, nil
		}
		key, val := pair, []byte(nil)
		if j := bytes.IndexByte(pair, '='); j >= 0 {
			key, val = pair[:j], pair[j+1:]
		}
		if string(key) == name {
			return val, true
		}
	}
	return nil, false
}
