package listener

import (
	"net/netip"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// Envoy's selection order and specificity, criterion by criterion.
func TestSelectChain(t *testing.T) {
	chains := []*FilterChain{
		{Name: "exact", Match: Match{ServerNames: []string{"www.example.com"}}},
		{Name: "wild", Match: Match{ServerNames: []string{"*.example.com"}}},
		{Name: "wild-deeper", Match: Match{ServerNames: []string{"*.api.example.com"}}},
		{Name: "wild-h2", Match: Match{ServerNames: []string{"*.example.com"}, ALPN: []string{"h2"}}},
		{Name: "port-8443", Match: Match{DestinationPorts: []uint16{8443}}},
		{Name: "port-8443-tls", Match: Match{DestinationPorts: []uint16{8443}, TransportProtocol: "tls"}},
		{Name: "internal", Match: Match{SourcePrefix: prefixes("10.0.0.0/8")}},
		{Name: "internal-16", Match: Match{SourcePrefix: prefixes("10.1.0.0/16")}},
		{Name: "lb", Match: Match{DirectSourcePrefix: prefixes("192.0.2.0/24")}},
		{Name: "raw", Match: Match{TransportProtocol: "raw_buffer"}},
		{Name: "dst-ip", Match: Match{DestinationPrefix: prefixes("127.0.0.2/32")}},
		{Name: "src-port", Match: Match{SourcePorts: []uint16{1234}}},
		{Name: "narrow", Match: Match{ServerNames: []string{"narrow.test"}, SourcePrefix: prefixes("10.0.0.0/8")}},
	}
	type facts struct {
		dst, src, direct string
		sni, transport   string
		alpn             []string
	}
	cases := []struct {
		name string
		f    facts
		want string // "" for no match
	}{
		{"exact name", facts{sni: "www.example.com", transport: "tls"}, "exact"},
		{"wildcard name", facts{sni: "img.example.com", transport: "tls"}, "wild"},
		{"longer wildcard wins", facts{sni: "v1.api.example.com", transport: "tls"}, "wild-deeper"},
		{"wildcard needs a label", facts{sni: "example.com", transport: "tls"}, ""},
		{"then alpn narrows", facts{sni: "img.example.com", transport: "tls", alpn: []string{"h2", "http/1.1"}}, "wild-h2"},
		{"alpn not offered", facts{sni: "img.example.com", transport: "tls", alpn: []string{"http/1.1"}}, "wild"},
		{"destination port first", facts{dst: "127.0.0.1:8443", sni: "www.example.com", transport: "tls"}, "port-8443-tls"},
		{"port, then transport", facts{dst: "127.0.0.1:8443", transport: "raw_buffer"}, "port-8443"},
		{"destination ip", facts{dst: "127.0.0.2:80", transport: "raw_buffer"}, "dst-ip"},
		{"no sni: chains with names drop out", facts{transport: "raw_buffer", src: "10.1.2.3:5"}, "raw"},
		{"longest source prefix", facts{transport: "tls", src: "10.1.2.3:5"}, "internal-16"},
		{"shorter source prefix", facts{transport: "tls", src: "10.2.2.3:5"}, "internal"},
		{"direct source before source", facts{transport: "tls", src: "10.1.2.3:5", direct: "192.0.2.9:7"}, "lb"},
		{"source port", facts{transport: "tls", src: "172.16.0.1:1234"}, "src-port"},
		{"nothing fits", facts{transport: "tls", src: "172.16.0.1:1"}, ""},
		// As in Envoy, a criterion that picked a branch is not revisited:
		// the name selects "narrow", whose source range then fails, and no
		// chain without names is tried instead.
		{"no backtracking", facts{sni: "narrow.test", transport: "tls", src: "172.16.0.1:1234"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parse := func(s, def string) netip.AddrPort {
				if s == "" {
					s = def
				}
				return netip.MustParseAddrPort(s)
			}
			f := connFacts{
				dst:    parse(tc.f.dst, "127.0.0.1:443"),
				src:    parse(tc.f.src, "198.51.100.1:40000"),
				direct: parse(tc.f.direct, "198.51.100.1:40000"),
				ins:    &Inspection{ServerName: tc.f.sni, TransportProtocol: tc.f.transport, ALPN: tc.f.alpn},
			}
			got := ""
			if fc := selectChain(chains, &f); fc != nil {
				got = fc.Name
			}
			if got != tc.want {
				t.Fatalf("chain %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSelectChainDoesNotAllocate(t *testing.T) {
	chains := []*FilterChain{
		{Name: "a", Match: Match{ServerNames: []string{"*.example.com"}}},
		{Name: "b", Match: Match{SourcePrefix: prefixes("10.0.0.0/8")}},
	}
	f := connFacts{dst: netip.MustParseAddrPort("127.0.0.1:1"), src: netip.MustParseAddrPort("10.0.0.1:2"),
		direct: netip.MustParseAddrPort("10.0.0.1:2"), ins: &Inspection{ServerName: "a.example.com", TransportProtocol: "tls"}}
	if n := testing.AllocsPerRun(100, func() { selectChain(chains, &f) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}
