package config

import (
	"regexp"
	"strings"
	"time"
)

func (v *validator) hcm(path string, h *HTTPConnectionManager) {
	v.oneOf(path+".codec_type", h.CodecType, "auto", "http1", "http2")
	// Both end up in response/request headers verbatim.
	if !validHeaderValue(h.ServerName) {
		v.fail(path+".server_name", "invalid header value (CR, LF or NUL)")
	}
	if !validHeaderValue(h.Via) {
		v.fail(path+".via", "invalid header value (CR, LF or NUL)")
	}
	if h.XffNumTrustedHops < 0 {
		v.fail(path+".xff_num_trusted_hops", "must not be negative")
	}
	v.nonNegative(path+".idle_timeout", h.IdleTimeout)
	v.nonNegative(path+".request_headers_timeout", h.RequestHeadersTimeout)
	v.nonNegative(path+".stream_idle_timeout", h.StreamIdleTimeout)
	v.nonNegative(path+".request_timeout", h.RequestTimeout)
	v.intRange(path+".max_request_headers_kb", h.MaxRequestHeadersKB, 1, 8192)
	v.intRange(path+".max_headers_count", h.MaxHeadersCount, 1, 10000)
	v.intRange(path+".max_request_line_bytes", h.MaxRequestLineBytes, 64, 1<<20)
	v.positive(path+".stream_buffer_limit_bytes", h.StreamBufferLimitBytes)
	o := &h.HTTP2ProtocolOptions
	oPath := path + ".http2_protocol_options"
	v.intRange(oPath+".max_concurrent_streams", o.MaxConcurrentStreams, 1, 1<<31-1)
	v.intRange(oPath+".initial_stream_window_size", o.InitialStreamWindowSize, 65535, 1<<31-1)
	v.intRange(oPath+".initial_connection_window_size", o.InitialConnectionWindowSize, 65535, 1<<31-1)
	v.accessLogs(path+".access_log", h.AccessLog)
	for i := range h.UpgradeConfigs {
		u := &h.UpgradeConfigs[i]
		v.upgradeType(index(path+".upgrade_configs", i)+".upgrade_type", u.UpgradeType)
	}
	v.uniqueUpgradeTypes(path+".upgrade_configs", len(h.UpgradeConfigs), func(i int) string { return h.UpgradeConfigs[i].UpgradeType })
	filters := v.httpFilters(path+".http_filters", h.HTTPFilters)
	v.routeConfig(path+".route_config", &h.RouteConfig, filters, h.UpgradeConfigs)
}

// upgradeType checks one upgrade_type: an Upgrade protocol (RFC 9110
// section 7.8: name or name/version) or CONNECT. h2c is not proxied: the
// HTTP/2 codec serves it.
func (v *validator) upgradeType(path, t string) {
	name, version, slash := strings.Cut(t, "/")
	switch {
	case t == "":
		v.fail(path, "required")
	case !isToken(name) || slash && !isToken(version):
		v.failf(path, "invalid upgrade type %q: must be a protocol such as websocket or name/version", t)
	case strings.EqualFold(t, "h2c"):
		v.fail(path, "h2c is not proxied: sluice's HTTP/2 codec serves h2c upgrades itself (codec_type)")
	}
}

func (v *validator) uniqueUpgradeTypes(path string, n int, typeAt func(int) string) {
	first := make(map[string]string, n)
	for i := 0; i < n; i++ {
		key := strings.ToLower(typeAt(i))
		if key == "" {
			continue
		}
		p := index(path, i) + ".upgrade_type"
		if at, dup := first[key]; dup {
			v.failf(p, "duplicate upgrade_type %q (first at %s)", typeAt(i), at)
		} else {
			first[key] = p
		}
	}
}

// connectEnabled applies the upgrade precedence to CONNECT: the route's
// entry if it has one, else the connection manager's, else off.
func connectEnabled(hcm []UpgradeConfig, route []RouteUpgradeConfig) bool {
	for _, u := range route {
		if strings.EqualFold(u.UpgradeType, "CONNECT") {
			return u.Enabled
		}
	}
	for _, u := range hcm {
		if strings.EqualFold(u.UpgradeType, "CONNECT") {
			return u.Enabled
		}
	}
	return false
}

// httpFilters checks the chain and returns the set of filter names, which
// typed_per_filter_config keys must come from.
func (v *validator) httpFilters(path string, list []HTTPFilter) map[string]bool {
	names := newNameSet(v)
	known := make(map[string]bool, len(list))
	for i := range list {
		f := &list[i]
		fPath := index(path, i)
		if names.add(fPath+".name", f.Name) {
			known[f.Name] = true
		}
		if f.IsModule() {
			if f.Name == RouterFilterName {
				v.fail(fPath+".name", `"router" is the built-in router; give the module filter another name`)
			}
			if f.Module == "" {
				v.fail(fPath+".module", "required")
			}
			if f.FilterName == "" {
				v.fail(fPath+".filter_name", "required")
			}
			f.ModulePath = v.resolveModule(f.Module)
			continue
		}
		if f.Name != RouterFilterName {
			if f.Name != "" {
				v.failf(fPath+".name", "unknown built-in filter %q", f.Name)
			}
			continue
		}
		if string(f.Config) != "null" {
			v.fail(fPath+".config", "the router filter takes no config")
		}
		if f.AllowInsecurePermissions {
			v.fail(fPath+".allow_insecure_permissions", "only for module filters")
		}
		if i != len(list)-1 {
			v.fail(fPath+".name", "the router must be the last filter")
		}
	}
	if n := len(list); n == 0 || list[n-1].Name != RouterFilterName || list[n-1].IsModule() {
		v.fail(path, `the last filter must be "router"`)
	}
	return known
}

func (v *validator) routeConfig(path string, rc *RouteConfiguration, filters map[string]bool, upgrades []UpgradeConfig) {
	vhPath := path + ".virtual_hosts"
	if len(rc.VirtualHosts) == 0 {
		v.fail(vhPath, "required")
	}
	names := newNameSet(v)
	domains := make(map[string]string)
	for i := range rc.VirtualHosts {
		vh := &rc.VirtualHosts[i]
		p := index(vhPath, i)
		names.add(p+".name", vh.Name)
		if len(vh.Domains) == 0 {
			v.fail(p+".domains", "required")
		}
		for j, d := range vh.Domains {
			dPath := index(p+".domains", j)
			if !v.domain(dPath, d) {
				continue
			}
			key := strings.ToLower(d)
			if first, dup := domains[key]; dup {
				v.failf(dPath, "duplicate domain %q (first at %s)", d, first)
			} else {
				domains[key] = dPath
			}
		}
		v.headerMutations(p, vh.RequestHeadersToAdd, vh.RequestHeadersToRemove, vh.ResponseHeadersToAdd, vh.ResponseHeadersToRemove)
		v.perFilter(p+".typed_per_filter_config", vh.TypedPerFilterConfig, filters)
		if vh.RetryPolicy != nil {
			v.retryPolicy(p+".retry_policy", vh.RetryPolicy)
		}
		v.bufferLimit(p+".per_request_buffer_limit_bytes", vh.PerRequestBufferLimitBytes)
		if len(vh.Routes) == 0 {
			v.fail(p+".routes", "required")
		}
		for j := range vh.Routes {
			v.route(index(p+".routes", j), &vh.Routes[j], filters, upgrades)
		}
	}
}

// domain accepts "*", exact names, and one wildcard at the start or end
// ("*.example.com", "*-bar.baz", "api.*"), as Envoy does.
func (v *validator) domain(path, d string) bool {
	if d == "" {
		v.fail(path, "must not be empty")
		return false
	}
	if n := strings.Count(d, "*"); n > 1 || (n == 1 && d != "*" && d[0] != '*' && d[len(d)-1] != '*') {
		v.failf(path, "invalid domain %q: one wildcard, first or last", d)
		return false
	}
	return true
}

func (v *validator) perFilter(path string, m map[string]RawJSON, filters map[string]bool) {
	for _, name := range sortedKeys(m) {
		if !filters[name] {
			v.failf(path+"."+name, "no http filter named %q", name)
		}
	}
}

func (v *validator) route(path string, r *Route, filters map[string]bool, upgrades []UpgradeConfig) {
	m := &r.Match
	mPath := path + ".match"
	kinds := 0
	for _, s := range []string{m.Prefix, m.Path, m.SafeRegex} {
		if s != "" {
			kinds++
		}
	}
	if m.ConnectMatcher != nil {
		kinds++
	}
	if kinds != 1 {
		v.fail(mPath, "exactly one of prefix, path, safe_regex, connect_matcher is required")
	}
	if m.Path != "" && m.Path[0] != '/' {
		v.fail(mPath+".path", `must start with "/"`)
	}
	if m.SafeRegex != "" {
		v.regex(mPath+".safe_regex", m.SafeRegex)
	}
	for i := range m.Headers {
		v.headerMatcher(index(mPath+".headers", i), &m.Headers[i])
	}

	if (r.Route == nil) == (r.DirectResponse == nil) {
		v.fail(path, "exactly one of route, direct_response is required")
	}
	if a := r.Route; a != nil {
		aPath := path + ".route"
		switch {
		case a.Cluster == "":
			v.fail(aPath+".cluster", "required")
		case !v.clusters[a.Cluster]:
			v.failf(aPath+".cluster", "unknown cluster %q", a.Cluster)
		}
		v.nonNegative(aPath+".timeout", a.Timeout)
		if m := a.MaxStreamDuration; m != nil {
			mPath := aPath + ".max_stream_duration"
			for _, f := range []struct {
				name string
				d    *time.Duration
			}{{"max_stream_duration", m.MaxStreamDuration}, {"grpc_timeout_header_max", m.GrpcTimeoutHeaderMax}, {"grpc_timeout_header_offset", m.GrpcTimeoutHeaderOffset}} {
				if f.d != nil {
					v.nonNegative(mPath+"."+f.name, *f.d)
				}
			}
			if m.GrpcTimeoutHeaderOffset != nil && m.GrpcTimeoutHeaderMax == nil {
				v.fail(mPath+".grpc_timeout_header_offset", "needs grpc_timeout_header_max")
			}
		}
		if a.PrefixRewrite != "" && m.Prefix == "" {
			v.fail(aPath+".prefix_rewrite", "needs a prefix match")
		}
		if a.AutoHostRewrite && a.HostRewriteLiteral != "" {
			v.fail(aPath+".auto_host_rewrite", "conflicts with host_rewrite_literal")
		}
		if a.HostRewriteLiteral != "" && !validHeaderValue(a.HostRewriteLiteral) {
			v.fail(aPath+".host_rewrite_literal", "invalid host")
		}
		uPath := aPath + ".upgrade_configs"
		for i := range a.UpgradeConfigs {
			u := &a.UpgradeConfigs[i]
			v.upgradeType(index(uPath, i)+".upgrade_type", u.UpgradeType)
			if u.ConnectConfig != nil && u.UpgradeType != "" && !strings.EqualFold(u.UpgradeType, "CONNECT") {
				v.fail(index(uPath, i)+".connect_config", "only for upgrade_type CONNECT")
			}
		}
		v.uniqueUpgradeTypes(uPath, len(a.UpgradeConfigs), func(i int) string { return a.UpgradeConfigs[i].UpgradeType })
		v.hashPolicies(aPath+".hash_policy", a.HashPolicy)
		if a.RetryPolicy != nil {
			v.retryPolicy(aPath+".retry_policy", a.RetryPolicy)
		}
		if m.ConnectMatcher != nil && !connectEnabled(upgrades, a.UpgradeConfigs) {
			// Such a route could never tunnel: say so instead of 404s.
			v.fail(mPath+".connect_matcher", "CONNECT is not enabled for this route: add upgrade_configs: [{ upgrade_type: CONNECT }] to the route or to the http_connection_manager")
		}
	}
	if d := r.DirectResponse; d != nil {
		v.intRange(path+".direct_response.status", d.Status, 200, 599)
		if d.Body.Filename != "" {
			v.fail(path+".direct_response.body.filename", "not supported: use inline_string")
		}
	}
	v.headerMutations(path, r.RequestHeadersToAdd, r.RequestHeadersToRemove, r.ResponseHeadersToAdd, r.ResponseHeadersToRemove)
	v.perFilter(path+".typed_per_filter_config", r.TypedPerFilterConfig, filters)
	v.bufferLimit(path+".per_request_buffer_limit_bytes", r.PerRequestBufferLimitBytes)
}

func (v *validator) regex(path, re string) {
	if _, err := regexp.Compile(re); err != nil {
		v.fail(path, err.Error())
	}
}

func (v *validator) headerMatcher(path string, h *HeaderMatcher) {
	if h.Name == "" {
		v.fail(path+".name", "required")
	} else if !validHeaderName(h.Name) {
		v.failf(path+".name", "invalid header name %q", h.Name)
	}
	kinds := 0
	for _, set := range []bool{h.ExactMatch != nil, h.PresentMatch != nil, h.SafeRegexMatch != nil, h.PrefixMatch != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		v.fail(path, "exactly one of exact_match, present_match, safe_regex_match, prefix_match is required")
	}
	if h.SafeRegexMatch != nil {
		v.regex(path+".safe_regex_match", *h.SafeRegexMatch)
	}
}

func (v *validator) headerMutations(path string, reqAdd []HeaderValueOption, reqRemove []string, respAdd []HeaderValueOption, respRemove []string) {
	v.headersToAdd(path+".request_headers_to_add", reqAdd)
	v.headersToRemove(path+".request_headers_to_remove", reqRemove)
	v.headersToAdd(path+".response_headers_to_add", respAdd)
	v.headersToRemove(path+".response_headers_to_remove", respRemove)
}

func (v *validator) headersToAdd(path string, list []HeaderValueOption) {
	for i := range list {
		o := &list[i]
		p := index(path, i)
		v.mutableHeaderName(p+".header.key", o.Header.Key)
		if !validHeaderValue(o.Header.Value) {
			v.fail(p+".header.value", "invalid header value (CR, LF or NUL)")
		}
		v.oneOf(p+".append_action", o.AppendAction, AppendIfExistsOrAdd, AddIfAbsent, OverwriteIfExistsOrAdd, OverwriteIfExists)
	}
}

func (v *validator) headersToRemove(path string, list []string) {
	for i, name := range list {
		v.mutableHeaderName(index(path, i), name)
	}
}

// mutableHeaderName refuses pseudo-headers and Host: routing and the codecs
// own them (Envoy refuses them too).
func (v *validator) mutableHeaderName(path, name string) {
	switch {
	case name == "":
		v.fail(path, "required")
	case name[0] == ':' || strings.EqualFold(name, "host"):
		v.failf(path, "cannot modify %q", name)
	case !validHeaderName(name):
		v.failf(path, "invalid header name %q", name)
	}
}

// validHeaderName accepts RFC 9110 tokens, and a leading ':' for matching
// pseudo-headers.
func validHeaderName(s string) bool { return isToken(strings.TrimPrefix(s, ":")) }

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func validHeaderValue(s string) bool { return !strings.ContainsAny(s, "\r\n\x00") }

// retryOnConditions are the retry_on values sluice implements.
var retryOnConditions = map[string]bool{
	"5xx": true, "gateway-error": true, "reset": true, "connect-failure": true,
	"retriable-4xx": true, "refused-stream": true, "retriable-status-codes": true,
	"reset-before-request": true,
}

func (v *validator) retryPolicy(path string, r *RetryPolicy) {
	if strings.TrimSpace(r.RetryOn) == "" {
		v.fail(path+".retry_on", "required")
	}
	for _, c := range strings.Split(r.RetryOn, ",") {
		c = strings.TrimSpace(c)
		if c != "" && !retryOnConditions[c] {
			v.failf(path+".retry_on", "unknown retry_on condition %q (want 5xx, gateway-error, reset, reset-before-request, connect-failure, retriable-4xx, refused-stream, retriable-status-codes)", c)
		}
	}
	v.intRange(path+".num_retries", r.NumRetries, 0, 1000)
	v.nonNegative(path+".per_try_timeout", r.PerTryTimeout)
	if b := r.RetryBackOff; b != nil {
		v.positiveDuration(path+".retry_back_off.base_interval", b.BaseInterval)
		if b.MaxInterval != 0 && b.MaxInterval < b.BaseInterval {
			v.fail(path+".retry_back_off.max_interval", "must not be shorter than base_interval")
		}
	}
	for i, c := range r.RetriableStatusCodes {
		v.intRange(index(path+".retriable_status_codes", i), c, 100, 599)
	}
	for i, h := range r.RetryHostPredicate {
		if h.Name != "previous_hosts" && h.Name != "envoy.retry_host_predicates.previous_hosts" {
			v.failf(index(path+".retry_host_predicate", i)+".name", "unknown retry host predicate %q (want previous_hosts)", h.Name)
		}
	}
	v.intRange(path+".host_selection_retry_max_attempts", r.HostSelectionRetryMaxAttempts, 0, 100)
}

func (v *validator) hashPolicies(path string, list []HashPolicy) {
	for i := range list {
		h := &list[i]
		p := index(path, i)
		kinds := 0
		if x := h.Header; x != nil {
			kinds++
			if !validHeaderName(x.HeaderName) {
				v.failf(p+".header.header_name", "invalid header name %q", x.HeaderName)
			}
		}
		if x := h.Cookie; x != nil {
			kinds++
			if x.Name == "" {
				v.fail(p+".cookie.name", "required")
			}
		}
		if x := h.ConnectionProperties; x != nil {
			kinds++
			if !x.SourceIP {
				v.fail(p+".connection_properties.source_ip", "must be true")
			}
		}
		if x := h.QueryParameter; x != nil {
			kinds++
			if x.Name == "" {
				v.fail(p+".query_parameter.name", "required")
			}
		}
		if kinds != 1 {
			v.fail(p, "exactly one of header, cookie, connection_properties, query_parameter is required")
		}
	}
}

func (v *validator) bufferLimit(path string, n *int) {
	if n != nil && *n < 0 {
		v.fail(path, "must not be negative")
	}
}
