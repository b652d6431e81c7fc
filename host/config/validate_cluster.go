package config

import (
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"net/netip"
	"strings"
)

// Cluster types (also accepted in lower case).
const (
	ClusterStatic     = "STATIC"
	ClusterStrictDNS  = "STRICT_DNS"
	ClusterLogicalDNS = "LOGICAL_DNS"
	ClusterEDS        = "EDS"
)

// ClusterType is the cluster's type in upper case.
func (c *Cluster) ClusterType() string { return strings.ToUpper(c.Type) }

// IsDNS reports a STRICT_DNS or LOGICAL_DNS cluster.
func (c *Cluster) IsDNS() bool {
	t := c.ClusterType()
	return t == ClusterStrictDNS || t == ClusterLogicalDNS
}

// EDSPath is the endpoint file of an EDS cluster ("" otherwise).
func (c *Cluster) EDSPath() string {
	if e := c.EDSClusterConfig; e != nil {
		if p := e.EDSConfig.PathConfigSource; p != nil {
			return p.Path
		}
		return e.EDSConfig.Path
	}
	return ""
}

// Maximum ring and table sizes, as Envoy bounds them.
const (
	maxRingSize        = 8 << 20
	maxMaglevTableSize = 5000011
	maxPriority        = 127
	maxWeight          = 1 << 24
)

func (v *validator) cluster(path string, c *Cluster) {
	typ := c.ClusterType()
	v.oneOfFold(path+".type", c.Type, ClusterStatic, ClusterStrictDNS, ClusterLogicalDNS, ClusterEDS)
	v.positiveDuration(path+".connect_timeout", c.ConnectTimeout)
	policy := strings.ToLower(c.LbPolicy)
	v.oneOfFold(path+".lb_policy", c.LbPolicy, "round_robin", "random", "least_request", "ring_hash", "maglev")
	v.positive(path+".max_connections", c.MaxConnections)
	v.positive(path+".max_pending_requests", c.MaxPendingRequests)
	if c.MaxRequestsPerConnection < 0 {
		v.fail(path+".max_requests_per_connection", "must not be negative")
	}
	v.nonNegative(path+".idle_timeout", c.IdleTimeout)
	v.positive(path+".per_connection_buffer_limit_bytes", c.PerConnectionBufferLimitBytes)
	v.intRange(path+".max_response_headers_kb", c.MaxResponseHeadersKB, 1, 8192)
	if ts := c.TransportSocket; ts != nil {
		v.upstreamTransport(path+".transport_socket", ts, c.HTTP2ProtocolOptions != nil)
	}
	if o := c.HTTP2ProtocolOptions; o != nil {
		// Envoy's ranges: a window below the protocol's 65535 is invalid.
		oPath := path + ".http2_protocol_options"
		v.intRange(oPath+".max_concurrent_streams", o.MaxConcurrentStreams, 1, 1<<31-1)
		v.intRange(oPath+".initial_stream_window_size", o.InitialStreamWindowSize, 65535, 1<<31-1)
		v.intRange(oPath+".initial_connection_window_size", o.InitialConnectionWindowSize, 65535, 1<<31-1)
	}
	v.loadAssignment(path, c, typ)
	v.discovery(path, c, typ)
	v.lbConfigs(path, c, policy)
	if len(c.HealthChecks) > 1 {
		v.fail(index(path+".health_checks", 1), "at most one health check per cluster is supported")
	}
	for i := range c.HealthChecks {
		v.healthCheck(index(path+".health_checks", i), &c.HealthChecks[i])
	}
	if o := c.OutlierDetection; o != nil {
		v.outlierDetection(path+".outlier_detection", o)
	}
	if cb := c.CircuitBreakers; cb != nil {
		v.circuitBreakers(path+".circuit_breakers", cb)
	}
}

func (v *validator) loadAssignment(path string, c *Cluster, typ string) {
	la := &c.LoadAssignment
	epPath := path + ".load_assignment.endpoints"
	if typ == ClusterEDS {
		if len(la.Endpoints) > 0 {
			v.fail(epPath, "not used by EDS clusters: their endpoints come from eds_cluster_config")
		}
		return
	}
	if len(la.Endpoints) == 0 {
		v.fail(epPath, "required")
	}
	if p := la.Policy; p != nil && p.OverprovisioningFactor < 1 {
		v.fail(path+".load_assignment.policy.overprovisioning_factor", "must be positive")
	}
	total := 0
	for i := range la.Endpoints {
		group := &la.Endpoints[i]
		gPath := index(epPath, i)
		v.intRange(gPath+".priority", group.Priority, 0, maxPriority)
		if len(group.LbEndpoints) == 0 {
			v.fail(gPath+".lb_endpoints", "required")
		}
		for j := range group.LbEndpoints {
			total++
			v.lbEndpoint(index(gPath+".lb_endpoints", j), &group.LbEndpoints[j], typ)
		}
	}
	if typ == ClusterLogicalDNS && total > 1 {
		v.fail(epPath, "LOGICAL_DNS clusters must have a single endpoint")
	}
}

// lbEndpoint checks one endpoint; in a DNS cluster its address may be a
// host name.
func (v *validator) lbEndpoint(path string, e *LbEndpoint, typ string) {
	sa := &e.Endpoint.Address.SocketAddress
	saPath := path + ".endpoint.address.socket_address"
	portOK := sa.PortValue >= 1 && sa.PortValue <= 65535
	if !portOK {
		v.fail(saPath+".port_value", "must be between 1 and 65535")
	}
	switch {
	case typ == ClusterStrictDNS || typ == ClusterLogicalDNS:
		if ip, err := netip.ParseAddr(sa.Address); err == nil {
			if portOK {
				sa.Addr = netip.AddrPortFrom(ip, uint16(sa.PortValue))
			}
		} else if sa.Address == "" {
			v.fail(saPath+".address", "required")
		} else if !ValidHostname(sa.Address) {
			v.failf(saPath+".address", "invalid host name %q", sa.Address)
		}
	case sa.Address == "":
		v.fail(saPath+".address", "required")
	default:
		ip, err := netip.ParseAddr(sa.Address)
		switch {
		case err != nil && typ == ClusterEDS:
			v.failf(saPath+".address", "invalid IP address %q (endpoint files take IP addresses)", sa.Address)
		case err != nil:
			v.failf(saPath+".address", "invalid IP address %q (a %s cluster takes IP addresses; use type STRICT_DNS or LOGICAL_DNS for host names)", sa.Address, typ)
		case portOK:
			sa.Addr = netip.AddrPortFrom(ip, uint16(sa.PortValue))
		}
	}
	v.intRange(path+".load_balancing_weight", e.LoadBalancingWeight, 1, maxWeight)
	if hc := e.Endpoint.HealthCheckConfig; hc != nil {
		v.intRange(path+".endpoint.health_check_config.port_value", hc.PortValue, 1, 65535)
	}
}

// ValidHostname accepts DNS names: dot-separated labels of letters,
// digits, '-' and '_', none empty or longer than 63 bytes, at most 253
// bytes in all; a trailing dot is allowed.
func ValidHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func (v *validator) discovery(path string, c *Cluster, typ string) {
	dns := typ == ClusterStrictDNS || typ == ClusterLogicalDNS
	notDNS := func(field string, set bool) {
		if set && !dns {
			v.failf(path+"."+field, "only for STRICT_DNS and LOGICAL_DNS clusters")
		}
	}
	notDNS("dns_failure_refresh_rate", c.DNSFailureRefreshRate != nil)
	notDNS("respect_dns_ttl", c.RespectDNSTTL)
	notDNS("dns_resolution_config", c.DNSResolutionConfig != nil)
	v.positiveDuration(path+".dns_refresh_rate", c.DNSRefreshRate)
	v.positiveDuration(path+".dns_min_refresh_rate", c.DNSMinRefreshRate)
	v.nonNegative(path+".dns_jitter", c.DNSJitter)
	v.oneOfFold(path+".dns_lookup_family", c.DNSLookupFamily, "AUTO", "V4_ONLY", "V6_ONLY", "V4_PREFERRED", "ALL")
	if r := c.DNSFailureRefreshRate; r != nil {
		rPath := path + ".dns_failure_refresh_rate"
		v.positiveDuration(rPath+".base_interval", r.BaseInterval)
		if r.MaxInterval != 0 && r.MaxInterval < r.BaseInterval {
			v.fail(rPath+".max_interval", "must not be shorter than base_interval")
		}
	}
	if d := c.DNSResolutionConfig; d != nil {
		rPath := path + ".dns_resolution_config.resolvers"
		if len(d.Resolvers) == 0 {
			v.fail(rPath, "required: at least one resolver")
		}
		for i := range d.Resolvers {
			sa := &d.Resolvers[i].SocketAddress
			sPath := index(rPath, i) + ".socket_address"
			ip, ok := v.ip(sPath+".address", sa.Address)
			portOK := sa.PortValue >= 1 && sa.PortValue <= 65535
			if !portOK {
				v.fail(sPath+".port_value", "must be between 1 and 65535")
			}
			if ok && portOK {
				sa.Addr = netip.AddrPortFrom(ip, uint16(sa.PortValue))
			}
		}
	}
	ePath := path + ".eds_cluster_config"
	switch e := c.EDSClusterConfig; {
	case typ == ClusterEDS && e == nil:
		v.fail(ePath, "required for EDS clusters")
	case typ != ClusterEDS && e != nil:
		v.fail(ePath, "only for EDS clusters")
	case e != nil:
		src := &e.EDSConfig
		sPath := ePath + ".eds_config"
		switch {
		case src.PathConfigSource != nil && src.Path != "":
			v.fail(sPath, "set one of path_config_source, path")
		case src.PathConfigSource == nil && src.Path == "":
			v.fail(sPath+".path_config_source.path", "required: the endpoint file")
		case src.PathConfigSource != nil:
			p := src.PathConfigSource
			if p.Path == "" {
				v.fail(sPath+".path_config_source.path", "required")
			} else {
				p.Path = v.resolveModule(p.Path)
			}
			if w := p.WatchedDirectory; w != nil {
				if w.Path == "" {
					v.fail(sPath+".path_config_source.watched_directory.path", "required")
				} else {
					w.Path = v.resolveModule(w.Path)
				}
			}
		default:
			src.Path = v.resolveModule(src.Path)
		}
	}
}

func (v *validator) lbConfigs(path string, c *Cluster, policy string) {
	onlyFor := func(field, want string, set bool) bool {
		if set && policy != want {
			v.failf(path+"."+field, "only with lb_policy %s", want)
			return false
		}
		return set
	}
	if cl := c.CommonLbConfig; cl != nil && cl.HealthyPanicThreshold != nil {
		v.percent(path+".common_lb_config.healthy_panic_threshold.value", cl.HealthyPanicThreshold.Value)
	}
	if onlyFor("round_robin_lb_config", "round_robin", c.RoundRobinLbConfig != nil) {
		v.slowStart(path+".round_robin_lb_config.slow_start_config", c.RoundRobinLbConfig.SlowStartConfig)
	}
	if onlyFor("least_request_lb_config", "least_request", c.LeastRequestLbConfig != nil) {
		lr := c.LeastRequestLbConfig
		v.intRange(path+".least_request_lb_config.choice_count", lr.ChoiceCount, 2, 100)
		v.slowStart(path+".least_request_lb_config.slow_start_config", lr.SlowStartConfig)
	}
	if onlyFor("ring_hash_lb_config", "ring_hash", c.RingHashLbConfig != nil) {
		r := c.RingHashLbConfig
		rPath := path + ".ring_hash_lb_config"
		v.intRange(rPath+".minimum_ring_size", r.MinimumRingSize, 1, maxRingSize)
		v.intRange(rPath+".maximum_ring_size", r.MaximumRingSize, 1, maxRingSize)
		if r.MaximumRingSize < r.MinimumRingSize {
			v.fail(rPath+".maximum_ring_size", "must not be smaller than minimum_ring_size")
		}
		v.oneOf(rPath+".hash_function", r.HashFunction, "XX_HASH")
	}
	if onlyFor("maglev_lb_config", "maglev", c.MaglevLbConfig != nil) {
		n := c.MaglevLbConfig.TableSize
		tPath := path + ".maglev_lb_config.table_size"
		if n < 2 || n > maxMaglevTableSize || !big.NewInt(int64(n)).ProbablyPrime(0) {
			v.failf(tPath, "must be a prime number between 2 and %d", maxMaglevTableSize)
		}
	}
}

func (v *validator) slowStart(path string, s *SlowStartConfig) {
	if s == nil {
		return
	}
	v.positiveDuration(path+".slow_start_window", s.SlowStartWindow)
	if a := s.Aggression; a != nil && a.DefaultValue <= 0 {
		v.fail(path+".aggression.default_value", "must be positive")
	}
	if m := s.MinWeightPercent; m != nil {
		v.percent(path+".min_weight_percent.value", m.Value)
	}
}

func (v *validator) percent(path string, x float64) {
	if x < 0 || x > 100 {
		v.fail(path, "must be between 0 and 100")
	}
}

func (v *validator) healthCheck(path string, h *HealthCheck) {
	v.positiveDuration(path+".timeout", h.Timeout)
	v.positiveDuration(path+".interval", h.Interval)
	v.nonNegative(path+".initial_jitter", h.InitialJitter)
	v.nonNegative(path+".interval_jitter", h.IntervalJitter)
	v.nonNegative(path+".unhealthy_interval", h.UnhealthyInterval)
	v.intRange(path+".interval_jitter_percent", h.IntervalJitterPercent, 0, 100)
	v.intRange(path+".unhealthy_threshold", h.UnhealthyThreshold, 1, 1<<31-1)
	v.intRange(path+".healthy_threshold", h.HealthyThreshold, 1, 1<<31-1)
	kinds := 0
	if h.HTTPHealthCheck != nil {
		kinds++
	}
	if h.TCPHealthCheck != nil {
		kinds++
	}
	if h.GRPCHealthCheck != nil {
		kinds++
	}
	if kinds != 1 {
		v.fail(path, "exactly one of http_health_check, tcp_health_check, grpc_health_check is required")
	}
	if x := h.HTTPHealthCheck; x != nil {
		p := path + ".http_health_check"
		switch {
		case x.Path == "":
			v.fail(p+".path", "required")
		case x.Path[0] != '/' || !validHeaderValue(x.Path) || strings.ContainsAny(x.Path, " \t"):
			v.failf(p+".path", "invalid path %q: must start with \"/\" and hold no spaces or control characters", x.Path)
		}
		if x.Host != "" && !validHeaderValue(x.Host) {
			v.fail(p+".host", "invalid host")
		}
		if !isToken(x.Method) || x.Method == "CONNECT" {
			v.failf(p+".method", "invalid method %q", x.Method)
		}
		for i, r := range x.ExpectedStatuses {
			rPath := index(p+".expected_statuses", i)
			if r.Start < 100 || r.Start > 599 {
				v.fail(rPath+".start", "must be between 100 and 599")
			}
			if r.End <= r.Start || r.End > 600 {
				v.fail(rPath+".end", "must be above start and at most 600 (the range excludes end)")
			}
		}
		v.headersToAdd(p+".request_headers_to_add", x.RequestHeadersToAdd)
		v.oneOf(p+".codec_client_type", x.CodecClientType, "HTTP1", "HTTP2")
	}
	if x := h.TCPHealthCheck; x != nil {
		p := path + ".tcp_health_check"
		if x.Send != nil {
			v.payload(p+".send", x.Send)
		}
		for i := range x.Receive {
			v.payload(index(p+".receive", i), &x.Receive[i])
		}
	}
	if x := h.GRPCHealthCheck; x != nil && x.Authority != "" && !validHeaderValue(x.Authority) {
		v.fail(path+".grpc_health_check.authority", "invalid authority")
	}
}

// payload decodes Envoy's hex text or base64 binary.
func (v *validator) payload(path string, p *Payload) {
	switch {
	case (p.Text == "") == (p.Binary == ""):
		v.fail(path, "exactly one of text (hex), binary (base64) is required")
	case p.Text != "":
		b, err := hex.DecodeString(p.Text)
		if err != nil {
			v.failf(path+".text", "invalid hex %q", p.Text)
		}
		p.Bytes = b
	default:
		b, err := base64.StdEncoding.DecodeString(p.Binary)
		if err != nil {
			v.failf(path+".binary", "invalid base64 %q", p.Binary)
		}
		p.Bytes = b
	}
}

func (v *validator) outlierDetection(path string, o *OutlierDetection) {
	v.intRange(path+".consecutive_5xx", o.Consecutive5xx, 0, 1<<31-1)
	v.intRange(path+".consecutive_gateway_failure", o.ConsecutiveGatewayFailure, 0, 1<<31-1)
	v.intRange(path+".consecutive_local_origin_failure", o.ConsecutiveLocalOriginFailure, 0, 1<<31-1)
	v.intRange(path+".enforcing_consecutive_5xx", o.EnforcingConsecutive5xx, 0, 100)
	v.intRange(path+".enforcing_consecutive_gateway_failure", o.EnforcingConsecutiveGatewayFailure, 0, 100)
	v.intRange(path+".enforcing_consecutive_local_origin_failure", o.EnforcingConsecutiveLocalOriginFailure, 0, 100)
	v.positiveDuration(path+".interval", o.Interval)
	v.positiveDuration(path+".base_ejection_time", o.BaseEjectionTime)
	v.nonNegative(path+".max_ejection_time_jitter", o.MaxEjectionTimeJitter)
	if o.MaxEjectionTime < o.BaseEjectionTime {
		v.fail(path+".max_ejection_time", "must not be shorter than base_ejection_time")
	}
	v.intRange(path+".max_ejection_percent", o.MaxEjectionPercent, 0, 100)
}

func (v *validator) circuitBreakers(path string, cb *CircuitBreakers) {
	tPath := path + ".thresholds"
	if len(cb.Thresholds) > 1 {
		v.fail(index(tPath, 1), "only one entry (priority DEFAULT) is supported")
	}
	for i := range cb.Thresholds {
		t := &cb.Thresholds[i]
		p := index(tPath, i)
		v.oneOf(p+".priority", t.Priority, "DEFAULT")
		if t.MaxConnections != 0 {
			v.positive(p+".max_connections", t.MaxConnections)
		}
		if t.MaxPendingRequests != 0 {
			v.positive(p+".max_pending_requests", t.MaxPendingRequests)
		}
		v.intRange(p+".max_retries", t.MaxRetries, 0, 1<<31-1)
		if b := t.RetryBudget; b != nil {
			if b.BudgetPercent != nil {
				v.percent(p+".retry_budget.budget_percent.value", b.BudgetPercent.Value)
			}
			v.intRange(p+".retry_budget.min_retry_concurrency", b.MinRetryConcurrency, 0, 1<<31-1)
		}
	}
}

// oneOfFold is oneOf, case-insensitively (Envoy's enums are upper case;
// sluice also takes them in lower case).
func (v *validator) oneOfFold(path, got string, allowed ...string) {
	for _, a := range allowed {
		if strings.EqualFold(got, a) {
			return
		}
	}
	if got == "" {
		v.fail(path, "required")
		return
	}
	v.failf(path, "invalid value %q: want %s", got, strings.Join(allowed, "|"))
}
