package config

import (
	"encoding/json"
	"net/netip"
	"time"
)

// Config is the whole sluice configuration.
type Config struct {
	Concurrency int `yaml:"concurrency"`
	// DrainDelay is how long a drain keeps accepting (with /ready failing)
	// before the listeners close: time for load balancers and Kubernetes
	// to stop sending new connections.
	DrainDelay   time.Duration `yaml:"drain_delay"`
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// Watch reloads the config when its file changes (debounced), as
	// SIGHUP and POST /reload do.
	Watch bool `yaml:"watch"`
	// IOUring is "auto" (the workers batch their reads and sends through
	// io_uring where the kernel allows it) or "off" (a system call per
	// connection).
	IOUring  string    `yaml:"io_uring"`
	Watchdog Watchdog  `yaml:"watchdog"`
	Log      Log       `yaml:"log"`
	Admin    *Admin    `yaml:"admin"`    // nil: no admin listener
	Overload *Overload `yaml:"overload"` // nil: no overload manager
	// HotRestart: nil, no binary upgrade by socket takeover.
	HotRestart *HotRestart `yaml:"hot_restart"`
	Listeners  []Listener  `yaml:"listeners"`
	Clusters   []Cluster   `yaml:"clusters"`
}

// IOUring values.
const (
	IOUringAuto = "auto"
	IOUringOff  = "off"
)

// Watchdog watches the workers (Envoy's worker watchdog): a worker that
// stays in one callback (a blocking module hook, a filter in a loop) for
// MissTimeout is counted, for MegamissTimeout makes /ready fail naming it,
// and for KillTimeout (0: never) stops the process so its supervisor
// restarts it. A worker that dies always stops the process.
type Watchdog struct {
	MissTimeout     time.Duration `yaml:"miss_timeout"`
	MegamissTimeout time.Duration `yaml:"megamiss_timeout"`
	KillTimeout     time.Duration `yaml:"kill_timeout"`
}

// Overload is the overload manager (Envoy's): past MaxHeapBytes of Go heap
// its actions switch on, and off again below ReleaseHeapBytes; and the
// bound on downstream connections across every listener.
type Overload struct {
	RefreshInterval                time.Duration `yaml:"refresh_interval"`
	MaxHeapBytes                   int           `yaml:"max_heap_bytes"`     // 0: no heap trigger
	ReleaseHeapBytes               int           `yaml:"release_heap_bytes"` // 0: 90 % of MaxHeapBytes
	Actions                        []string      `yaml:"actions"`
	GlobalDownstreamMaxConnections int           `yaml:"global_downstream_max_connections"` // 0: none
}

// Overload actions.
const (
	ActionStopAcceptingConnections = "stop_accepting_connections"
	ActionDisableKeepalive         = "disable_keepalive"
	ActionShedNewStreams           = "shed_new_streams"
)

// Log configures zap.
type Log struct {
	Level  string `yaml:"level"`  // debug|info|warn|error
	Format string `yaml:"format"` // console|json
}

// Admin is the admin HTTP listener.
type Admin struct {
	Address string         `yaml:"address"`
	Addr    netip.AddrPort `yaml:"-"` // parsed Address, set by validation
}

// HotRestart lets a new sluice process take over this one's listening
// sockets (`sluice run --takeover`): Socket is the unix socket the running
// process hands them over on.
type HotRestart struct {
	Socket string `yaml:"socket"`
}

// Listener accepts downstream connections on one address. Its listener
// filters look at a new connection first (PROXY protocol, TLS
// ClientHello); then the filter chain whose filter_chain_match fits the
// connection best takes it (default_filter_chain when none does).
type Listener struct {
	Name                          string         `yaml:"name"`
	Address                       string         `yaml:"address"`
	Addr                          netip.AddrPort `yaml:"-"` // parsed Address, set by validation
	PerConnectionBufferLimitBytes int            `yaml:"per_connection_buffer_limit_bytes"`
	NetworkFiltersTimeout         time.Duration  `yaml:"network_filters_timeout"`
	// MaxConnections bounds the listener's open connections (0: none);
	// past it new ones are closed right after accept.
	MaxConnections                   int              `yaml:"max_connections"`
	ListenerFilters                  []ListenerFilter `yaml:"listener_filters"`
	ListenerFiltersTimeout           time.Duration    `yaml:"listener_filters_timeout"`
	ContinueOnListenerFiltersTimeout bool             `yaml:"continue_on_listener_filters_timeout"`
	FilterChains                     []FilterChain    `yaml:"filter_chains"`
	DefaultFilterChain               *FilterChain     `yaml:"default_filter_chain"`
}

// FilterChain is one network filter chain of a listener, with the
// connections it takes (FilterChainMatch; nil: all) and its transport
// (TLS when TransportSocket is set).
type FilterChain struct {
	Name                          string            `yaml:"name"`
	FilterChainMatch              *FilterChainMatch `yaml:"filter_chain_match"`
	TransportSocket               *TransportSocket  `yaml:"transport_socket"`
	TransportSocketConnectTimeout time.Duration     `yaml:"transport_socket_connect_timeout"`
	Filters                       []NetworkFilter   `yaml:"filters"`
}

// Built-in network filter names (each also under Envoy's long name).
const (
	HCMFilterName           = "http_connection_manager"
	HCMEnvoyFilterName      = "envoy.filters.network.http_connection_manager"
	TCPProxyFilterName      = "tcp_proxy"
	TCPProxyEnvoyFilterName = "envoy.filters.network.tcp_proxy"
	ClientIPAllowFilterName = "client_ip_allow"
)

// NetworkFilter is one network filter of a chain. Its config is decoded by
// the filter's name into one of the typed fields (they share the YAML key
// "config"); an unknown name is reported once, by name.
type NetworkFilter struct {
	Name string `yaml:"name"`
	// A module network filter (ABI 2.1) has module and filter_name; its
	// config is handed to the module as JSON, like an HTTP module filter's.
	Module                   string `yaml:"module"`
	ModulePath               string `yaml:"-"` // Module resolved against the config file's directory
	FilterName               string `yaml:"filter_name"`
	AllowInsecurePermissions bool   `yaml:"allow_insecure_permissions"`

	HCM           *HTTPConnectionManager `yaml:"config"`
	TCPProxy      *TCPProxy              `yaml:"config"`
	ClientIPAllow *ClientIPAllow         `yaml:"config"`
	ModuleConfig  RawJSON                `yaml:"config"` // JSON; empty when absent
}

// IsModule reports whether the entry is a module network filter.
func (f *NetworkFilter) IsModule() bool { return f.Module != "" || f.FilterName != "" }

// skipField decodes "config" only into the field of the filter's kind.
func (f *NetworkFilter) skipField(key, field string) bool {
	if key != "config" {
		return false
	}
	if f.IsModule() {
		return field != "ModuleConfig"
	}
	switch field {
	case "HCM":
		return !f.IsHCM()
	case "TCPProxy":
		return !f.IsTCPProxy()
	case "ClientIPAllow":
		return f.Name != ClientIPAllowFilterName
	}
	return true
}

// MarshalYAML writes the one config the filter has (for /config_dump).
func (f NetworkFilter) MarshalYAML() (any, error) {
	out := map[string]any{"name": f.Name}
	switch {
	case f.IsModule():
		out["module"] = f.Module
		out["filter_name"] = f.FilterName
		if f.AllowInsecurePermissions {
			out["allow_insecure_permissions"] = true
		}
		out["config"] = f.ModuleConfig
	case f.HCM != nil:
		out["config"] = f.HCM
	case f.TCPProxy != nil:
		out["config"] = f.TCPProxy
	case f.ClientIPAllow != nil:
		out["config"] = f.ClientIPAllow
	}
	return out, nil
}

// IsHCM reports whether the filter is the HTTP connection manager.
func (f *NetworkFilter) IsHCM() bool { return f.Name == HCMFilterName || f.Name == HCMEnvoyFilterName }

// IsTCPProxy reports whether the filter is tcp_proxy.
func (f *NetworkFilter) IsTCPProxy() bool {
	return f.Name == TCPProxyFilterName || f.Name == TCPProxyEnvoyFilterName
}

// IsTerminal reports whether the filter ends a chain (it moves the bytes
// on rather than looking at them).
func (f *NetworkFilter) IsTerminal() bool { return !f.IsModule() && (f.IsHCM() || f.IsTCPProxy()) }

// TCPProxy forwards a connection's bytes to an endpoint of a cluster
// (Envoy's tcp_proxy).
type TCPProxy struct {
	StatPrefix                      string        `yaml:"stat_prefix"`
	Cluster                         string        `yaml:"cluster"`
	IdleTimeout                     time.Duration `yaml:"idle_timeout"`
	MaxDownstreamConnectionDuration time.Duration `yaml:"max_downstream_connection_duration"`
	AccessLog                       []AccessLog   `yaml:"access_log"`
}

// ClientIPAllow closes connections from addresses outside its list.
type ClientIPAllow struct {
	StatPrefix string   `yaml:"stat_prefix"`
	Allow      []string `yaml:"allow"`
}

// HTTPConnectionManager configures HTTP handling on a listener.
type HTTPConnectionManager struct {
	StatPrefix                string        `yaml:"stat_prefix"`
	CodecType                 string        `yaml:"codec_type"` // auto|http1|http2
	ServerName                string        `yaml:"server_name"`
	Via                       string        `yaml:"via"`
	UseRemoteAddress          bool          `yaml:"use_remote_address"`
	XffNumTrustedHops         int           `yaml:"xff_num_trusted_hops"`
	SkipXffAppend             bool          `yaml:"skip_xff_append"`
	GenerateRequestID         bool          `yaml:"generate_request_id"`
	PreserveExternalRequestID bool          `yaml:"preserve_external_request_id"`
	IdleTimeout               time.Duration `yaml:"idle_timeout"`
	RequestHeadersTimeout     time.Duration `yaml:"request_headers_timeout"`
	StreamIdleTimeout         time.Duration `yaml:"stream_idle_timeout"`
	RequestTimeout            time.Duration `yaml:"request_timeout"`
	MaxRequestHeadersKB       int           `yaml:"max_request_headers_kb"`
	MaxHeadersCount           int           `yaml:"max_headers_count"`
	MaxRequestLineBytes       int           `yaml:"max_request_line_bytes"`
	StreamBufferLimitBytes    int           `yaml:"stream_buffer_limit_bytes"`
	// HTTP2ProtocolOptions tunes downstream HTTP/2 (Envoy's field).
	HTTP2ProtocolOptions DownstreamHTTP2Options `yaml:"http2_protocol_options"`
	AccessLog            []AccessLog            `yaml:"access_log"`
	UpgradeConfigs       []UpgradeConfig        `yaml:"upgrade_configs"`
	HTTPFilters          []HTTPFilter           `yaml:"http_filters"`
	RouteConfig          RouteConfiguration     `yaml:"route_config"`
}

// DownstreamHTTP2Options are the HTTP/2 settings sluice uses as a server.
// Same fields as a cluster's, different defaults.
type DownstreamHTTP2Options struct {
	MaxConcurrentStreams        int `yaml:"max_concurrent_streams"`
	InitialStreamWindowSize     int `yaml:"initial_stream_window_size"`
	InitialConnectionWindowSize int `yaml:"initial_connection_window_size"`
}

// UpgradeConfig allows one kind of protocol switch on every route of a
// connection manager (Envoy's HttpConnectionManager.UpgradeConfig without
// custom filter chains): "websocket" or any other Upgrade token, or
// "CONNECT". A route's own entry for the same type overrides it.
type UpgradeConfig struct {
	UpgradeType string `yaml:"upgrade_type"` // compared case-insensitively
	Enabled     bool   `yaml:"enabled"`      // default true
}

// RouteUpgradeConfig is a route's override of the connection manager's
// upgrade_configs entry of the same type (Envoy's
// RouteAction.UpgradeConfig).
type RouteUpgradeConfig struct {
	UpgradeType string `yaml:"upgrade_type"`
	Enabled     bool   `yaml:"enabled"` // default true
	// ConnectConfig is accepted for CONNECT, as in Envoy, where it asks
	// the proxy to terminate CONNECT; sluice always terminates it.
	ConnectConfig *ConnectConfig `yaml:"connect_config"`
}

// ConnectConfig is Envoy's RouteAction.UpgradeConfig.ConnectConfig; none of
// its options is supported, so it must be empty.
type ConnectConfig struct{}

// ConnectMatcher is Envoy's RouteMatch.ConnectMatcher: the route matches
// CONNECT requests (and only those). It has no fields.
type ConnectMatcher struct{}

// AccessLog writes one line per finished stream.
type AccessLog struct {
	Path   string `yaml:"path"`
	Format string `yaml:"format"` // json|text
}

// RouterFilterName is the built-in terminal HTTP filter.
const RouterFilterName = "router"

// HTTPFilter is one entry of an HCM's http_filters. A filter with Module set
// is a module filter; otherwise it is built in (only "router" exists).
type HTTPFilter struct {
	Name                     string  `yaml:"name"`
	Module                   string  `yaml:"module"`
	ModulePath               string  `yaml:"-"` // Module resolved against the config file's directory
	FilterName               string  `yaml:"filter_name"`
	AllowInsecurePermissions bool    `yaml:"allow_insecure_permissions"`
	Config                   RawJSON `yaml:"config"` // JSON; "null" when absent
}

// IsModule reports whether the filter is provided by a module.
func (f *HTTPFilter) IsModule() bool { return f.Module != "" || f.FilterName != "" }

// RouteConfiguration is an HCM's route table.
type RouteConfiguration struct {
	Name         string        `yaml:"name"`
	VirtualHosts []VirtualHost `yaml:"virtual_hosts"`
}

// VirtualHost groups routes by :authority.
type VirtualHost struct {
	Name                    string              `yaml:"name"`
	Domains                 []string            `yaml:"domains"`
	RequestHeadersToAdd     []HeaderValueOption `yaml:"request_headers_to_add"`
	RequestHeadersToRemove  []string            `yaml:"request_headers_to_remove"`
	ResponseHeadersToAdd    []HeaderValueOption `yaml:"response_headers_to_add"`
	ResponseHeadersToRemove []string            `yaml:"response_headers_to_remove"`
	TypedPerFilterConfig    map[string]RawJSON  `yaml:"typed_per_filter_config"` // filter name → JSON
	Routes                  []Route             `yaml:"routes"`
	// RetryPolicy applies to routes without their own.
	RetryPolicy *RetryPolicy `yaml:"retry_policy"`
	// IncludeRequestAttemptCount adds x-envoy-attempt-count (1 for the
	// first try) to requests going upstream; IncludeAttemptCountInResponse
	// to the responses sent downstream.
	IncludeRequestAttemptCount    bool `yaml:"include_request_attempt_count"`
	IncludeAttemptCountInResponse bool `yaml:"include_attempt_count_in_response"`
	// PerRequestBufferLimitBytes bounds the request body kept for retries
	// (default: the listener's per_connection_buffer_limit_bytes).
	PerRequestBufferLimitBytes *int `yaml:"per_request_buffer_limit_bytes"`
}

// Route is one routing rule.
type Route struct {
	Name                    string              `yaml:"name"`
	Match                   RouteMatch          `yaml:"match"`
	Route                   *RouteAction        `yaml:"route"`
	DirectResponse          *DirectResponse     `yaml:"direct_response"`
	RequestHeadersToAdd     []HeaderValueOption `yaml:"request_headers_to_add"`
	RequestHeadersToRemove  []string            `yaml:"request_headers_to_remove"`
	ResponseHeadersToAdd    []HeaderValueOption `yaml:"response_headers_to_add"`
	ResponseHeadersToRemove []string            `yaml:"response_headers_to_remove"`
	TypedPerFilterConfig    map[string]RawJSON  `yaml:"typed_per_filter_config"`
	// PerRequestBufferLimitBytes replaces the virtual host's.
	PerRequestBufferLimitBytes *int `yaml:"per_request_buffer_limit_bytes"`
}

// RouteMatch selects requests by path and headers. Exactly one of Prefix,
// Path, SafeRegex and ConnectMatcher is set.
type RouteMatch struct {
	Prefix         string          `yaml:"prefix"`
	Path           string          `yaml:"path"`
	SafeRegex      string          `yaml:"safe_regex"` // RE2, full match of the path without query
	ConnectMatcher *ConnectMatcher `yaml:"connect_matcher"`
	CaseSensitive  bool            `yaml:"case_sensitive"`
	Headers        []HeaderMatcher `yaml:"headers"`
}

// HeaderMatcher matches one request header. Exactly one of the match
// pointers is set; pointers tell "absent" from an empty value.
type HeaderMatcher struct {
	Name           string  `yaml:"name"`
	ExactMatch     *string `yaml:"exact_match"`
	PresentMatch   *bool   `yaml:"present_match"`
	SafeRegexMatch *string `yaml:"safe_regex_match"`
	PrefixMatch    *string `yaml:"prefix_match"`
	InvertMatch    bool    `yaml:"invert_match"`
}

// RouteAction forwards to a cluster.
type RouteAction struct {
	Cluster            string        `yaml:"cluster"`
	Timeout            time.Duration `yaml:"timeout"` // 0 disables
	PrefixRewrite      string        `yaml:"prefix_rewrite"`
	HostRewriteLiteral string        `yaml:"host_rewrite_literal"`
	AutoHostRewrite    bool          `yaml:"auto_host_rewrite"`
	// UpgradeConfigs override the connection manager's upgrade_configs
	// for this route, by upgrade_type.
	UpgradeConfigs []RouteUpgradeConfig `yaml:"upgrade_configs"`
	// HashPolicy makes the request's hash for ring_hash and maglev.
	HashPolicy []HashPolicy `yaml:"hash_policy"`
	// RetryPolicy replaces the virtual host's.
	RetryPolicy *RetryPolicy `yaml:"retry_policy"`
	// MaxStreamDuration bounds the whole stream and, for gRPC, lets the
	// client's grpc-timeout replace Timeout (Envoy's field).
	MaxStreamDuration *MaxStreamDuration `yaml:"max_stream_duration"`
}

// HashPolicy is one source of a request's hash (Envoy's
// RouteAction.HashPolicy); exactly one of its sources is set.
type HashPolicy struct {
	Header               *HashHeader               `yaml:"header"`
	Cookie               *HashCookie               `yaml:"cookie"`
	ConnectionProperties *HashConnectionProperties `yaml:"connection_properties"`
	QueryParameter       *HashQueryParameter       `yaml:"query_parameter"`
	// Terminal: when this policy produced a hash, later ones are skipped.
	Terminal bool `yaml:"terminal"`
}

// HashHeader hashes a request header's value(s).
type HashHeader struct {
	HeaderName string `yaml:"header_name"`
}

// HashCookie hashes a request cookie's value. Envoy can also make the
// cookie (ttl); sluice only reads it.
type HashCookie struct {
	Name string `yaml:"name"`
}

// HashConnectionProperties hashes the downstream address.
type HashConnectionProperties struct {
	SourceIP bool `yaml:"source_ip"`
}

// HashQueryParameter hashes a query parameter's value.
type HashQueryParameter struct {
	Name string `yaml:"name"`
}

// RetryPolicy is Envoy's RetryPolicy (route or virtual host).
type RetryPolicy struct {
	// RetryOn is a comma-separated list: 5xx, gateway-error, reset,
	// connect-failure, retriable-4xx, refused-stream,
	// retriable-status-codes.
	RetryOn              string        `yaml:"retry_on"`
	NumRetries           int           `yaml:"num_retries"` // default 1
	PerTryTimeout        time.Duration `yaml:"per_try_timeout"`
	RetryBackOff         *RetryBackOff `yaml:"retry_back_off"`
	RetriableStatusCodes []int         `yaml:"retriable_status_codes"`
	// RetryHostPredicate: previous_hosts (also as
	// envoy.retry_host_predicates.previous_hosts) makes each retry avoid
	// the hosts already tried.
	RetryHostPredicate            []RetryHostPredicate `yaml:"retry_host_predicate"`
	HostSelectionRetryMaxAttempts int                  `yaml:"host_selection_retry_max_attempts"`
}

// RetryBackOff bounds the jittered exponential back-off between retries.
type RetryBackOff struct {
	BaseInterval time.Duration `yaml:"base_interval"` // default 25ms
	MaxInterval  time.Duration `yaml:"max_interval"`  // default 10 × base
}

// RetryHostPredicate names a host predicate.
type RetryHostPredicate struct {
	Name string `yaml:"name"`
}

// MaxStreamDuration is Envoy's RouteAction.MaxStreamDuration. Nil fields
// are absent (which differs from 0 for grpc_timeout_header_max).
type MaxStreamDuration struct {
	MaxStreamDuration       *time.Duration `yaml:"max_stream_duration"`
	GrpcTimeoutHeaderMax    *time.Duration `yaml:"grpc_timeout_header_max"`
	GrpcTimeoutHeaderOffset *time.Duration `yaml:"grpc_timeout_header_offset"`
}

// DirectResponse answers locally.
type DirectResponse struct {
	Status int        `yaml:"status"`
	Body   DataSource `yaml:"body"`
}

// DataSource is Envoy's DataSource: a file or inline text (one of them).
// direct_response bodies take inline_string only.
type DataSource struct {
	Filename     string `yaml:"filename"`
	InlineString string `yaml:"inline_string"`
	// Path is Filename resolved against the config file's directory,
	// set by validation.
	Path string `yaml:"-"`
}

// Header append actions (Envoy's HeaderValueOption.HeaderAppendAction).
const (
	AppendIfExistsOrAdd    = "APPEND_IF_EXISTS_OR_ADD"
	AddIfAbsent            = "ADD_IF_ABSENT"
	OverwriteIfExistsOrAdd = "OVERWRITE_IF_EXISTS_OR_ADD"
	OverwriteIfExists      = "OVERWRITE_IF_EXISTS"
)

// HeaderValueOption adds one header.
type HeaderValueOption struct {
	Header       HeaderValue `yaml:"header"`
	AppendAction string      `yaml:"append_action"`
}

// HeaderValue is a header name and value.
type HeaderValue struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

// Cluster is a group of upstream endpoints.
type Cluster struct {
	Name string `yaml:"name"`
	// Type is how endpoints are found: STATIC, STRICT_DNS, LOGICAL_DNS or
	// EDS (also in lower case).
	Type                     string        `yaml:"type"`
	ConnectTimeout           time.Duration `yaml:"connect_timeout"`
	LbPolicy                 string        `yaml:"lb_policy"` // round_robin|random|least_request|ring_hash|maglev
	MaxConnections           int           `yaml:"max_connections"`
	MaxPendingRequests       int           `yaml:"max_pending_requests"`
	MaxRequestsPerConnection int           `yaml:"max_requests_per_connection"` // 0: unlimited
	IdleTimeout              time.Duration `yaml:"idle_timeout"`
	// PerConnectionBufferLimitBytes bounds what sluice holds per upstream
	// connection of a tcp_proxy (read buffer and output high watermark).
	PerConnectionBufferLimitBytes int `yaml:"per_connection_buffer_limit_bytes"`
	// MaxResponseHeadersKB bounds a response head (and trailers) from the
	// upstream; for HTTP/2 it is the SETTINGS_MAX_HEADER_LIST_SIZE sluice
	// advertises (Envoy's max_response_headers_kb).
	MaxResponseHeadersKB int            `yaml:"max_response_headers_kb"`
	LoadAssignment       LoadAssignment `yaml:"load_assignment"`
	// EDSClusterConfig locates the endpoint file of an EDS cluster.
	EDSClusterConfig *EDSClusterConfig `yaml:"eds_cluster_config"`

	// DNS discovery (STRICT_DNS, LOGICAL_DNS).
	DNSRefreshRate        time.Duration        `yaml:"dns_refresh_rate"`
	DNSFailureRefreshRate *RefreshRate         `yaml:"dns_failure_refresh_rate"`
	RespectDNSTTL         bool                 `yaml:"respect_dns_ttl"`
	DNSMinRefreshRate     time.Duration        `yaml:"dns_min_refresh_rate"`
	DNSJitter             time.Duration        `yaml:"dns_jitter"`
	DNSLookupFamily       string               `yaml:"dns_lookup_family"`
	DNSResolutionConfig   *DNSResolutionConfig `yaml:"dns_resolution_config"`

	CommonLbConfig       *CommonLbConfig       `yaml:"common_lb_config"`
	RoundRobinLbConfig   *RoundRobinLbConfig   `yaml:"round_robin_lb_config"`
	LeastRequestLbConfig *LeastRequestLbConfig `yaml:"least_request_lb_config"`
	RingHashLbConfig     *RingHashLbConfig     `yaml:"ring_hash_lb_config"`
	MaglevLbConfig       *MaglevLbConfig       `yaml:"maglev_lb_config"`

	HealthChecks     []HealthCheck     `yaml:"health_checks"`
	OutlierDetection *OutlierDetection `yaml:"outlier_detection"`
	CircuitBreakers  *CircuitBreakers  `yaml:"circuit_breakers"`

	// HTTP2ProtocolOptions, when present (even `{}`), makes the cluster
	// speak HTTP/2 with prior knowledge (h2c) to its endpoints (or over
	// TLS when TransportSocket is set).
	HTTP2ProtocolOptions *HTTP2ProtocolOptions `yaml:"http2_protocol_options"`
	// TransportSocket makes the cluster's connections TLS.
	TransportSocket *UpstreamTransportSocket `yaml:"transport_socket"`
}

// HTTP2ProtocolOptions are Envoy's upstream HTTP/2 options.
type HTTP2ProtocolOptions struct {
	MaxConcurrentStreams        int `yaml:"max_concurrent_streams"`
	InitialStreamWindowSize     int `yaml:"initial_stream_window_size"`
	InitialConnectionWindowSize int `yaml:"initial_connection_window_size"`
}

// RefreshRate is dns_failure_refresh_rate: exponential back-off bounds.
type RefreshRate struct {
	BaseInterval time.Duration `yaml:"base_interval"`
	MaxInterval  time.Duration `yaml:"max_interval"` // 0: 10 × base_interval
}

// DNSResolutionConfig names the DNS servers a cluster asks.
type DNSResolutionConfig struct {
	Resolvers []Address `yaml:"resolvers"`
}

// EDSClusterConfig is Envoy's Cluster.EdsClusterConfig with a file source.
type EDSClusterConfig struct {
	// ServiceName picks the ClusterLoadAssignment whose cluster_name it
	// is when the file holds several (default: the cluster's name).
	ServiceName string       `yaml:"service_name"`
	EDSConfig   ConfigSource `yaml:"eds_config"`
}

// ConfigSource is Envoy's ConfigSource, file sources only.
type ConfigSource struct {
	PathConfigSource *PathConfigSource `yaml:"path_config_source"`
	Path             string            `yaml:"path"` // Envoy's older spelling of path_config_source.path
}

// PathConfigSource is a watched file.
type PathConfigSource struct {
	Path string `yaml:"path"`
	// WatchedDirectory is watched instead of the file's own directory
	// (Kubernetes ConfigMaps swap a symlink in another directory).
	WatchedDirectory *WatchedDirectory `yaml:"watched_directory"`
}

// WatchedDirectory is a directory whose changes trigger a reload.
type WatchedDirectory struct {
	Path string `yaml:"path"`
}

// Percent is Envoy's Percent: {value: 0..100}.
type Percent struct {
	Value float64 `yaml:"value"`
}

// CommonLbConfig is Envoy's Cluster.CommonLbConfig (the supported part).
type CommonLbConfig struct {
	// HealthyPanicThreshold: below this share of healthy hosts a priority
	// balances over all its hosts (panic routing); 0 disables it.
	HealthyPanicThreshold *Percent `yaml:"healthy_panic_threshold"`
}

// RoundRobinLbConfig is round_robin_lb_config.
type RoundRobinLbConfig struct {
	SlowStartConfig *SlowStartConfig `yaml:"slow_start_config"`
}

// LeastRequestLbConfig is least_request_lb_config.
type LeastRequestLbConfig struct {
	ChoiceCount     int              `yaml:"choice_count"`
	SlowStartConfig *SlowStartConfig `yaml:"slow_start_config"`
}

// SlowStartConfig is Envoy's slow_start_config.
type SlowStartConfig struct {
	SlowStartWindow  time.Duration  `yaml:"slow_start_window"`
	Aggression       *RuntimeDouble `yaml:"aggression"`
	MinWeightPercent *Percent       `yaml:"min_weight_percent"`
}

// RuntimeDouble is Envoy's RuntimeDouble; sluice has no runtime, so only
// the default value counts.
type RuntimeDouble struct {
	DefaultValue float64 `yaml:"default_value"`
	RuntimeKey   string  `yaml:"runtime_key"`
}

// RingHashLbConfig is ring_hash_lb_config.
type RingHashLbConfig struct {
	MinimumRingSize int    `yaml:"minimum_ring_size"`
	MaximumRingSize int    `yaml:"maximum_ring_size"`
	HashFunction    string `yaml:"hash_function"` // XX_HASH only
}

// MaglevLbConfig is maglev_lb_config.
type MaglevLbConfig struct {
	TableSize int `yaml:"table_size"` // a prime
}

// HealthCheck is one active health check (Envoy's core.HealthCheck).
// Exactly one of the *_health_check fields is set.
type HealthCheck struct {
	Timeout               time.Duration    `yaml:"timeout"`
	Interval              time.Duration    `yaml:"interval"`
	InitialJitter         time.Duration    `yaml:"initial_jitter"`
	IntervalJitter        time.Duration    `yaml:"interval_jitter"`
	IntervalJitterPercent int              `yaml:"interval_jitter_percent"`
	UnhealthyInterval     time.Duration    `yaml:"unhealthy_interval"`
	UnhealthyThreshold    int              `yaml:"unhealthy_threshold"`
	HealthyThreshold      int              `yaml:"healthy_threshold"`
	HTTPHealthCheck       *HTTPHealthCheck `yaml:"http_health_check"`
	TCPHealthCheck        *TCPHealthCheck  `yaml:"tcp_health_check"`
	GRPCHealthCheck       *GRPCHealthCheck `yaml:"grpc_health_check"`
}

// HTTPHealthCheck probes with an HTTP request.
type HTTPHealthCheck struct {
	Host                string              `yaml:"host"` // default: the cluster's name
	Path                string              `yaml:"path"`
	Method              string              `yaml:"method"` // default GET
	ExpectedStatuses    []Int64Range        `yaml:"expected_statuses"`
	RequestHeadersToAdd []HeaderValueOption `yaml:"request_headers_to_add"`
	CodecClientType     string              `yaml:"codec_client_type"` // HTTP1|HTTP2
}

// Int64Range is a half-open range [start, end).
type Int64Range struct {
	Start int `yaml:"start"`
	End   int `yaml:"end"`
}

// TCPHealthCheck connects, optionally sends bytes and looks for others.
type TCPHealthCheck struct {
	Send    *Payload  `yaml:"send"`
	Receive []Payload `yaml:"receive"`
}

// Payload is bytes as hex (text) or base64 (binary), as in Envoy.
type Payload struct {
	Text   string `yaml:"text"`
	Binary string `yaml:"binary"`
	Bytes  []byte `yaml:"-"` // decoded, set by validation
}

// GRPCHealthCheck uses the gRPC health protocol.
type GRPCHealthCheck struct {
	ServiceName string `yaml:"service_name"`
	Authority   string `yaml:"authority"` // default: the cluster's name
}

// OutlierDetection is Envoy's outlier_detection (consecutive-failure
// detectors; not success rate or failure percentage).
type OutlierDetection struct {
	Consecutive5xx                         int           `yaml:"consecutive_5xx"`
	ConsecutiveGatewayFailure              int           `yaml:"consecutive_gateway_failure"`
	ConsecutiveLocalOriginFailure          int           `yaml:"consecutive_local_origin_failure"`
	EnforcingConsecutive5xx                int           `yaml:"enforcing_consecutive_5xx"`
	EnforcingConsecutiveGatewayFailure     int           `yaml:"enforcing_consecutive_gateway_failure"`
	EnforcingConsecutiveLocalOriginFailure int           `yaml:"enforcing_consecutive_local_origin_failure"`
	SplitExternalLocalOriginErrors         bool          `yaml:"split_external_local_origin_errors"`
	Interval                               time.Duration `yaml:"interval"`
	BaseEjectionTime                       time.Duration `yaml:"base_ejection_time"`
	MaxEjectionTime                        time.Duration `yaml:"max_ejection_time"`
	MaxEjectionTimeJitter                  time.Duration `yaml:"max_ejection_time_jitter"`
	MaxEjectionPercent                     int           `yaml:"max_ejection_percent"`
	AlwaysEjectOneHost                     bool          `yaml:"always_eject_one_host"`
	SuccessfulActiveHealthCheckUnejectHost bool          `yaml:"successful_active_health_check_uneject_host"`
}

// CircuitBreakers is Envoy's circuit_breakers, DEFAULT priority only.
type CircuitBreakers struct {
	Thresholds []Thresholds `yaml:"thresholds"`
}

// Thresholds is one entry of circuit_breakers.thresholds. Limits left out
// keep the cluster's own (max_connections, max_pending_requests) or their
// defaults.
type Thresholds struct {
	Priority           string       `yaml:"priority"` // DEFAULT
	MaxConnections     int          `yaml:"max_connections"`
	MaxPendingRequests int          `yaml:"max_pending_requests"`
	MaxRetries         int          `yaml:"max_retries"` // default 3
	RetryBudget        *RetryBudget `yaml:"retry_budget"`
}

// RetryBudget limits retries to a share of the active requests.
type RetryBudget struct {
	BudgetPercent       *Percent `yaml:"budget_percent"`        // default 20
	MinRetryConcurrency int      `yaml:"min_retry_concurrency"` // default 3
}

// LoadAssignment lists a cluster's endpoints.
type LoadAssignment struct {
	ClusterName string                `yaml:"cluster_name"`
	Endpoints   []LocalityLbEndpoints `yaml:"endpoints"`
	Policy      *LoadAssignmentPolicy `yaml:"policy"`
}

// LoadAssignmentPolicy is ClusterLoadAssignment.Policy.
type LoadAssignmentPolicy struct {
	// OverprovisioningFactor (percent, default 140) is how much a
	// priority's healthy share is trusted before traffic spills to the
	// next priority.
	OverprovisioningFactor int `yaml:"overprovisioning_factor"`
}

// LocalityLbEndpoints is one group of endpoints sharing a priority.
type LocalityLbEndpoints struct {
	Priority    int          `yaml:"priority"`
	LbEndpoints []LbEndpoint `yaml:"lb_endpoints"`
}

// LbEndpoint is one upstream host.
type LbEndpoint struct {
	Endpoint            Endpoint `yaml:"endpoint"`
	LoadBalancingWeight int      `yaml:"load_balancing_weight"` // default 1
}

// Endpoint wraps the address, as in Envoy.
type Endpoint struct {
	Address           Address            `yaml:"address"`
	HealthCheckConfig *HealthCheckConfig `yaml:"health_check_config"`
}

// HealthCheckConfig is an endpoint's own health-check target.
type HealthCheckConfig struct {
	PortValue int `yaml:"port_value"`
}

// Address wraps the socket address, as in Envoy.
type Address struct {
	SocketAddress SocketAddress `yaml:"socket_address"`
}

// SocketAddress is an IP literal (or, in DNS clusters, a host name) and a
// port.
type SocketAddress struct {
	Address   string         `yaml:"address"`
	PortValue int            `yaml:"port_value"`
	Addr      netip.AddrPort `yaml:"-"` // parsed IP literal, set by validation
}

// RawJSON is an opaque config value kept as the JSON text handed to a
// module. It renders as the value itself (not as bytes) in /config_dump.
type RawJSON []byte

// MarshalYAML emits the decoded JSON value.
func (r RawJSON) MarshalYAML() (any, error) {
	var v any
	if err := json.Unmarshal(r, &v); err != nil {
		return string(r), nil
	}
	return v, nil
}
