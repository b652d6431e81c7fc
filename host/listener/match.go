package listener

import (
	"crypto/tls"
	"net/netip"
	"strings"
	"time"

	"github.com/sluiceproxy/sluice/host/network"
)

// FilterChain is one compiled filter chain: which connections it takes,
// its TLS termination (nil: cleartext) and its network filters.
type FilterChain struct {
	Name    string
	Match   Match
	Filters []network.NamedFilterFactory
	// TLS returns the config for a new connection (a reload may swap it);
	// nil: no TLS on this chain.
	TLS              func() *tls.Config
	HandshakeTimeout time.Duration
}

// Match is Envoy's FilterChainMatch, compiled. Empty criteria match
// anything. Server names are lower case, wildcards as "*.example.com".
type Match struct {
	DestinationPorts   []uint16
	DestinationPrefix  []netip.Prefix
	ServerNames        []string
	TransportProtocol  string
	ALPN               []string
	DirectSourcePrefix []netip.Prefix
	SourcePrefix       []netip.Prefix
	SourcePorts        []uint16
}

func (m *Match) isEmpty() bool {
	return len(m.DestinationPorts) == 0 && len(m.DestinationPrefix) == 0 && len(m.ServerNames) == 0 &&
		m.TransportProtocol == "" && len(m.ALPN) == 0 && len(m.DirectSourcePrefix) == 0 &&
		len(m.SourcePrefix) == 0 && len(m.SourcePorts) == 0
}

// connFacts is what a connection is matched on.
type connFacts struct {
	dst, src, direct netip.AddrPort
	ins              *Inspection
}

// selectChain picks the filter chain for a connection as Envoy does:
// criterion by criterion (destination port, destination IP, server name,
// transport protocol, application protocols, direct source IP, source
// IP, source port), only the chains with the most specific match of that
// criterion stay in the running; a chain that does not match a criterion
// it sets drops out. nil when none is left (the default chain then takes
// the connection, if there is one). As in Envoy, there is no
// backtracking: a chain that won a criterion and fails a later one is not
// replaced by one that lost the earlier criterion. Validation guarantees
// that at most one chain survives every criterion.
func selectChain(chains []*FilterChain, f *connFacts) *FilterChain {
	var buf [32]int
	cand := buf[:0]
	for i := range chains {
		cand = append(cand, i)
	}
	for level := 0; level < numCriteria && len(cand) > 0; level++ {
		best := -1
		for _, i := range cand {
			best = max(best, score(level, &chains[i].Match, f))
		}
		if best < 0 {
			return nil
		}
		kept := cand[:0]
		for _, i := range cand {
			if score(level, &chains[i].Match, f) == best {
				kept = append(kept, i)
			}
		}
		cand = kept
	}
	if len(cand) == 0 {
		return nil
	}
	return chains[cand[0]]
}

const numCriteria = 8

// score rates how specifically chain criterion level matches the
// connection: -1 no match, 0 the criterion is not set (matches anything),
// higher is more specific.
func score(level int, m *Match, f *connFacts) int {
	switch level {
	case 0:
		return portScore(m.DestinationPorts, f.dst.Port())
	case 1:
		return prefixScore(m.DestinationPrefix, f.dst.Addr())
	case 2:
		return nameScore(m.ServerNames, f.ins.ServerName)
	case 3:
		switch m.TransportProtocol {
		case "":
			return 0
		case f.ins.TransportProtocol:
			return 1
		}
		return -1
	case 4:
		return alpnScore(m.ALPN, f.ins.ALPN)
	case 5:
		return prefixScore(m.DirectSourcePrefix, f.direct.Addr())
	case 6:
		return prefixScore(m.SourcePrefix, f.src.Addr())
	default:
		return portScore(m.SourcePorts, f.src.Port())
	}
}

func portScore(ports []uint16, p uint16) int {
	if len(ports) == 0 {
		return 0
	}
	for _, q := range ports {
		if q == p {
			return 1
		}
	}
	return -1
}

// prefixScore: the longest matching prefix wins (a /0 still beats "not
// set").
func prefixScore(prefixes []netip.Prefix, a netip.Addr) int {
	if len(prefixes) == 0 {
		return 0
	}
	a = a.Unmap()
	best := -1
	for _, p := range prefixes {
		if p.Contains(a) {
			best = max(best, p.Bits()+1)
		}
	}
	return best
}

// nameScore: an exact name beats any wildcard, and a longer wildcard
// suffix a shorter one (www.example.com: itself, then *.example.com, then
// *.com). A connection without SNI matches only chains without names.
func nameScore(names []string, sni string) int {
	if len(names) == 0 {
		return 0
	}
	if sni == "" {
		return -1
	}
	best := -1
	for _, n := range names {
		switch {
		case n == sni:
			return 1 << 16
		case strings.HasPrefix(n, "*.") && len(sni) > len(n)-1 && strings.HasSuffix(sni, n[1:]):
			best = max(best, len(n))
		}
	}
	return best
}

// alpnScore follows Envoy: the client's protocols are tried in the
// client's order, and the first that some chain lists selects the chains
// listing it.
func alpnScore(chain, offered []string) int {
	if len(chain) == 0 {
		return 0
	}
	for i, p := range offered {
		for _, q := range chain {
			if p == q {
				return len(offered) - i
			}
		}
	}
	return -1
}
