package cluster

import (
	"fmt"
	"net/netip"
	"strings"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/healthcheck"
	"github.com/sluiceproxy/sluice/host/worker"
)

// NewManager builds the clusters of a validated configuration, with one
// pool per worker. Main goroutine.
func NewManager(cfgs []config.Cluster, workers []*worker.Worker, log *zap.Logger) (*Manager, error) {
	settings := make([]Settings, 0, len(cfgs))
	for i := range cfgs {
		s, err := SettingsFromConfig(&cfgs[i])
		if err != nil {
			return nil, err
		}
		settings = append(settings, s)
	}
	m, err := NewManagerWithSettings(settings, workers, log)
	if err != nil {
		return nil, err
	}
	m.sources = make(map[string]*config.Cluster, len(cfgs))
	for i := range cfgs {
		m.sources[cfgs[i].Name] = &cfgs[i]
	}
	return m, nil
}

// SettingsFromConfig converts one config.Cluster. Validation normally
// parsed the endpoint addresses already; a hand-built config is parsed here.
func SettingsFromConfig(c *config.Cluster) (Settings, error) {
	policy, err := ParseLBPolicy(strings.ToLower(c.LbPolicy))
	if err != nil {
		return Settings{}, fmt.Errorf("cluster %q: %w", c.Name, err)
	}
	s := Settings{
		Name:                     c.Name,
		LBPolicy:                 policy,
		ConnectTimeout:           c.ConnectTimeout,
		MaxConnections:           c.MaxConnections,
		MaxPendingRequests:       c.MaxPendingRequests,
		MaxRequestsPerConnection: c.MaxRequestsPerConnection,
		IdleTimeout:              c.IdleTimeout,
		MaxResponseHeaderBytes:   c.MaxResponseHeadersKB << 10,
	}
	switch c.ClusterType() {
	case "", config.ClusterStatic:
		s.Discovery = Static
	case config.ClusterStrictDNS:
		s.Discovery = StrictDNS
	case config.ClusterLogicalDNS:
		s.Discovery = LogicalDNS
	case config.ClusterEDS:
		s.Discovery = EDS
		s.EDSPath = c.EDSPath()
		s.EDSService = c.Name
		if e := c.EDSClusterConfig; e.ServiceName != "" {
			s.EDSService = e.ServiceName
		}
		if p := c.EDSClusterConfig.EDSConfig.PathConfigSource; p != nil && p.WatchedDirectory != nil {
			s.EDSWatchDir = p.WatchedDirectory.Path
		}
	default:
		return Settings{}, fmt.Errorf("cluster %q: unknown type %q", c.Name, c.Type)
	}
	s.HTTP2, s.HTTP2Options = HTTP2FromConfig(c.HTTP2ProtocolOptions)
	if s.Discovery == StrictDNS || s.Discovery == LogicalDNS {
		s.DNS = dnsFromConfig(c)
	}
	for _, group := range c.LoadAssignment.Endpoints {
		for _, lbe := range group.LbEndpoints {
			ep, err := endpointFromConfig(&lbe, group.Priority, s.Discovery)
			if err != nil {
				return Settings{}, fmt.Errorf("cluster %q: %w", c.Name, err)
			}
			s.LbEndpoints = append(s.LbEndpoints, ep)
		}
	}
	if p := c.LoadAssignment.Policy; p != nil && p.OverprovisioningFactor > 0 {
		s.OverprovisioningFactor = uint32(p.OverprovisioningFactor)
	}
	lbFromConfig(c, &s)
	for i := range c.HealthChecks {
		s.HealthChecks = append(s.HealthChecks, healthCheckFromConfig(&c.HealthChecks[i]))
	}
	if o := c.OutlierDetection; o != nil {
		s.Outlier = outlierFromConfig(o)
	}
	if cb := c.CircuitBreakers; cb != nil && len(cb.Thresholds) > 0 {
		t := cb.Thresholds[0]
		if t.MaxConnections > 0 {
			s.MaxConnections = t.MaxConnections
		}
		if t.MaxPendingRequests > 0 {
			s.MaxPendingRequests = t.MaxPendingRequests
		}
		s.MaxRetries = t.MaxRetries
		if t.MaxRetries == 0 {
			s.MaxRetries = -1 // configured 0: no retries at all
		}
		if b := t.RetryBudget; b != nil {
			s.RetryBudget = &RetryBudget{MinRetryConcurrency: b.MinRetryConcurrency}
			if b.BudgetPercent != nil {
				s.RetryBudget.BudgetPercent = b.BudgetPercent.Value
			}
			if b.MinRetryConcurrency == 0 {
				s.RetryBudget.MinRetryConcurrency = -1
			}
		}
	}
	return s, nil
}

func endpointFromConfig(lbe *config.LbEndpoint, priority int, d DiscoveryType) (Endpoint, error) {
	sa := lbe.Endpoint.Address.SocketAddress
	ep := Endpoint{Weight: uint32(max(lbe.LoadBalancingWeight, 1)), Priority: uint32(max(priority, 0))}
	if hc := lbe.Endpoint.HealthCheckConfig; hc != nil {
		ep.HealthCheckPort = uint16(hc.PortValue)
	}
	if sa.PortValue <= 0 || sa.PortValue > 65535 {
		return ep, fmt.Errorf("bad endpoint port %d", sa.PortValue)
	}
	addr := sa.Addr
	if !addr.IsValid() {
		ip, err := netip.ParseAddr(sa.Address)
		if err == nil {
			addr = netip.AddrPortFrom(ip, uint16(sa.PortValue))
		} else if d != StrictDNS && d != LogicalDNS {
			return ep, fmt.Errorf("bad endpoint address %q port %d", sa.Address, sa.PortValue)
		}
	}
	if addr.IsValid() {
		ep.Addr = addr
	}
	if d == StrictDNS || d == LogicalDNS {
		ep.Hostname = sa.Address
		ep.Port = uint16(sa.PortValue)
	}
	return ep, nil
}

func dnsFromConfig(c *config.Cluster) DNSOptions {
	d := DNSOptions{
		RefreshRate:    c.DNSRefreshRate,
		RespectTTL:     c.RespectDNSTTL,
		MinRefreshRate: c.DNSMinRefreshRate,
		Jitter:         c.DNSJitter,
	}
	if r := c.DNSFailureRefreshRate; r != nil {
		d.FailureBase, d.FailureMax = r.BaseInterval, r.MaxInterval
	}
	switch strings.ToUpper(c.DNSLookupFamily) {
	case "V4_ONLY":
		d.LookupFamily = V4Only
	case "V6_ONLY":
		d.LookupFamily = V6Only
	case "V4_PREFERRED":
		d.LookupFamily = V4Preferred
	case "ALL":
		d.LookupFamily = All
	default:
		d.LookupFamily = Auto
	}
	if rc := c.DNSResolutionConfig; rc != nil {
		for _, r := range rc.Resolvers {
			sa := r.SocketAddress
			a := sa.Addr
			if !a.IsValid() {
				if ip, err := netip.ParseAddr(sa.Address); err == nil {
					a = netip.AddrPortFrom(ip, uint16(sa.PortValue))
				}
			}
			if a.IsValid() {
				d.Resolvers = append(d.Resolvers, a)
			}
		}
	}
	return d
}

func lbFromConfig(c *config.Cluster, s *Settings) {
	if cl := c.CommonLbConfig; cl != nil && cl.HealthyPanicThreshold != nil {
		s.PanicThreshold = cl.HealthyPanicThreshold.Value
		if s.PanicThreshold == 0 {
			s.PanicThreshold = -1 // configured 0 disables panic routing
		}
	}
	if r := c.RingHashLbConfig; r != nil {
		s.RingHash = RingHashOptions{MinimumRingSize: uint64(max(r.MinimumRingSize, 0)), MaximumRingSize: uint64(max(r.MaximumRingSize, 0))}
	}
	if m := c.MaglevLbConfig; m != nil {
		s.Maglev.TableSize = uint64(max(m.TableSize, 0))
	}
	var ss *config.SlowStartConfig
	if r := c.RoundRobinLbConfig; r != nil {
		ss = r.SlowStartConfig
	}
	if l := c.LeastRequestLbConfig; l != nil {
		s.LeastRequestChoices = l.ChoiceCount
		ss = l.SlowStartConfig
	}
	if ss != nil {
		s.SlowStart.Window = ss.SlowStartWindow
		if ss.Aggression != nil {
			s.SlowStart.Aggression = ss.Aggression.DefaultValue
		}
		if ss.MinWeightPercent != nil {
			s.SlowStart.MinWeightPercent = ss.MinWeightPercent.Value
		}
	}
}

func healthCheckFromConfig(h *config.HealthCheck) healthcheck.Config {
	hc := healthcheck.Config{
		Timeout:               h.Timeout,
		Interval:              h.Interval,
		IntervalJitter:        h.IntervalJitter,
		IntervalJitterPercent: uint32(max(h.IntervalJitterPercent, 0)),
		InitialJitter:         h.InitialJitter,
		UnhealthyInterval:     h.UnhealthyInterval,
		UnhealthyThreshold:    uint32(max(h.UnhealthyThreshold, 1)),
		HealthyThreshold:      uint32(max(h.HealthyThreshold, 1)),
	}
	switch {
	case h.HTTPHealthCheck != nil:
		x := h.HTTPHealthCheck
		hh := &healthcheck.HTTP{Host: x.Host, Path: x.Path, Method: x.Method, HTTP2: strings.EqualFold(x.CodecClientType, "HTTP2")}
		for _, r := range x.ExpectedStatuses {
			hh.ExpectedStatuses = append(hh.ExpectedStatuses, healthcheck.StatusRange{Start: r.Start, End: r.End})
		}
		for _, o := range x.RequestHeadersToAdd {
			hh.RequestHeaders = append(hh.RequestHeaders, [2]string{o.Header.Key, o.Header.Value})
		}
		hc.HTTP = hh
	case h.GRPCHealthCheck != nil:
		hc.GRPC = &healthcheck.GRPC{ServiceName: h.GRPCHealthCheck.ServiceName, Authority: h.GRPCHealthCheck.Authority}
	default:
		t := &healthcheck.TCP{}
		if x := h.TCPHealthCheck; x != nil {
			if x.Send != nil {
				t.Send = x.Send.Bytes
			}
			for _, r := range x.Receive {
				t.Receive = append(t.Receive, r.Bytes)
			}
		}
		hc.TCP = t
	}
	return hc
}

func outlierFromConfig(o *config.OutlierDetection) *OutlierOptions {
	u := func(n int) uint32 { return uint32(max(n, 0)) }
	return &OutlierOptions{
		Consecutive5xx:                         u(o.Consecutive5xx),
		EnforcingConsecutive5xx:                u(o.EnforcingConsecutive5xx),
		ConsecutiveGatewayFailure:              u(o.ConsecutiveGatewayFailure),
		EnforcingConsecutiveGatewayFailure:     u(o.EnforcingConsecutiveGatewayFailure),
		SplitExternalLocalOriginErrors:         o.SplitExternalLocalOriginErrors,
		ConsecutiveLocalOriginFailure:          u(o.ConsecutiveLocalOriginFailure),
		EnforcingConsecutiveLocalOriginFailure: u(o.EnforcingConsecutiveLocalOriginFailure),
		Interval:                               o.Interval,
		BaseEjectionTime:                       o.BaseEjectionTime,
		MaxEjectionTime:                        o.MaxEjectionTime,
		MaxEjectionTimeJitter:                  o.MaxEjectionTimeJitter,
		MaxEjectionPercent:                     u(o.MaxEjectionPercent),
		AlwaysEjectOneHost:                     o.AlwaysEjectOneHost,
		SuccessfulActiveHealthCheckUnejectHost: o.SuccessfulActiveHealthCheckUnejectHost,
	}
}

// HTTP2FromConfig converts a cluster's http2_protocol_options: present
// (even empty) selects HTTP/2.
func HTTP2FromConfig(o *config.HTTP2ProtocolOptions) (bool, HTTP2Options) {
	if o == nil {
		return false, HTTP2Options{}
	}
	return true, HTTP2Options{
		MaxConcurrentStreams:        clampUint32(o.MaxConcurrentStreams),
		InitialStreamWindowSize:     clampUint32(o.InitialStreamWindowSize),
		InitialConnectionWindowSize: clampUint32(o.InitialConnectionWindowSize),
	}
}

// clampUint32 maps a config int to a setting; validation already bounded
// it, a hand-built config gets the defaults for nonsense.
func clampUint32(n int) uint32 {
	if n <= 0 {
		return 0
	}
	return uint32(min(n, 1<<31-1))
}
