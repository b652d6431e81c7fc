package router

import (
	"testing"

	"github.com/sluiceproxy/sluice/host/headers"
)

func TestVirtualHostPrecedence(t *testing.T) {
	tab := compile(t, `
          - { name: exact, domains: ["example.com", "[::1]", "10.0.0.1"], routes: [{ name: r, match: { prefix: / }, route: { cluster: c } }] }
          - { name: suffix, domains: ["*.example.com"], routes: [{ name: r, match: { prefix: / }, route: { cluster: c } }] }
          - { name: longsuffix, domains: ["*.api.example.com"], routes: [{ name: r, match: { prefix: / }, route: { cluster: c } }] }
          - { name: dashsuffix, domains: ["*-bar.baz"], routes: [{ name: r, match: { prefix: / }, route: { cluster: c } }] }
          - { name: prefix, domains: ["api.*"], routes: [{ name: r, match: { prefix: / }, route: { cluster: c } }] }
          - { name: longprefix, domains: ["api.example.*"], routes: [{ name: r, match: { prefix: / }, route: { cluster: c } }] }
          - { name: any, domains: ["*"], routes: [{ name: r, match: { prefix: / }, route: { cluster: c } }] }`)
	cases := []struct{ authority, want string }{
		{"example.com", "exact"},
		{"EXAMPLE.Com", "exact"},
		{"example.com:8080", "exact"},
		{"[::1]:443", "exact"},
		{"[::1]", "exact"},
		{"10.0.0.1:80", "exact"},
		{"foo.example.com", "suffix"},
		{"a.b.example.com:1", "suffix"},
		{"x.api.example.com", "longsuffix"},
		{"foo-bar.baz", "dashsuffix"},
		{"-bar.baz", "any"},     // a wildcard never matches the empty string
		{".example.com", "any"}, // "*" must match at least one character
		{"api.other", "prefix"},
		{"api.example.org", "longprefix"},
		{"api.example.com", "suffix"}, // suffix wildcards beat prefix wildcards
		{"api.", "any"},
		{"other.org", "any"},
		{"", "any"},
		{"[::2]:80", "any"},
		{"::1", "any"}, // bare IPv6: colons are not a port
	}
	for _, tc := range cases {
		r := tab.Match(request(tc.authority, "/"))
		if r == nil || r.VirtualHost != tc.want {
			t.Errorf("%q: got %s, want vhost %s", tc.authority, routeName(r), tc.want)
		}
	}
}

func TestNoCatchAllMeansNoMatch(t *testing.T) {
	tab := compile(t, `
          - { name: v, domains: ["a.com"], routes: [{ match: { prefix: / }, route: { cluster: c } }] }`)
	if r := tab.Match(request("b.com", "/")); r != nil {
		t.Errorf("b.com matched %s", routeName(r))
	}
	var nilTable *Table
	if r := nilTable.Match(request("a.com", "/")); r != nil {
		t.Errorf("nil table matched %s", routeName(r))
	}
}

// When a domain names a port, :authority is matched as sent.
func TestPortInDomainKeepsPort(t *testing.T) {
	tab := compile(t, `
          - { name: with_port, domains: ["example.com:8080"], routes: [{ match: { prefix: / }, route: { cluster: c } }] }
          - { name: bare, domains: ["example.com"], routes: [{ match: { prefix: / }, route: { cluster: c } }] }`)
	cases := []struct{ authority, want string }{
		{"example.com:8080", "with_port"},
		{"example.com", "bare"},
		{"example.com:9090", "<nil>"},
	}
	for _, tc := range cases {
		r := tab.Match(request(tc.authority, "/"))
		got := "<nil>"
		if r != nil {
			got = r.VirtualHost
		}
		if got != tc.want {
			t.Errorf("%q: got %s, want %s", tc.authority, got, tc.want)
		}
	}
}

func TestRouteMatchKinds(t *testing.T) {
	tab := compile(t, `
          - name: v
            domains: ["*"]
            routes:
            - { name: exact, match: { path: /exact }, route: { cluster: c } }
            - { name: exact_ci, match: { path: /Exact/CI, case_sensitive: false }, route: { cluster: c } }
            - { name: api, match: { prefix: /api/ }, route: { cluster: c } }
            - { name: api_ci, match: { prefix: /CI/, case_sensitive: false }, route: { cluster: c } }
            - { name: regex, match: { safe_regex: "/v[0-9]+/[a-z]+" }, route: { cluster: c } }
            - { name: shadowed, match: { path: /api/shadowed }, route: { cluster: c } }
            - { name: fallback, match: { prefix: / }, route: { cluster: d } }`)
	cases := []struct{ path, want string }{
		{"/exact", "exact"},
		{"/exact?x=1", "exact"},
		{"/exact#frag", "exact"},
		{"/exact/", "fallback"},
		{"/EXACT", "fallback"},
		{"/exact/ci", "exact_ci"},
		{"/EXACT/ci?q", "exact_ci"},
		{"/api/", "api"},
		{"/api/x?y=/z", "api"},
		{"/api", "fallback"},
		{"/API/x", "fallback"},
		{"/ci/x", "api_ci"},
		{"/Ci/x", "api_ci"},
		{"/v1/abc", "regex"},
		{"/v12/abc?x=1", "regex"},
		{"/v1/abc/", "fallback"}, // full match, not a search
		{"/x/v1/abc", "fallback"},
		{"/api/shadowed", "api"}, // first match wins
		{"/", "fallback"},
		{"", "<nil>"},
	}
	for _, tc := range cases {
		r := tab.Match(request("h", tc.path))
		got := "<nil>"
		if r != nil {
			got = r.Name
		}
		if got != tc.want {
			t.Errorf("path %q: got %s, want %s", tc.path, got, tc.want)
		}
	}
}

func TestHeaderMatchers(t *testing.T) {
	tab := compile(t, `
          - name: v
            domains: ["*"]
            routes:
            - { name: exact, match: { prefix: /exact, headers: [{ name: X-Env, exact_match: prod }] }, route: { cluster: c } }
            - { name: exact_empty, match: { prefix: /empty, headers: [{ name: x-env, exact_match: "" }] }, route: { cluster: c } }
            - { name: not_exact, match: { prefix: /notexact, headers: [{ name: x-env, exact_match: prod, invert_match: true }] }, route: { cluster: c } }
            - { name: prefix, match: { prefix: /prefix, headers: [{ name: x-t, prefix_match: acme- }] }, route: { cluster: c } }
            - { name: regex, match: { prefix: /regex, headers: [{ name: x-v, safe_regex_match: "v[0-9]" }] }, route: { cluster: c } }
            - { name: present, match: { prefix: /present, headers: [{ name: x-p, present_match: true }] }, route: { cluster: c } }
            - { name: absent, match: { prefix: /absent, headers: [{ name: x-p, present_match: false }] }, route: { cluster: c } }
            - { name: not_present, match: { prefix: /notpresent, headers: [{ name: x-p, present_match: true, invert_match: true }] }, route: { cluster: c } }
            - { name: method, match: { prefix: /method, headers: [{ name: ":method", exact_match: POST }] }, route: { cluster: c } }
            - { name: both, match: { prefix: /both, headers: [{ name: a, exact_match: "1" }, { name: b, exact_match: "2" }] }, route: { cluster: c } }
            - { name: fallback, match: { prefix: / }, route: { cluster: c } }`)
	cases := []struct {
		name, path string
		hdrs       []string
		want       string
	}{
		{"exact hit", "/exact", []string{"x-env", "prod"}, "exact"},
		{"exact name case", "/exact", []string{"X-ENV", "prod"}, "exact"},
		{"exact value case", "/exact", []string{"x-env", "Prod"}, "fallback"},
		{"exact miss", "/exact", []string{"x-env", "production"}, "fallback"},
		{"exact absent", "/exact", nil, "fallback"},
		{"exact joined values", "/exact", []string{"x-env", "pr", "x-env", "od"}, "fallback"},
		{"exact empty value", "/empty", []string{"x-env", ""}, "exact_empty"},
		{"exact empty absent", "/empty", nil, "fallback"},
		{"inverted exact hit", "/notexact", []string{"x-env", "prod"}, "fallback"},
		{"inverted exact miss", "/notexact", []string{"x-env", "dev"}, "not_exact"},
		{"inverted exact absent", "/notexact", nil, "not_exact"},
		{"prefix hit", "/prefix", []string{"x-t", "acme-1"}, "prefix"},
		{"prefix equal", "/prefix", []string{"x-t", "acme-"}, "prefix"},
		{"prefix short", "/prefix", []string{"x-t", "acme"}, "fallback"},
		{"regex hit", "/regex", []string{"x-v", "v1"}, "regex"},
		{"regex is full match", "/regex", []string{"x-v", "v12"}, "fallback"},
		{"present", "/present", []string{"x-p", ""}, "present"},
		{"present absent", "/present", nil, "fallback"},
		{"absent", "/absent", nil, "absent"},
		{"absent but present", "/absent", []string{"x-p", "1"}, "fallback"},
		{"inverted present absent", "/notpresent", nil, "not_present"},
		{"inverted present present", "/notpresent", []string{"x-p", "1"}, "fallback"},
		{"pseudo header", "/method", nil, "fallback"},
		{"both", "/both", []string{"a", "1", "b", "2"}, "both"},
		{"both one missing", "/both", []string{"a", "1"}, "fallback"},
	}
	for _, tc := range cases {
		r := tab.Match(request("h", tc.path, tc.hdrs...))
		if r == nil || r.Name != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, routeName(r), tc.want)
		}
	}
	post := request("h", "/method")
	post.SetString(":method", "POST")
	if r := tab.Match(post); r == nil || r.Name != "method" {
		t.Errorf(":method POST: got %s", routeName(r))
	}
}

// Envoy matches a repeated header as its values joined with ",".
func TestHeaderMatcherJoinsRepeatedValues(t *testing.T) {
	tab := compile(t, `
          - name: v
            domains: ["*"]
            routes:
            - { name: exact, match: { prefix: /exact, headers: [{ name: x, exact_match: "a,b" }] }, route: { cluster: c } }
            - { name: prefix, match: { prefix: /prefix, headers: [{ name: x, prefix_match: "a,b" }] }, route: { cluster: c } }
            - { name: regex, match: { prefix: /regex, headers: [{ name: x, safe_regex_match: "a,b,?" }] }, route: { cluster: c } }
            - { name: fallback, match: { prefix: / }, route: { cluster: c } }`)
	cases := []struct {
		path   string
		values []string
		want   string
	}{
		{"/exact", []string{"a", "b"}, "exact"},
		{"/exact", []string{"a,b"}, "exact"},
		{"/exact", []string{"a", "b", "c"}, "fallback"},
		{"/exact", []string{"a", "bc"}, "fallback"},
		{"/exact", []string{"a", ""}, "fallback"},
		{"/exact", []string{"ab"}, "fallback"},
		{"/exact", []string{"a,", "b"}, "fallback"},
		{"/exact", []string{"", "a", "b"}, "fallback"},
		{"/prefix", []string{"a", "b", "c"}, "prefix"},
		{"/prefix", []string{"a", "bc"}, "prefix"},
		{"/prefix", []string{"a"}, "fallback"},
		{"/prefix", []string{"a", ""}, "fallback"},
		{"/prefix", []string{"a,b"}, "prefix"},
		{"/regex", []string{"a", "b"}, "regex"},
		{"/regex", []string{"a", "b", ""}, "regex"},
		{"/regex", []string{"a", "b", "c"}, "fallback"},
	}
	for _, tc := range cases {
		var hdrs []string
		for _, v := range tc.values {
			hdrs = append(hdrs, "x", v)
		}
		r := tab.Match(request("h", tc.path, hdrs...))
		if r == nil || r.Name != tc.want {
			t.Errorf("%s %q: got %s, want %s", tc.path, tc.values, routeName(r), tc.want)
		}
	}
}

// CONNECT requests match connect_matcher routes and nothing else; other
// requests never match a connect_matcher route, even a regex that accepts
// the empty path CONNECT has.
func TestConnectMatcher(t *testing.T) {
	tab := compile(t, `
          - name: v
            domains: ["*"]
            routes:
            - { name: any-path, match: { safe_regex: ".*" }, route: { cluster: c } }
            - name: tunnel
              match: { connect_matcher: {}, headers: [{ name: x-tunnel, present_match: true }] }
              route: { cluster: d, upgrade_configs: [{ upgrade_type: CONNECT }] }
            - name: tunnel-any
              match: { connect_matcher: {} }
              route: { cluster: c, upgrade_configs: [{ upgrade_type: CONNECT, connect_config: {} }] }`)
	connect := func(extra ...string) *headers.Map {
		h := new(headers.Map)
		h.AddString(":method", "CONNECT")
		h.AddString(":authority", "db.internal:5432")
		for i := 0; i+1 < len(extra); i += 2 {
			h.AddString(extra[i], extra[i+1])
		}
		return h
	}
	cases := []struct {
		name string
		h    *headers.Map
		want string
	}{
		{"plain GET", request("a", "/x"), "v/any-path"},
		{"CONNECT with header", connect("x-tunnel", "1"), "v/tunnel"},
		{"CONNECT", connect(), "v/tunnel-any"},
	}
	for _, tc := range cases {
		r := tab.Match(tc.h)
		if routeName(r) != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, routeName(r), tc.want)
		}
		if r != nil && r.IsConnect() != (tc.want != "v/any-path") {
			t.Errorf("%s: IsConnect = %v", tc.name, r.IsConnect())
		}
	}
	// Without a connect_matcher route a CONNECT request matches nothing.
	plain := compile(t, `
          - { name: v, domains: ["*"], routes: [{ match: { safe_regex: ".*" }, route: { cluster: c } }] }`)
	if r := plain.Match(connect()); r != nil {
		t.Errorf("CONNECT matched %s", routeName(r))
	}
}

func TestUpgradeOverride(t *testing.T) {
	tab := compile(t, `
          - name: v
            domains: ["*"]
            routes:
            - name: ws
              match: { prefix: / }
              route: { cluster: c, upgrade_configs: [{ upgrade_type: WebSocket }, { upgrade_type: spdy/3, enabled: false }] }`)
	r := tab.Match(request("a", "/"))
	cases := []struct {
		typ          string
		enabled, set bool
	}{
		{"websocket", true, true},
		{"WEBSOCKET", true, true},
		{"spdy/3", false, true},
		{"websockets", false, false},
		{"", false, false},
	}
	for _, tc := range cases {
		enabled, set := r.UpgradeOverride([]byte(tc.typ))
		if enabled != tc.enabled || set != tc.set {
			t.Errorf("%q: got (%v, %v), want (%v, %v)", tc.typ, enabled, set, tc.enabled, tc.set)
		}
	}
}
