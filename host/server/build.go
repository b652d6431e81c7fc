package server

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/http1"
	"github.com/sluiceproxy/sluice/host/http2"
	"github.com/sluiceproxy/sluice/host/listener"
	"github.com/sluiceproxy/sluice/host/listener/proxyprotocol"
	"github.com/sluiceproxy/sluice/host/listener/tlsinspector"
	"github.com/sluiceproxy/sluice/host/network"
	"github.com/sluiceproxy/sluice/host/network/ipallow"
	"github.com/sluiceproxy/sluice/host/network/tcpproxy"
	"github.com/sluiceproxy/sluice/host/router"
	"github.com/sluiceproxy/sluice/host/tlscontext"
)

// builtListener is a listener with the compiled filters whose stats the
// admin endpoint shows.
type builtListener struct {
	*listener.Listener
	hcms          []*hcm.Config
	tcpProxies    []*tcpproxy.Config
	ipAllows      []namedIPAllow
	tlsInspector  *tlsinspector.Inspector
	proxyProtocol *proxyprotocol.Filter
}

type namedIPAllow struct {
	prefix string
	cfg    *ipallow.Config
}

// buildListener compiles listener i: its listener filters and filter
// chains.
func (s *generation) buildListener(i int, lc *config.Listener) (*builtListener, error) {
	path := fmt.Sprintf("listeners[%d]", i)
	bl := &builtListener{}
	cfg := &listener.Config{
		Name:                             lc.Name,
		Index:                            i,
		Address:                          lc.Addr,
		ListenerFiltersTimeout:           lc.ListenerFiltersTimeout,
		ContinueOnListenerFiltersTimeout: lc.ContinueOnListenerFiltersTimeout,
		Options: network.Options{
			BufferLimit:    lc.PerConnectionBufferLimitBytes,
			FiltersTimeout: lc.NetworkFiltersTimeout,
			Log:            s.log,
		},
		MaxConnections: lc.MaxConnections,
		GlobalLimit:    s.overload.GlobalLimit(),
	}
	for _, lf := range lc.ListenerFilters {
		var f listener.Filter
		switch {
		case lf.IsTLSInspector():
			max := 64 << 10
			if lf.TLSInspector != nil {
				max = lf.TLSInspector.MaxClientHelloSize
			}
			bl.tlsInspector = tlsinspector.New(max)
			f = bl.tlsInspector
		case lf.IsProxyProtocol():
			allow := lf.ProxyProtocol != nil && lf.ProxyProtocol.AllowRequestsWithoutProxyProtocol
			bl.proxyProtocol = proxyprotocol.New(allow)
			f = bl.proxyProtocol
		}
		cfg.ListenerFilters = append(cfg.ListenerFilters, listener.NamedFilter{Name: lf.Name, Filter: f})
	}
	for k := range lc.FilterChains {
		fc, err := s.buildChain(fmt.Sprintf("%s.filter_chains[%d]", path, k), lc, &lc.FilterChains[k], bl)
		if err != nil {
			return nil, err
		}
		cfg.Chains = append(cfg.Chains, fc)
	}
	if d := lc.DefaultFilterChain; d != nil {
		fc, err := s.buildChain(path+".default_filter_chain", lc, d, bl)
		if err != nil {
			return nil, err
		}
		cfg.Default = fc
	}
	bl.Listener = listener.New(cfg)
	return bl, nil
}

// buildChain compiles one filter chain: its match, TLS and network filters.
func (s *generation) buildChain(path string, lc *config.Listener, fc *config.FilterChain, bl *builtListener) (*listener.FilterChain, error) {
	out := &listener.FilterChain{Name: fc.Name, HandshakeTimeout: fc.TransportSocketConnectTimeout}
	if m := fc.FilterChainMatch; m != nil {
		out.Match = compileMatch(m)
	}
	if ts := fc.TransportSocket; ts != nil && ts.TLS != nil {
		ctx, err := tlscontext.NewServer(path+".transport_socket", serverTLSOptions(ts.TLS))
		if err != nil {
			return nil, err
		}
		s.listenerTLS = append(s.listenerTLS, ctx)
		out.TLS = ctx.Config
	}
	for j := range fc.Filters {
		f := &fc.Filters[j]
		fPath := fmt.Sprintf("%s.filters[%d]", path, j)
		var ff network.FilterFactory
		switch {
		case f.IsModule():
			nf, err := s.filters.buildNetwork(fPath, f)
			if err != nil {
				return nil, err
			}
			ff = nf
		case f.HCM != nil:
			cfg, err := s.buildHCM(fPath+".config", lc, f.HCM)
			if err != nil {
				return nil, err
			}
			bl.hcms = append(bl.hcms, cfg)
			ff = cfg
		case f.TCPProxy != nil:
			cfg, err := s.buildTCPProxy(fPath+".config", f.TCPProxy)
			if err != nil {
				return nil, err
			}
			bl.tcpProxies = append(bl.tcpProxies, cfg)
			ff = cfg
		case f.ClientIPAllow != nil:
			prefixes, err := ipallow.ParseCIDRs(f.ClientIPAllow.Allow)
			if err != nil {
				return nil, fmt.Errorf("%s.config.allow%w", fPath, err)
			}
			cfg := ipallow.New(prefixes, s.log)
			bl.ipAllows = append(bl.ipAllows, namedIPAllow{prefix: f.ClientIPAllow.StatPrefix, cfg: cfg})
			ff = cfg
		default:
			return nil, fmt.Errorf("%s.name: unknown network filter %q", fPath, f.Name)
		}
		out.Filters = append(out.Filters, network.NamedFilterFactory{Name: f.Name, Factory: ff})
	}
	return out, nil
}

func compileMatch(m *config.FilterChainMatch) listener.Match {
	prefixes := func(list []config.CIDRRange) []netip.Prefix {
		var out []netip.Prefix
		for _, r := range list {
			out = append(out, r.Prefix)
		}
		return out
	}
	out := listener.Match{
		DestinationPrefix:  prefixes(m.PrefixRanges),
		TransportProtocol:  m.TransportProtocol,
		ALPN:               m.ApplicationProtocols,
		DirectSourcePrefix: prefixes(m.DirectSourcePrefixRanges),
		SourcePrefix:       prefixes(m.SourcePrefixRanges),
	}
	if m.DestinationPort != 0 {
		out.DestinationPorts = []uint16{uint16(m.DestinationPort)}
	}
	for _, n := range m.ServerNames {
		out.ServerNames = append(out.ServerNames, strings.ToLower(n))
	}
	for _, p := range m.SourcePorts {
		out.SourcePorts = append(out.SourcePorts, uint16(p))
	}
	return out
}

// buildTCPProxy compiles a tcp_proxy filter.
func (s *generation) buildTCPProxy(path string, tc *config.TCPProxy) (*tcpproxy.Config, error) {
	cl := s.clusters.Get(tc.Cluster)
	if cl == nil {
		return nil, fmt.Errorf("%s.cluster: unknown cluster %q", path, tc.Cluster)
	}
	cfg := &tcpproxy.Config{
		StatPrefix:          tc.StatPrefix,
		Cluster:             cl,
		IdleTimeout:         tc.IdleTimeout,
		MaxDuration:         tc.MaxDownstreamConnectionDuration,
		UpstreamBufferLimit: s.clusterBufferLimit(tc.Cluster),
		Log:                 s.log,
		Stats:               s.tcpProxyStats(tc.StatPrefix),
	}
	for j, al := range tc.AccessLog {
		sink, err := s.accessLogs.Open(al.Path)
		if err != nil {
			return nil, fmt.Errorf("%s.access_log[%d].path: %w", path, j, err)
		}
		cfg.AccessLogs = append(cfg.AccessLogs, tcpproxy.AccessLog{Sink: sink, JSON: al.Format == "json"})
	}
	return cfg, nil
}

// clusterBufferLimit is a cluster's per_connection_buffer_limit_bytes.
func (s *generation) clusterBufferLimit(name string) int {
	for _, c := range s.cfg.Clusters {
		if c.Name == name {
			return c.PerConnectionBufferLimitBytes
		}
	}
	return 0
}

// buildHCM compiles an http_connection_manager filter.
func (s *generation) buildHCM(hcmPath string, lc *config.Listener, hc *config.HTTPConnectionManager) (*hcm.Config, error) {
	cfg := &hcm.Config{
		StatPrefix:                hc.StatPrefix,
		ServerName:                hc.ServerName,
		Via:                       hc.Via,
		UseRemoteAddress:          hc.UseRemoteAddress,
		XFFNumTrustedHops:         hc.XffNumTrustedHops,
		SkipXFFAppend:             hc.SkipXffAppend,
		GenerateRequestID:         hc.GenerateRequestID,
		PreserveExternalRequestID: hc.PreserveExternalRequestID,
		IdleTimeout:               hc.IdleTimeout,
		RequestHeadersTimeout:     hc.RequestHeadersTimeout,
		StreamIdleTimeout:         hc.StreamIdleTimeout,
		RequestTimeout:            hc.RequestTimeout,
		BufferLimit:               hc.StreamBufferLimitBytes,
		ConnBufferLimit:           lc.PerConnectionBufferLimitBytes,
		Clusters:                  s.clusters,
		Log:                       s.log.With(),
		Stats:                     s.hcmStats(hc.StatPrefix),
		Overload:                  s.overload,
	}
	for _, u := range hc.UpgradeConfigs {
		cfg.Upgrades = append(cfg.Upgrades, hcm.UpgradeSetting{Type: u.UpgradeType, Enabled: u.Enabled})
	}
	switch hc.CodecType {
	case "http1":
		cfg.Codec = hcm.CodecHTTP1
	case "http2":
		cfg.Codec = hcm.CodecHTTP2
	default:
		cfg.Codec = hcm.CodecAuto
	}
	lim := http1.DefaultLimits()
	if hc.MaxRequestHeadersKB > 0 {
		lim.MaxHeaderBytes = hc.MaxRequestHeadersKB * 1024
	}
	if hc.MaxHeadersCount > 0 {
		lim.MaxHeaders = hc.MaxHeadersCount
	}
	if hc.MaxRequestLineBytes > 0 {
		lim.MaxRequestLineBytes = hc.MaxRequestLineBytes
	}
	cfg.Limits = lim
	o := hc.HTTP2ProtocolOptions
	h2opts := http2.Options{
		MaxConcurrentStreams:  uint32(o.MaxConcurrentStreams),
		InitialWindowSize:     uint32(o.InitialStreamWindowSize),
		ConnectionWindowSize:  uint32(o.InitialConnectionWindowSize),
		MaxHeaderListSize:     uint32(lim.MaxHeaderBytes),
		StreamBufferLimit:     hc.StreamBufferLimitBytes,
		ConnectionBufferLimit: 4 * hc.StreamBufferLimitBytes,
	}
	if cfg.Codec != hcm.CodecHTTP1 {
		cfg.NewHTTP2 = newHTTP2Factory(s.log, h2opts)
		cfg.UpgradeHTTP2 = newHTTP2UpgradeFactory(s.log, h2opts)
	}

	byName := map[string]hcm.FilterFactory{}
	for j, f := range hc.HTTPFilters {
		if f.Name == config.RouterFilterName && !f.IsModule() {
			continue
		}
		ff, err := s.filters.build(fmt.Sprintf("%s.http_filters[%d]", hcmPath, j), &f)
		if err != nil {
			return nil, err
		}
		cfg.Filters = append(cfg.Filters, hcm.NamedFilter{Name: f.Name, Factory: ff})
		byName[f.Name] = ff
	}
	table, err := router.Compile(&hc.RouteConfig, func(filter string, raw []byte) (any, error) {
		return s.filters.perRoute(byName[filter], raw)
	})
	if err != nil {
		return nil, fmt.Errorf("%s.route_config: %w", hcmPath, err)
	}
	cfg.Routes = table
	s.filters.trackRoutes(table)
	for j, al := range hc.AccessLog {
		format := hcm.AccessLogText
		if al.Format == "json" {
			format = hcm.AccessLogJSON
		}
		sink, err := s.accessLogs.Open(al.Path)
		if err != nil {
			return nil, fmt.Errorf("%s.access_log[%d].path: %w", hcmPath, j, err)
		}
		cfg.AccessLogs = append(cfg.AccessLogs, &hcm.AccessLog{Sink: sink, Format: format})
	}
	return cfg, nil
}
