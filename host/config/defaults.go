package config

import (
	"runtime"
	"time"
)

// defaulter is implemented by structs whose zero value is not the default.
// The decoder calls applyDefaults before decoding into a fresh value, so a
// key present in the file always wins.
type defaulter interface{ applyDefaults() }

const maxConcurrency = 256

func (c *Config) applyDefaults() {
	// GOMAXPROCS, not NumCPU: it honours the cgroup CPU quota (a container
	// limited to 2 CPUs on a 64-core host), and more workers than CPUs
	// only adds context switches and tail latency.
	c.Concurrency = min(runtime.GOMAXPROCS(0), maxConcurrency)
	c.DrainTimeout = 10 * time.Second
	c.IOUring = IOUringAuto
}

func (w *Watchdog) applyDefaults() {
	w.MissTimeout = 200 * time.Millisecond
	w.MegamissTimeout = time.Second
}

func (o *Overload) applyDefaults() {
	o.RefreshInterval = time.Second // Envoy's
}

func (l *Log) applyDefaults() {
	l.Level = "info"
	l.Format = "console"
}

func (l *Listener) applyDefaults() {
	l.PerConnectionBufferLimitBytes = 1 << 20
	l.NetworkFiltersTimeout = 15 * time.Second
	l.ListenerFiltersTimeout = 15 * time.Second // Envoy's
}

// Envoy has no default bound on a TLS handshake; an unbounded one lets a
// client that never finishes hold a connection and a helper goroutine.
func (f *FilterChain) applyDefaults() { f.TransportSocketConnectTimeout = 10 * time.Second }

func (t *TLSInspector) applyDefaults() { t.MaxClientHelloSize = maxClientHelloSize }

func (t *TCPProxy) applyDefaults() {
	t.IdleTimeout = time.Hour // Envoy's tcp_proxy default
}

func (h *HTTPConnectionManager) applyDefaults() {
	h.CodecType = "auto"
	h.ServerName = "sluice"
	h.GenerateRequestID = true
	h.IdleTimeout = 60 * time.Second
	h.RequestHeadersTimeout = 10 * time.Second
	h.StreamIdleTimeout = 300 * time.Second
	h.MaxRequestHeadersKB = 60
	h.MaxHeadersCount = 100
	h.MaxRequestLineBytes = 16384
	h.StreamBufferLimitBytes = 1 << 20
}

// Many streams per connection suit gRPC clients, which multiplex calls on
// one connection; the codec bounds memory per connection, not per stream.
func (o *DownstreamHTTP2Options) applyDefaults() {
	o.MaxConcurrentStreams = 1024
	o.InitialStreamWindowSize = 256 << 10
	o.InitialConnectionWindowSize = 1 << 20
}

func (a *AccessLog) applyDefaults() { a.Format = "text" }

func (u *UpgradeConfig) applyDefaults() { u.Enabled = true }

func (u *RouteUpgradeConfig) applyDefaults() { u.Enabled = true }

func (f *HTTPFilter) applyDefaults() { f.Config = []byte("null") }

func (m *RouteMatch) applyDefaults() { m.CaseSensitive = true }

func (r *RouteAction) applyDefaults() { r.Timeout = 15 * time.Second }

func (h *HeaderValueOption) applyDefaults() { h.AppendAction = AppendIfExistsOrAdd }

func (c *Cluster) applyDefaults() {
	c.Type = "STATIC"
	c.ConnectTimeout = 5 * time.Second
	c.LbPolicy = "round_robin"
	c.MaxConnections = 1024
	c.MaxPendingRequests = 1024
	c.IdleTimeout = 60 * time.Second
	c.PerConnectionBufferLimitBytes = 1 << 20
	c.MaxResponseHeadersKB = 60
	c.DNSRefreshRate = 5 * time.Second
	c.DNSMinRefreshRate = 5 * time.Second
	c.DNSLookupFamily = "AUTO"
}

func (p *LoadAssignmentPolicy) applyDefaults() { p.OverprovisioningFactor = 140 }

func (e *LbEndpoint) applyDefaults() { e.LoadBalancingWeight = 1 }

func (c *LeastRequestLbConfig) applyDefaults() { c.ChoiceCount = 2 }

func (c *RingHashLbConfig) applyDefaults() {
	c.MinimumRingSize = 1024
	c.MaximumRingSize = 8 << 20
	c.HashFunction = "XX_HASH"
}

func (c *MaglevLbConfig) applyDefaults() { c.TableSize = 65537 }

func (c *SlowStartConfig) applyDefaults() {}

func (r *RuntimeDouble) applyDefaults() { r.DefaultValue = 1 }

func (h *HTTPHealthCheck) applyDefaults() {
	h.Method = "GET"
	h.CodecClientType = "HTTP1"
}

// Envoy's outlier_detection defaults.
func (o *OutlierDetection) applyDefaults() {
	o.Consecutive5xx = 5
	o.ConsecutiveGatewayFailure = 5
	o.ConsecutiveLocalOriginFailure = 5
	o.EnforcingConsecutive5xx = 100
	o.EnforcingConsecutiveGatewayFailure = 0
	o.EnforcingConsecutiveLocalOriginFailure = 100
	o.Interval = 10 * time.Second
	o.BaseEjectionTime = 30 * time.Second
	o.MaxEjectionTime = 300 * time.Second
	o.MaxEjectionPercent = 10
	o.SuccessfulActiveHealthCheckUnejectHost = true
}

func (t *Thresholds) applyDefaults() {
	t.Priority = "DEFAULT"
	t.MaxRetries = 3
}

func (b *RetryBudget) applyDefaults() { b.MinRetryConcurrency = 3 }

func (r *RetryPolicy) applyDefaults() { r.NumRetries = 1 }

func (b *RetryBackOff) applyDefaults() { b.BaseInterval = 25 * time.Millisecond }

// UsesPreviousHosts reports whether retries avoid the hosts already tried.
func (p *RetryPolicy) UsesPreviousHosts() bool {
	for _, h := range p.RetryHostPredicate {
		if h.Name == "previous_hosts" || h.Name == "envoy.retry_host_predicates.previous_hosts" {
			return true
		}
	}
	return false
}

// HTTP/2 windows default to what bounds a stream's buffered response while
// its downstream is slow (see host/cluster).
func (o *HTTP2ProtocolOptions) applyDefaults() {
	o.MaxConcurrentStreams = 100
	o.InitialStreamWindowSize = 256 << 10
	o.InitialConnectionWindowSize = 1 << 20
}
