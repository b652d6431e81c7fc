package router

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/sluiceproxy/sluice/host/config"
)

// Table is a compiled route configuration. It is immutable after Compile
// and safe for concurrent use by all workers.
type Table struct {
	exact    map[string]*virtualHost // lowercase domain
	suffixes []wildcard              // "*.example.com" stored as ".example.com", longest first
	prefixes []wildcard              // "api.*" stored as "api.", longest first
	catchAll *virtualHost
	// keepPort is set when some domain names a port: then :authority is
	// matched as sent instead of with its port stripped.
	keepPort bool
	vhosts   []*virtualHost
}

type wildcard struct {
	fix string
	vh  *virtualHost
}

type virtualHost struct {
	name      string
	routes    []*Route
	mutations headerMutations
	perFilter map[string]any

	retry                  *RetryPolicy
	attemptCount           bool
	attemptCountInResponse bool
	bufferLimit            int // -1: unset
}

// DirectResponse is a route's local answer.
type DirectResponse struct {
	Status int
	Body   []byte
}

// Compile builds a Table from a validated route configuration. perFilter
// turns each typed_per_filter_config entry into the object filters receive;
// it runs once per entry, here, on the caller's goroutine. With a nil
// perFilter the raw JSON bytes are stored.
//
// If Compile fails after perFilter produced objects, the returned Table is
// non-nil only so the caller can release them with PerFilterConfigs; it
// matches nothing.
func Compile(rc *config.RouteConfiguration, perFilter func(filter string, raw []byte) (any, error)) (*Table, error) {
	t := &Table{exact: make(map[string]*virtualHost)}
	c := &compiler{perFilter: perFilter}
	for i := range rc.VirtualHosts {
		vc := &rc.VirtualHosts[i]
		path := "virtual_hosts[" + strconv.Itoa(i) + "]"
		vh := &virtualHost{name: vc.Name, retry: compileRetryPolicy(vc.RetryPolicy), bufferLimit: -1,
			attemptCount: vc.IncludeRequestAttemptCount, attemptCountInResponse: vc.IncludeAttemptCountInResponse}
		if vc.PerRequestBufferLimitBytes != nil {
			vh.bufferLimit = *vc.PerRequestBufferLimitBytes
		}
		t.vhosts = append(t.vhosts, vh)
		vh.mutations = compileMutations(vc.RequestHeadersToAdd, vc.RequestHeadersToRemove, vc.ResponseHeadersToAdd, vc.ResponseHeadersToRemove)
		vh.perFilter = c.perFilterConfigs(path+".typed_per_filter_config", vc.TypedPerFilterConfig)
		for j := range vc.Routes {
			r := c.route(path+".routes["+strconv.Itoa(j)+"]", &vc.Routes[j], vh)
			vh.routes = append(vh.routes, r)
		}
		for j, d := range vc.Domains {
			c.check(t.addDomain(d, vh), path+".domains["+strconv.Itoa(j)+"]")
		}
	}
	if c.err != nil {
		if c.made {
			return &Table{vhosts: t.vhosts}, c.err
		}
		return nil, c.err
	}
	// Longest wildcard first: Envoy prefers the most specific one.
	sort.SliceStable(t.suffixes, func(i, j int) bool { return len(t.suffixes[i].fix) > len(t.suffixes[j].fix) })
	sort.SliceStable(t.prefixes, func(i, j int) bool { return len(t.prefixes[i].fix) > len(t.prefixes[j].fix) })
	return t, nil
}

func (t *Table) addDomain(d string, vh *virtualHost) error {
	d = strings.ToLower(d)
	if hasPort(d) {
		t.keepPort = true
	}
	switch {
	case d == "*":
		if t.catchAll != nil {
			return errors.New(`duplicate domain "*"`)
		}
		t.catchAll = vh
	case strings.Count(d, "*") > 1:
		return fmt.Errorf("invalid domain %q", d)
	case strings.HasPrefix(d, "*"):
		t.suffixes = append(t.suffixes, wildcard{fix: d[1:], vh: vh})
	case strings.HasSuffix(d, "*"):
		t.prefixes = append(t.prefixes, wildcard{fix: d[:len(d)-1], vh: vh})
	case strings.Contains(d, "*"):
		return fmt.Errorf("invalid domain %q", d)
	default:
		if _, dup := t.exact[d]; dup {
			return fmt.Errorf("duplicate domain %q", d)
		}
		t.exact[d] = vh
	}
	return nil
}

// hasPort reports whether a domain ends in ":digits" (IPv6 literals are
// bracketed, so their colons do not count).
func hasPort(d string) bool {
	i := strings.LastIndexByte(d, ':')
	if i < 0 || i == len(d)-1 || strings.IndexByte(d[i:], ']') >= 0 {
		return false
	}
	if !strings.HasPrefix(d, "[") && strings.Count(d, ":") > 1 {
		return false // bare IPv6 literal
	}
	for _, c := range d[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// PerFilterConfigs visits every compiled per-filter object once, in
// configuration order, so the owner can destroy them.
func (t *Table) PerFilterConfigs(fn func(v any)) {
	for _, vh := range t.vhosts {
		visitSorted(vh.perFilter, fn)
		for _, r := range vh.routes {
			visitSorted(r.perFilter, fn)
		}
	}
}

func visitSorted(m map[string]any, fn func(v any)) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fn(m[k])
	}
}
