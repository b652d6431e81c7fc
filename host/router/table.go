package router

import (
	"errors"
	"fmt"
	"regexp"
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
		vh := &virtualHost{name: vc.Name}
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

// compiler carries the first error and whether perFilter made anything.
type compiler struct {
	perFilter func(filter string, raw []byte) (any, error)
	err       error
	made      bool
}

func (c *compiler) check(err error, path string) {
	if err != nil && c.err == nil {
		c.err = fmt.Errorf("%s: %w", path, err)
	}
}

func (c *compiler) perFilterConfigs(path string, raw map[string][]byte) map[string]any {
	if len(raw) == 0 {
		return nil
	}
	out := make(map[string]any, len(raw))
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, name := range keys {
		if c.perFilter == nil {
			out[name] = raw[name]
			continue
		}
		if c.err != nil {
			break // stop creating objects once compilation has failed
		}
		v, err := c.perFilter(name, raw[name])
		c.check(err, path+"."+name)
		if err == nil && v != nil {
			out[name] = v
			c.made = true
		}
	}
	return out
}

func (c *compiler) route(path string, rc *config.Route, vh *virtualHost) *Route {
	r := &Route{Name: rc.Name, VirtualHost: vh.name, vh: vh}
	m := &rc.Match
	r.caseSensitive = m.CaseSensitive
	switch {
	case m.Prefix != "" && m.Path == "" && m.SafeRegex == "":
		r.kind, r.value = matchPrefix, m.Prefix
	case m.Path != "" && m.Prefix == "" && m.SafeRegex == "":
		r.kind, r.value = matchPath, m.Path
	case m.SafeRegex != "" && m.Prefix == "" && m.Path == "":
		r.kind = matchRegex
		re, err := compileFull(m.SafeRegex)
		c.check(err, path+".match.safe_regex")
		r.re = re
	default:
		c.check(errors.New("exactly one of prefix, path, safe_regex is required"), path+".match")
	}
	for i := range m.Headers {
		hm, err := compileHeaderMatcher(&m.Headers[i])
		c.check(err, path+".match.headers["+strconv.Itoa(i)+"]")
		r.headers = append(r.headers, hm)
	}
	switch {
	case rc.Route != nil && rc.DirectResponse == nil:
		a := rc.Route
		r.Cluster = a.Cluster
		r.Timeout = a.Timeout
		r.HostRewrite = a.HostRewriteLiteral
		r.AutoHostRewrite = a.AutoHostRewrite
		if a.PrefixRewrite != "" {
			if r.kind != matchPrefix {
				c.check(errors.New("prefix_rewrite needs a prefix match"), path+".route.prefix_rewrite")
			}
			r.prefixRewrite, r.hasPrefixRewrite = a.PrefixRewrite, true
		}
	case rc.DirectResponse != nil && rc.Route == nil:
		r.Direct = &DirectResponse{Status: rc.DirectResponse.Status, Body: []byte(rc.DirectResponse.Body.InlineString)}
	default:
		c.check(errors.New("exactly one of route, direct_response is required"), path)
	}
	r.mutations = compileMutations(rc.RequestHeadersToAdd, rc.RequestHeadersToRemove, rc.ResponseHeadersToAdd, rc.ResponseHeadersToRemove)
	r.perFilter = c.perFilterConfigs(path+".typed_per_filter_config", rc.TypedPerFilterConfig)
	return r
}

// compileFull anchors a regex so it must match the whole input, as Envoy's
// safe_regex does.
func compileFull(expr string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(expr); err != nil {
		return nil, err // report the error against the regex as written
	}
	return regexp.Compile(`^(?:` + expr + `)$`)
}
