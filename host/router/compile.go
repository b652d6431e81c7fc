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

func (c *compiler) perFilterConfigs(path string, raw map[string]config.RawJSON) map[string]any {
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
			out[name] = []byte(raw[name])
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
	r := &Route{Name: rc.Name, VirtualHost: vh.name, vh: vh, BufferLimit: vh.bufferLimit,
		IncludeAttemptCount: vh.attemptCount, IncludeAttemptCountInResponse: vh.attemptCountInResponse}
	if rc.PerRequestBufferLimitBytes != nil {
		r.BufferLimit = *rc.PerRequestBufferLimitBytes
	}
	m := &rc.Match
	r.caseSensitive = m.CaseSensitive
	connect := m.ConnectMatcher != nil
	switch {
	case m.Prefix != "" && m.Path == "" && m.SafeRegex == "" && !connect:
		r.kind, r.value = matchPrefix, m.Prefix
	case m.Path != "" && m.Prefix == "" && m.SafeRegex == "" && !connect:
		r.kind, r.value = matchPath, m.Path
	case m.SafeRegex != "" && m.Prefix == "" && m.Path == "" && !connect:
		r.kind = matchRegex
		re, err := compileFull(m.SafeRegex)
		c.check(err, path+".match.safe_regex")
		r.re = re
	case connect && m.Prefix == "" && m.Path == "" && m.SafeRegex == "":
		r.kind = matchConnect
	default:
		c.check(errors.New("exactly one of prefix, path, safe_regex, connect_matcher is required"), path+".match")
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
		r.hashes = compileHashPolicies(a.HashPolicy)
		r.Retry = compileRetryPolicy(a.RetryPolicy)
		if r.Retry == nil {
			r.Retry = vh.retry
		}
		for _, u := range a.UpgradeConfigs {
			r.upgrades = append(r.upgrades, upgradeOverride{typ: strings.ToLower(u.UpgradeType), enabled: u.Enabled})
		}
		if m := a.MaxStreamDuration; m != nil {
			if m.MaxStreamDuration != nil {
				r.maxStreamDuration = *m.MaxStreamDuration
			}
			if m.GrpcTimeoutHeaderMax != nil {
				r.hasGRPCTimeoutMax, r.grpcTimeoutMax = true, *m.GrpcTimeoutHeaderMax
			}
			if m.GrpcTimeoutHeaderOffset != nil {
				r.grpcTimeoutOffset = *m.GrpcTimeoutHeaderOffset
			}
		}
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
