package config

import (
	"encoding/json"
	"net/netip"
	"time"
)

// Config is the whole sluice configuration.
type Config struct {
	Concurrency  int           `yaml:"concurrency"`
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	Watchdog     Watchdog      `yaml:"watchdog"`
	Log          Log           `yaml:"log"`
	Admin        *Admin        `yaml:"admin"` // nil: no admin listener
	Listeners    []Listener    `yaml:"listeners"`
	Clusters     []Cluster     `yaml:"clusters"`
}

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

// Listener accepts downstream connections on one address.
type Listener struct {
	Name                          string         `yaml:"name"`
	Address                       string         `yaml:"address"`
	Addr                          netip.AddrPort `yaml:"-"` // parsed Address, set by validation
	PerConnectionBufferLimitBytes int            `yaml:"per_connection_buffer_limit_bytes"`
	NetworkFiltersTimeout         time.Duration  `yaml:"network_filters_timeout"`
	FilterChains                  []FilterChain  `yaml:"filter_chains"`
}

// FilterChain is the network filter chain of a listener.
type FilterChain struct {
	Filters []NetworkFilter `yaml:"filters"`
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
	Name          string                 `yaml:"name"`
	HCM           *HTTPConnectionManager `yaml:"config"`
	TCPProxy      *TCPProxy              `yaml:"config"`
	ClientIPAllow *ClientIPAllow         `yaml:"config"`
}

// skipField decodes "config" only into the field of the filter's kind.
func (f *NetworkFilter) skipField(key, field string) bool {
	if key != "config" {
		return false
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
func (f *NetworkFilter) IsTerminal() bool { return f.IsHCM() || f.IsTCPProxy() }

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
	StatPrefix                string             `yaml:"stat_prefix"`
	CodecType                 string             `yaml:"codec_type"` // auto|http1|http2
	ServerName                string             `yaml:"server_name"`
	Via                       string             `yaml:"via"`
	UseRemoteAddress          bool               `yaml:"use_remote_address"`
	XffNumTrustedHops         int                `yaml:"xff_num_trusted_hops"`
	SkipXffAppend             bool               `yaml:"skip_xff_append"`
	GenerateRequestID         bool               `yaml:"generate_request_id"`
	PreserveExternalRequestID bool               `yaml:"preserve_external_request_id"`
	IdleTimeout               time.Duration      `yaml:"idle_timeout"`
	RequestHeadersTimeout     time.Duration      `yaml:"request_headers_timeout"`
	StreamIdleTimeout         time.Duration      `yaml:"stream_idle_timeout"`
	RequestTimeout            time.Duration      `yaml:"request_timeout"`
	MaxRequestHeadersKB       int                `yaml:"max_request_headers_kb"`
	MaxHeadersCount           int                `yaml:"max_headers_count"`
	MaxRequestLineBytes       int                `yaml:"max_request_line_bytes"`
	StreamBufferLimitBytes    int                `yaml:"stream_buffer_limit_bytes"`
	AccessLog                 []AccessLog        `yaml:"access_log"`
	UpgradeConfigs            []UpgradeConfig    `yaml:"upgrade_configs"`
	HTTPFilters               []HTTPFilter       `yaml:"http_filters"`
	RouteConfig               RouteConfiguration `yaml:"route_config"`
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
}

// DirectResponse answers locally.
type DirectResponse struct {
	Status int        `yaml:"status"`
	Body   DataSource `yaml:"body"`
}

// DataSource is inline data (Envoy's DataSource, inline only).
type DataSource struct {
	InlineString string `yaml:"inline_string"`
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
	Name                     string        `yaml:"name"`
	ConnectTimeout           time.Duration `yaml:"connect_timeout"`
	LbPolicy                 string        `yaml:"lb_policy"` // round_robin|random|least_request
	MaxConnections           int           `yaml:"max_connections"`
	MaxPendingRequests       int           `yaml:"max_pending_requests"`
	MaxRequestsPerConnection int           `yaml:"max_requests_per_connection"` // 0: unlimited
	IdleTimeout              time.Duration `yaml:"idle_timeout"`
	// PerConnectionBufferLimitBytes bounds what sluice holds per upstream
	// connection of a tcp_proxy (read buffer and output high watermark).
	PerConnectionBufferLimitBytes int            `yaml:"per_connection_buffer_limit_bytes"`
	LoadAssignment                LoadAssignment `yaml:"load_assignment"`
	// HTTP2ProtocolOptions, when present (even `{}`), makes the cluster
	// speak HTTP/2 with prior knowledge (h2c) to its endpoints.
	HTTP2ProtocolOptions *HTTP2ProtocolOptions `yaml:"http2_protocol_options"`
}

// HTTP2ProtocolOptions are Envoy's upstream HTTP/2 options.
type HTTP2ProtocolOptions struct {
	MaxConcurrentStreams        int `yaml:"max_concurrent_streams"`
	InitialStreamWindowSize     int `yaml:"initial_stream_window_size"`
	InitialConnectionWindowSize int `yaml:"initial_connection_window_size"`
}

// LoadAssignment lists a cluster's endpoints.
type LoadAssignment struct {
	Endpoints []LocalityLbEndpoints `yaml:"endpoints"`
}

// LocalityLbEndpoints is one group of endpoints.
type LocalityLbEndpoints struct {
	LbEndpoints []LbEndpoint `yaml:"lb_endpoints"`
}

// LbEndpoint is one upstream host.
type LbEndpoint struct {
	Endpoint Endpoint `yaml:"endpoint"`
}

// Endpoint wraps the address, as in Envoy.
type Endpoint struct {
	Address Address `yaml:"address"`
}

// Address wraps the socket address, as in Envoy.
type Address struct {
	SocketAddress SocketAddress `yaml:"socket_address"`
}

// SocketAddress is an IP literal and a port.
type SocketAddress struct {
	Address   string         `yaml:"address"`
	PortValue int            `yaml:"port_value"`
	Addr      netip.AddrPort `yaml:"-"` // parsed, set by validation
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
