package router

import (
	"regexp"
	"time"

	"github.com/sluiceproxy/sluice/host/headers"
)

type matchKind uint8

const (
	matchPrefix matchKind = iota
	matchPath
	matchRegex
	matchConnect // connect_matcher: CONNECT requests, and only those
)

// Route is one compiled route. It is shared by all workers: read only.
type Route struct {
	Name            string
	VirtualHost     string
	Cluster         string // "" for direct responses
	Timeout         time.Duration
	HostRewrite     string // host_rewrite_literal; "" when unset
	AutoHostRewrite bool   // set Host to the chosen upstream address
	Direct          *DirectResponse

	vh            *virtualHost
	kind          matchKind
	value         string // prefix or path
	caseSensitive bool
	re            *regexp.Regexp
	headers       []headerMatcher

	prefixRewrite    string
	hasPrefixRewrite bool

	mutations headerMutations
	perFilter map[string]any
	upgrades  []upgradeOverride
	hashes    []hashPolicy

	// Retry is the route's retry_policy, else its virtual host's; nil for
	// none.
	Retry *RetryPolicy
	// IncludeAttemptCount / IncludeAttemptCountInResponse add
	// x-envoy-attempt-count to the upstream request / the response (the
	// virtual host's include_request_attempt_count and
	// include_attempt_count_in_response).
	IncludeAttemptCount           bool
	IncludeAttemptCountInResponse bool
	// BufferLimit is per_request_buffer_limit_bytes (route, else virtual
	// host): how much request body is kept for retries. -1 when unset.
	BufferLimit int

	// max_stream_duration (see Deadline).
	maxStreamDuration time.Duration
	hasGRPCTimeoutMax bool
	grpcTimeoutMax    time.Duration
	grpcTimeoutOffset time.Duration
}

// upgradeOverride is one entry of the route's upgrade_configs.
type upgradeOverride struct {
	typ     string // lower case
	enabled bool
}

// IsConnect reports a connect_matcher route: it matches CONNECT requests,
// which no other route matches.
func (r *Route) IsConnect() bool { return r.kind == matchConnect }

// UpgradeOverride is the route's own upgrade_configs entry for an upgrade
// type (compared case-insensitively). set is false when the route has
// none, and the connection manager's list decides.
func (r *Route) UpgradeOverride(typ []byte) (enabled, set bool) {
	for _, u := range r.upgrades {
		if len(u.typ) == len(typ) && hasPrefix(typ, u.typ, false) {
			return u.enabled, true
		}
	}
	return false, false
}

// PerFilterConfig is the route's typed_per_filter_config entry for filter,
// else its virtual host's, else nil.
func (r *Route) PerFilterConfig(filter string) any {
	if v, ok := r.perFilter[filter]; ok {
		return v
	}
	if v, ok := r.vh.perFilter[filter]; ok {
		return v
	}
	return nil
}

// matches reports whether the request path (query stripped), method kind
// and headers select this route.
func (r *Route) matches(path []byte, connect bool, h *headers.Map) bool {
	if (r.kind == matchConnect) != connect {
		return false
	}
	switch r.kind {
	case matchPrefix:
		if !hasPrefix(path, r.value, r.caseSensitive) {
			return false
		}
	case matchPath:
		if len(path) != len(r.value) || !hasPrefix(path, r.value, r.caseSensitive) {
			return false
		}
	case matchRegex:
		if !r.re.Match(path) {
			return false
		}
	}
	for i := range r.headers {
		if !r.headers[i].matches(h) {
			return false
		}
	}
	return true
}

// RewritePath appends the upstream :path for this request to dst: the
// matched prefix replaced by prefix_rewrite when configured, the rest
// (query included) kept as sent.
func (r *Route) RewritePath(dst []byte, h *headers.Map) []byte {
	p := h.Path()
	if r.hasPrefixRewrite && hasPrefix(p, r.value, r.caseSensitive) {
		dst = append(dst, r.prefixRewrite...)
		return append(dst, p[len(r.value):]...)
	}
	return append(dst, p...)
}

// ApplyRequestHeaders applies the virtual host's then the route's request
// header removals and additions, so the route's OVERWRITE wins.
func (r *Route) ApplyRequestHeaders(h *headers.Map) {
	r.vh.mutations.applyRequest(h)
	r.mutations.applyRequest(h)
}

// ApplyResponseHeaders is ApplyRequestHeaders for the response.
func (r *Route) ApplyResponseHeaders(h *headers.Map) {
	r.vh.mutations.applyResponse(h)
	r.mutations.applyResponse(h)
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasPrefix is bytes.HasPrefix with optional ASCII case folding.
func hasPrefix(s []byte, prefix string, caseSensitive bool) bool {
	if len(s) < len(prefix) {
		return false
	}
	if caseSensitive {
		return string(s[:len(prefix)]) == prefix
	}
	for i := 0; i < len(prefix); i++ {
		if lowerByte(s[i]) != lowerByte(prefix[i]) {
			return false
		}
	}
	return true
}
