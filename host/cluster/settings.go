package cluster

import (
	"crypto/tls"
	"net/netip"
	"time"

	"github.com/sluiceproxy/sluice/host/healthcheck"
)

// Settings is what the pool needs to know about one cluster. NewManager
// builds it from config.Cluster; tests and embedders may build it directly.
type Settings struct {
	Name string
	// Endpoints is the shorthand for static endpoints of weight 1 at
	// priority 0; LbEndpoints is the full form (both may be used).
	Endpoints   []netip.AddrPort
	LbEndpoints []Endpoint
	// Discovery is how endpoints are found (Envoy's cluster type).
	Discovery DiscoveryType
	DNS       DNSOptions // strict_dns and logical_dns
	// EDSPath is the endpoint file of an eds cluster (discovery_eds.go);
	// EDSService picks its load assignment when the file holds several;
	// EDSWatchDir is watched for changes (default: the file's directory).
	EDSPath     string
	EDSService  string
	EDSWatchDir string

	LBPolicy       LBPolicy
	ConnectTimeout time.Duration // <= 0: DefaultConnectTimeout
	// MaxConnections bounds connections (open or connecting) across all
	// workers; <= 0: DefaultMaxConnections.
	MaxConnections int
	// MaxPendingRequests bounds requests waiting for a connection across
	// all workers; <= 0: DefaultMaxPendingRequests (config requires >= 1).
	MaxPendingRequests int
	// MaxRequestsPerConnection closes a connection after that many
	// requests; 0 is unlimited.
	MaxRequestsPerConnection int
	// IdleTimeout closes a pooled connection that stayed idle that long;
	// 0 keeps idle connections until the upstream closes them.
	IdleTimeout time.Duration
	// MaxResponseHeaderBytes bounds a response head, and trailers, from
	// the upstream (HTTP/1.1: the head's bytes; HTTP/2: the decoded header
	// list, RFC 9113 accounting, also advertised as
	// SETTINGS_MAX_HEADER_LIST_SIZE). Over it the stream fails with a
	// *HeadersTooLargeError. <= 0: DefaultMaxResponseHeaderBytes.
	MaxResponseHeaderBytes int
	// HTTP2 selects HTTP/2 with prior knowledge (h2c) to the endpoints
	// instead of HTTP/1.1; HTTP2Options tunes it.
	HTTP2        bool
	HTTP2Options HTTP2Options
	// TLS, when set, makes every connection to the endpoints TLS with the
	// config it returns (read per connection: a certificate reload
	// applies to new connections). The connect timeout then covers the
	// handshake too, a failed handshake is a connect failure whose error
	// is a *worker.HandshakeError, and an endpoint that negotiates
	// (ALPN) another protocol than the cluster's fails with ErrALPN.
	TLS func() *tls.Config

	// Retries (Envoy's circuit_breakers max_retries and retry_budget):
	// how many retries may be outstanding at once, cluster-wide.
	MaxRetries  int          // 0: DefaultMaxRetries; negative: none; ignored with a budget
	RetryBudget *RetryBudget // nil: MaxRetries applies

	// Load balancing (Envoy's common_lb_config and the per-policy
	// configs).
	//
	// PanicThreshold is healthy_panic_threshold in percent: a priority
	// with a smaller share of healthy hosts is in panic and balances over
	// all its hosts. 0 takes the default (50); negative disables panic
	// routing (then a cluster without healthy hosts fails requests).
	PanicThreshold float64
	// OverprovisioningFactor (percent, default 140) scales a priority's
	// healthy share before traffic spills to the next priority.
	OverprovisioningFactor uint32
	RingHash               RingHashOptions
	Maglev                 MaglevOptions
	LeastRequestChoices    int // least_request choice_count; 0: 2
	SlowStart              SlowStartOptions

	// HealthChecks are the active health checks (healthcheck.go);
	// Outlier is passive outlier detection (outlier.go), nil for none.
	HealthChecks []healthcheck.Config
	Outlier      *OutlierOptions
}

// DiscoveryType is Envoy's cluster type.
type DiscoveryType uint8

const (
	// Static: the endpoints are IP addresses in the configuration.
	Static DiscoveryType = iota
	// StrictDNS: every endpoint's name is resolved periodically and each
	// address it resolves to is a host.
	StrictDNS
	// LogicalDNS: one endpoint whose name is resolved periodically; new
	// connections go to the first address of the latest answer, existing
	// ones are kept.
	LogicalDNS
	// EDS: the endpoints are read from a file that is watched for changes.
	EDS
)

func (d DiscoveryType) String() string {
	switch d {
	case StrictDNS:
		return "STRICT_DNS"
	case LogicalDNS:
		return "LOGICAL_DNS"
	case EDS:
		return "EDS"
	}
	return "STATIC"
}

// DNSOptions tune DNS discovery (Envoy's names).
type DNSOptions struct {
	RefreshRate time.Duration // dns_refresh_rate; default 5s
	// FailureBase/FailureMax are dns_failure_refresh_rate: after a
	// failed resolution, retry after an exponentially growing, jittered
	// delay between them. Zero: retry at RefreshRate.
	FailureBase, FailureMax time.Duration
	RespectTTL              bool          // respect_dns_ttl: refresh when the answer's TTL runs out
	MinRefreshRate          time.Duration // dns_min_refresh_rate: floor of TTL refreshes; default 5s
	Jitter                  time.Duration // dns_jitter: up to this much is added to each refresh
	LookupFamily            LookupFamily
	// Resolvers are the DNS servers to ask (dns_resolution_config);
	// empty: the system's (/etc/resolv.conf, /etc/hosts).
	Resolvers []netip.AddrPort
}

// LookupFamily is dns_lookup_family.
type LookupFamily uint8

const (
	// Auto asks for IPv6 addresses and falls back to IPv4 (Envoy's default).
	Auto LookupFamily = iota
	V4Only
	V6Only
	// V4Preferred asks for IPv4 addresses and falls back to IPv6.
	V4Preferred
	// All uses the addresses of both families.
	All
)

func (f LookupFamily) String() string {
	switch f {
	case V4Only:
		return "V4_ONLY"
	case V6Only:
		return "V6_ONLY"
	case V4Preferred:
		return "V4_PREFERRED"
	case All:
		return "ALL"
	}
	return "AUTO"
}

// SlowStartOptions are Envoy's slow_start_config (round_robin and
// least_request): a host added to the cluster, or healthy again, gets a
// growing share of its weight for Window.
type SlowStartOptions struct {
	Window           time.Duration // 0: no slow start
	Aggression       float64       // 0: 1.0 (linear)
	MinWeightPercent float64       // 0: 10
}

// RetryBudget is Envoy's retry_budget: retries outstanding may be at most
// BudgetPercent of the requests active or pending, but always at least
// MinRetryConcurrency.
type RetryBudget struct {
	BudgetPercent       float64 // 0: 20
	MinRetryConcurrency int     // 0: 3; negative: 0
}

// HTTP2Options are the HTTP/2 settings sluice uses as a client (Envoy's
// http2_protocol_options). Zero values take the defaults below.
type HTTP2Options struct {
	// MaxConcurrentStreams caps the streams sluice opens on one
	// connection (the peer's SETTINGS_MAX_CONCURRENT_STREAMS may lower it);
	// a full connection makes the pool open another, within max_connections.
	MaxConcurrentStreams uint32
	// InitialStreamWindowSize is the receive window of each stream: how
	// much response body one stream may have buffered here while its
	// downstream is paused.
	InitialStreamWindowSize uint32
	// InitialConnectionWindowSize is the connection's receive window.
	InitialConnectionWindowSize uint32
}

// Envoy's defaults for the values a config may leave out.
const (
	DefaultConnectTimeout     = 5 * time.Second
	DefaultMaxConnections     = 1024
	DefaultMaxPendingRequests = 1024
	DefaultMaxRetries         = 3
	// DefaultMaxResponseHeaderBytes is Envoy's 60 KiB.
	DefaultMaxResponseHeaderBytes = 60 << 10

	DefaultPanicThreshold         = 50.0
	DefaultOverprovisioningFactor = 140
	DefaultDNSRefreshRate         = 5 * time.Second
	DefaultDNSMinRefreshRate      = 5 * time.Second

	DefaultHTTP2MaxConcurrentStreams = 100
	// The windows bound the response bytes buffered per stream and per
	// connection while a downstream is slow; Envoy's 256 MiB defaults
	// assume a per-stream buffer limit that sluice enforces with them.
	DefaultHTTP2StreamWindow     = 256 << 10
	DefaultHTTP2ConnectionWindow = 1 << 20
)

func (s Settings) withDefaults() Settings {
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = DefaultConnectTimeout
	}
	if s.MaxConnections <= 0 {
		s.MaxConnections = DefaultMaxConnections
	}
	if s.MaxPendingRequests <= 0 {
		s.MaxPendingRequests = DefaultMaxPendingRequests
	}
	if s.MaxRequestsPerConnection < 0 {
		s.MaxRequestsPerConnection = 0
	}
	if s.IdleTimeout < 0 {
		s.IdleTimeout = 0
	}
	if s.MaxResponseHeaderBytes <= 0 {
		s.MaxResponseHeaderBytes = DefaultMaxResponseHeaderBytes
	}
	switch {
	case s.MaxRetries == 0:
		s.MaxRetries = DefaultMaxRetries
	case s.MaxRetries < 0:
		s.MaxRetries = 0
	}
	if b := s.RetryBudget; b != nil {
		bb := *b
		if bb.BudgetPercent <= 0 {
			bb.BudgetPercent = 20
		}
		switch {
		case bb.MinRetryConcurrency == 0:
			bb.MinRetryConcurrency = 3
		case bb.MinRetryConcurrency < 0:
			bb.MinRetryConcurrency = 0
		}
		s.RetryBudget = &bb
	}
	switch {
	case s.PanicThreshold == 0:
		s.PanicThreshold = DefaultPanicThreshold
	case s.PanicThreshold < 0:
		s.PanicThreshold = 0
	}
	if s.OverprovisioningFactor == 0 {
		s.OverprovisioningFactor = DefaultOverprovisioningFactor
	}
	if s.RingHash.MinimumRingSize == 0 {
		s.RingHash.MinimumRingSize = DefaultMinimumRingSize
	}
	if s.RingHash.MaximumRingSize == 0 {
		s.RingHash.MaximumRingSize = DefaultMaximumRingSize
	}
	s.RingHash.MinimumRingSize = min(s.RingHash.MinimumRingSize, s.RingHash.MaximumRingSize)
	if s.Maglev.TableSize < 2 {
		s.Maglev.TableSize = DefaultMaglevTableSize
	}
	if s.LeastRequestChoices < 2 {
		s.LeastRequestChoices = 2
	}
	if ss := &s.SlowStart; ss.Window > 0 {
		if ss.Aggression <= 0 {
			ss.Aggression = 1
		}
		if ss.MinWeightPercent <= 0 {
			ss.MinWeightPercent = 10
		}
	}
	if d := &s.DNS; s.Discovery == StrictDNS || s.Discovery == LogicalDNS {
		if d.RefreshRate <= 0 {
			d.RefreshRate = DefaultDNSRefreshRate
		}
		if d.MinRefreshRate <= 0 {
			d.MinRefreshRate = DefaultDNSMinRefreshRate
		}
		if d.FailureBase > 0 && d.FailureMax < d.FailureBase {
			d.FailureMax = 10 * d.FailureBase
		}
	}
	o := &s.HTTP2Options
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = DefaultHTTP2MaxConcurrentStreams
	}
	if o.InitialStreamWindowSize < minWindow {
		o.InitialStreamWindowSize = DefaultHTTP2StreamWindow
	}
	if o.InitialConnectionWindowSize < minWindow {
		o.InitialConnectionWindowSize = DefaultHTTP2ConnectionWindow
	}
	s.HealthChecks = append([]healthcheck.Config(nil), s.HealthChecks...)
	for i := range s.HealthChecks {
		s.HealthChecks[i] = s.HealthChecks[i].WithDefaults()
	}
	if s.Outlier != nil {
		o := s.Outlier.withDefaults()
		s.Outlier = &o
	}
	return s
}

// staticEndpoints lists the endpoints a static cluster starts with (DNS
// and file clusters start empty and learn theirs).
func (s *Settings) staticEndpoints() []Endpoint {
	if s.Discovery != Static {
		return nil
	}
	out := make([]Endpoint, 0, len(s.Endpoints)+len(s.LbEndpoints))
	for _, a := range s.Endpoints {
		out = append(out, Endpoint{Addr: a, Weight: 1})
	}
	return append(out, s.LbEndpoints...)
}
