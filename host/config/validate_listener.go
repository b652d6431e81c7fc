package config

import (
	"net/netip"
	"strconv"
	"strings"
)

// maxClientHelloSize is Envoy's bound (and default) for tls_inspector.
const maxClientHelloSize = 64 << 10

func (v *validator) listener(path string, l *Listener) {
	v.nonNegative(path+".listener_filters_timeout", l.ListenerFiltersTimeout)
	hasInspector := v.listenerFilters(path+".listener_filters", l.ListenerFilters)
	if len(l.FilterChains) == 0 && l.DefaultFilterChain == nil {
		v.fail(path+".filter_chains", "required (or a default_filter_chain)")
	}
	names := make(map[string]string)
	keys := make([]chainKey, len(l.FilterChains))
	for i := range l.FilterChains {
		fc := &l.FilterChains[i]
		fcPath := index(path+".filter_chains", i)
		if fc.Name != "" {
			if first, dup := names[fc.Name]; dup {
				v.failf(fcPath+".name", "duplicate name %q (first at %s)", fc.Name, first)
			} else {
				names[fc.Name] = fcPath
			}
		}
		v.filterChain(fcPath, fc)
		if m := fc.FilterChainMatch; m != nil {
			keys[i] = v.filterChainMatch(fcPath+".filter_chain_match", m, hasInspector)
		} else {
			keys[i] = anyChain()
		}
	}
	// Envoy refuses two chains a connection could match equally well:
	// which one takes it would be arbitrary.
	for j := range keys {
		for i := 0; i < j; i++ {
			if keys[i].overlaps(&keys[j]) {
				p := index(path+".filter_chains", j)
				if l.FilterChains[j].FilterChainMatch != nil {
					p += ".filter_chain_match"
				}
				v.failf(p, "matches the same connections as %s: make one of them more specific (or merge them)", index(path+".filter_chains", i))
				break
			}
		}
	}
	if d := l.DefaultFilterChain; d != nil {
		dPath := path + ".default_filter_chain"
		if d.FilterChainMatch != nil {
			v.fail(dPath+".filter_chain_match", "not allowed: the default chain takes the connections no other chain matches")
		}
		v.filterChain(dPath, d)
	}
}

// listenerFilters checks the listener filters and reports whether
// tls_inspector is among them.
func (v *validator) listenerFilters(path string, list []ListenerFilter) (hasInspector bool) {
	seen := make(map[string]string)
	inspectorAt := -1
	for i := range list {
		f := &list[i]
		fPath := index(path, i)
		var kind string
		switch {
		case f.Name == "":
			v.fail(fPath+".name", "required")
			continue
		case f.IsTLSInspector():
			kind = TLSInspectorName
			inspectorAt = i
			if c := f.TLSInspector; c != nil {
				v.intRange(fPath+".config.max_client_hello_size", c.MaxClientHelloSize, 64, maxClientHelloSize)
			}
		case f.IsProxyProtocol():
			kind = ProxyProtocolName
			if inspectorAt >= 0 {
				v.failf(fPath+".name", "proxy_protocol must come before tls_inspector (%s): the PROXY header precedes the ClientHello", index(path, inspectorAt))
			}
		default:
			v.failf(fPath+".name", "unknown listener filter %q: want tls_inspector or proxy_protocol", f.Name)
			continue
		}
		if first, dup := seen[kind]; dup {
			v.failf(fPath+".name", "%s is already listed (%s)", kind, first)
		}
		seen[kind] = fPath
	}
	return inspectorAt >= 0
}

func (v *validator) filterChain(path string, fc *FilterChain) {
	v.nonNegative(path+".transport_socket_connect_timeout", fc.TransportSocketConnectTimeout)
	if len(fc.Filters) == 0 {
		v.fail(path+".filters", "required")
	}
	var hcm *HTTPConnectionManager
	for j := range fc.Filters {
		f := &fc.Filters[j]
		fPath := index(path+".filters", j)
		last := j == len(fc.Filters)-1
		if f.IsTerminal() && !last {
			v.failf(fPath+".name", "%s ends a filter chain: it must be the last filter", f.Name)
		}
		switch {
		case f.Name == "":
			v.fail(fPath+".name", "required")
		case f.IsModule():
			if f.IsHCM() || f.IsTCPProxy() || f.Name == ClientIPAllowFilterName {
				v.failf(fPath+".name", "%q is a built-in filter; give the module filter another name", f.Name)
			}
			if f.Module == "" {
				v.fail(fPath+".module", "required")
			}
			if f.FilterName == "" {
				v.fail(fPath+".filter_name", "required")
			}
			f.ModulePath = v.resolveModule(f.Module)
		case f.IsHCM():
			if f.HCM == nil {
				v.fail(fPath+".config", "required")
			} else {
				v.hcm(fPath+".config", f.HCM)
				hcm = f.HCM
			}
		case f.IsTCPProxy():
			if f.TCPProxy == nil {
				v.fail(fPath+".config", "required")
			} else {
				v.tcpProxy(fPath+".config", f.TCPProxy)
			}
		case f.Name == ClientIPAllowFilterName:
			if f.ClientIPAllow == nil {
				v.fail(fPath+".config", "required")
			} else {
				v.clientIPAllow(fPath+".config", f.ClientIPAllow)
			}
		default:
			v.failf(fPath+".name", "unknown network filter %q", f.Name)
		}
	}
	if n := len(fc.Filters); n > 0 && (fc.Filters[n-1].Name == ClientIPAllowFilterName || fc.Filters[n-1].IsModule()) {
		v.fail(path+".filters", "the last filter must be tcp_proxy or http_connection_manager")
	}
	if ts := fc.TransportSocket; ts != nil {
		v.downstreamTransport(path+".transport_socket", ts)
		if ts.TLS != nil && hcm != nil && hcm.CodecType == "http1" {
			for i, p := range ts.TLS.CommonTLSContext.ALPNProtocols {
				if p == "h2" {
					v.fail(index(path+".transport_socket."+tlsConfigKey(ts.TypedConfig != nil)+".common_tls_context.alpn_protocols", i),
						"h2 is offered but the http_connection_manager's codec_type is http1")
				}
			}
		}
	}
}

// chainKey is what a filter chain matches, criterion by criterion, each a
// set of exact values; the zero value of an element means "any".
type chainKey struct {
	ports     []int
	dst       []netip.Prefix
	names     []string
	transport []string
	alpn      []string
	direct    []netip.Prefix
	src       []netip.Prefix
	srcPorts  []int
}

func anyChain() chainKey {
	return chainKey{
		ports: []int{0}, dst: []netip.Prefix{{}}, names: []string{""}, transport: []string{""},
		alpn: []string{""}, direct: []netip.Prefix{{}}, src: []netip.Prefix{{}}, srcPorts: []int{0},
	}
}

// overlaps reports that some connection's best match would be both
// chains: they share a value in every criterion.
func (a *chainKey) overlaps(b *chainKey) bool {
	return shares(a.ports, b.ports) && shares(a.dst, b.dst) && shares(a.names, b.names) &&
		shares(a.transport, b.transport) && shares(a.alpn, b.alpn) && shares(a.direct, b.direct) &&
		shares(a.src, b.src) && shares(a.srcPorts, b.srcPorts)
}

func shares[T comparable](a, b []T) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

func orAny[T any](list []T) []T {
	if len(list) == 0 {
		var zero T
		return []T{zero}
	}
	return list
}

func (v *validator) filterChainMatch(path string, m *FilterChainMatch, hasInspector bool) chainKey {
	var k chainKey
	if m.DestinationPort != 0 {
		v.intRange(path+".destination_port", m.DestinationPort, 1, 65535)
		k.ports = []int{m.DestinationPort}
	}
	k.dst = v.cidrRanges(path+".prefix_ranges", m.PrefixRanges)
	for i, name := range m.ServerNames {
		p := index(path+".server_names", i)
		lower := strings.ToLower(name)
		if !validServerName(lower) {
			v.failf(p, "invalid server name %q: want a host name such as example.com or a wildcard such as *.example.com", name)
			continue
		}
		k.names = append(k.names, lower)
	}
	needsInspector := func(field string) {
		if !hasInspector {
			v.fail(path+"."+field, "needs the tls_inspector listener filter (it reads them from the ClientHello)")
		}
	}
	if len(m.ServerNames) > 0 {
		needsInspector("server_names")
	}
	switch m.TransportProtocol {
	case "":
	case "tls":
		needsInspector("transport_protocol")
		k.transport = []string{"tls"}
	case "raw_buffer":
		k.transport = []string{"raw_buffer"}
	default:
		v.failf(path+".transport_protocol", "invalid value %q: want raw_buffer|tls", m.TransportProtocol)
	}
	for i, p := range m.ApplicationProtocols {
		if p == "" || len(p) > 255 {
			v.fail(index(path+".application_protocols", i), "must be 1 to 255 bytes")
		}
		k.alpn = append(k.alpn, p)
	}
	if len(m.ApplicationProtocols) > 0 {
		needsInspector("application_protocols")
	}
	k.direct = v.cidrRanges(path+".direct_source_prefix_ranges", m.DirectSourcePrefixRanges)
	k.src = v.cidrRanges(path+".source_prefix_ranges", m.SourcePrefixRanges)
	for i, port := range m.SourcePorts {
		v.intRange(index(path+".source_ports", i), port, 1, 65535)
		k.srcPorts = append(k.srcPorts, port)
	}
	k.ports, k.dst, k.names, k.transport = orAny(k.ports), orAny(k.dst), orAny(k.names), orAny(k.transport)
	k.alpn, k.direct, k.src, k.srcPorts = orAny(k.alpn), orAny(k.direct), orAny(k.src), orAny(k.srcPorts)
	return k
}

// validServerName accepts a lower-case host name, optionally with a
// leading "*." (Envoy's only wildcard form).
func validServerName(s string) bool {
	s = strings.TrimPrefix(s, "*.")
	if s == "" || len(s) > 253 || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// cidrRanges parses and masks a list of CIDR ranges; the result is the
// distinct prefixes (nil for an empty list).
func (v *validator) cidrRanges(path string, list []CIDRRange) []netip.Prefix {
	var out []netip.Prefix
	for i := range list {
		r := &list[i]
		p := index(path, i)
		addr, err := netip.ParseAddr(r.AddressPrefix)
		if err != nil {
			v.failf(p+".address_prefix", "invalid IP address %q", r.AddressPrefix)
			continue
		}
		addr = addr.Unmap()
		bits := 0 // Envoy's default for a missing prefix_len
		if r.PrefixLen != nil {
			bits = *r.PrefixLen
		}
		if bits < 0 || bits > addr.BitLen() {
			v.failf(p+".prefix_len", "must be between 0 and %s for %s", strconv.Itoa(addr.BitLen()), r.AddressPrefix)
			continue
		}
		r.Prefix = netip.PrefixFrom(addr, bits).Masked()
		out = append(out, r.Prefix)
	}
	return out
}
