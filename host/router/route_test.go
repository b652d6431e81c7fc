package router

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/config"
)

func TestRouteFields(t *testing.T) {
	tab := compile(t, `
          - name: v
            domains: ["*"]
            routes:
            - { name: fwd, match: { prefix: /fwd }, route: { cluster: c, timeout: 3s, host_rewrite_literal: up.local } }
            - { name: auto, match: { prefix: /auto }, route: { cluster: d, timeout: 0s, auto_host_rewrite: true } }
            - { name: defaults, match: { prefix: /def }, route: { cluster: c } }
            - { name: direct, match: { prefix: / }, direct_response: { status: 503, body: { inline_string: "down\n" } } }`)
	cases := []struct {
		path string
		want Route
	}{
		{"/fwd", Route{Name: "fwd", VirtualHost: "v", Cluster: "c", Timeout: 3 * time.Second, HostRewrite: "up.local"}},
		{"/auto", Route{Name: "auto", VirtualHost: "v", Cluster: "d", AutoHostRewrite: true}},
		{"/def", Route{Name: "defaults", VirtualHost: "v", Cluster: "c", Timeout: 15 * time.Second}},
		{"/x", Route{Name: "direct", VirtualHost: "v", Direct: &DirectResponse{Status: 503, Body: []byte("down\n")}}},
	}
	for _, tc := range cases {
		r := tab.Match(request("h", tc.path))
		if r == nil {
			t.Fatalf("%s: no route", tc.path)
		}
		got := Route{Name: r.Name, VirtualHost: r.VirtualHost, Cluster: r.Cluster, Timeout: r.Timeout,
			HostRewrite: r.HostRewrite, AutoHostRewrite: r.AutoHostRewrite, Direct: r.Direct}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.path, got, tc.want)
		}
	}
}

func TestRewritePath(t *testing.T) {
	tab := compile(t, `
          - name: v
            domains: ["*"]
            routes:
            - { name: slash, match: { prefix: /api/ }, route: { cluster: c, prefix_rewrite: / } }
            - { name: envoy_double_slash, match: { prefix: /old }, route: { cluster: c, prefix_rewrite: /new/ } }
            - { name: ci, match: { prefix: /CI/, case_sensitive: false }, route: { cluster: c, prefix_rewrite: /ci-upstream/ } }
            - { name: keep, match: { prefix: / }, route: { cluster: c } }`)
	cases := []struct{ path, want string }{
		{"/api/v1/users?id=7", "/v1/users?id=7"},
		{"/api/", "/"},
		{"/old/x", "/new//x"}, // as Envoy: the matched prefix is replaced, nothing else
		{"/oldx?q", "/new/x?q"},
		{"/ci/a", "/ci-upstream/a"},
		{"/Ci/a?b=c", "/ci-upstream/a?b=c"},
		{"/other?x=1", "/other?x=1"},
	}
	for _, tc := range cases {
		h := request("h", tc.path)
		r := tab.Match(h)
		got := string(r.RewritePath([]byte("prefix:"), h))
		if got != "prefix:"+tc.want {
			t.Errorf("%s (route %s): got %q, want %q", tc.path, r.Name, got, "prefix:"+tc.want)
		}
	}
}

func TestHeaderMutations(t *testing.T) {
	tab := compile(t, `
          - name: v
            domains: ["*"]
            request_headers_to_remove: [x-remove-vh, x-route-adds]
            request_headers_to_add:
            - header: { key: X-Append, value: vh }
            - header: { key: x-overwrite, value: vh }
              append_action: OVERWRITE_IF_EXISTS_OR_ADD
            - header: { key: x-route-adds, value: vh }
            response_headers_to_remove: [server]
            response_headers_to_add:
            - header: { key: x-vh, value: "1" }
            routes:
            - name: r
              match: { prefix: / }
              route: { cluster: c }
              request_headers_to_remove: [x-remove-route]
              request_headers_to_add:
              - header: { key: x-append, value: route }
              - header: { key: x-overwrite, value: route }
                append_action: OVERWRITE_IF_EXISTS_OR_ADD
              - header: { key: x-if-absent, value: route }
                append_action: ADD_IF_ABSENT
              - header: { key: x-if-absent-missing, value: route }
                append_action: ADD_IF_ABSENT
              - header: { key: x-if-exists, value: route }
                append_action: OVERWRITE_IF_EXISTS
              - header: { key: x-if-exists-missing, value: route }
                append_action: OVERWRITE_IF_EXISTS
              response_headers_to_add:
              - header: { key: x-vh, value: "2" }
                append_action: ADD_IF_ABSENT
              - header: { key: x-route, value: "3" }
              response_headers_to_remove: [x-vh]`)
	req := request("h", "/",
		"x-append", "client",
		"x-overwrite", "client1",
		"x-overwrite", "client2",
		"x-remove-vh", "gone",
		"x-remove-route", "gone",
		"x-route-adds", "client",
		"x-if-absent", "client",
		"x-if-exists", "client",
	)
	r := tab.Match(req)
	r.ApplyRequestHeaders(req)
	want := ":method: GET\n:scheme: http\n:authority: h\n:path: /\n" +
		"x-append: client\n" +
		"x-overwrite: route\n" +
		"x-if-absent: client\n" +
		"x-if-exists: route\n" +
		"x-append: vh\n" +
		"x-route-adds: vh\n" +
		"x-append: route\n" +
		"x-if-absent-missing: route\n"
	if got := dump(req); got != want {
		t.Errorf("request headers:\n%s\nwant:\n%s", got, want)
	}

	resp := request("h", "/")
	resp.Reset()
	resp.SetStatus(200)
	resp.AddString("server", "upstream")
	resp.AddString("x-vh", "upstream")
	r.ApplyResponseHeaders(resp)
	// vhost: server removed, x-vh: 1 appended; route: x-vh removed (both),
	// then ADD_IF_ABSENT adds 2, then x-route appended.
	if got, want := dump(resp), ":status: 200\nx-vh: 2\nx-route: 3\n"; got != want {
		t.Errorf("response headers:\n%s\nwant:\n%s", got, want)
	}
}

func TestPerFilterConfig(t *testing.T) {
	rc := parseRoutes(t, `
          - name: v
            domains: ["*"]
            typed_per_filter_config: { a: { level: vh }, b: { level: vh } }
            routes:
            - { name: own, match: { prefix: /own }, route: { cluster: c }, typed_per_filter_config: { a: { level: route } } }
            - { name: inherit, match: { prefix: / }, route: { cluster: c } }
          - name: w
            domains: ["w"]
            routes:
            - { name: none, match: { prefix: / }, route: { cluster: c } }`)

	type compiled struct{ filter, raw string }
	var calls []string
	tab, err := Compile(rc, func(filter string, raw []byte) (any, error) {
		calls = append(calls, filter+"="+string(raw))
		return &compiled{filter, string(raw)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{`a={"level":"vh"}`, `b={"level":"vh"}`, `a={"level":"route"}`}
	if !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("perFilter calls %q, want %q", calls, wantCalls)
	}
	get := func(authority, path, filter string) string {
		v := tab.Match(request(authority, path)).PerFilterConfig(filter)
		if v == nil {
			return "<nil>"
		}
		return v.(*compiled).raw
	}
	cases := []struct{ authority, path, filter, want string }{
		{"h", "/own", "a", `{"level":"route"}`},
		{"h", "/own", "b", `{"level":"vh"}`},
		{"h", "/", "a", `{"level":"vh"}`},
		{"h", "/own", "router", "<nil>"},
		{"w", "/", "a", "<nil>"},
	}
	for _, tc := range cases {
		if got := get(tc.authority, tc.path, tc.filter); got != tc.want {
			t.Errorf("%s%s %s: got %s, want %s", tc.authority, tc.path, tc.filter, got, tc.want)
		}
	}
	var visited []string
	tab.PerFilterConfigs(func(v any) { visited = append(visited, v.(*compiled).filter+"="+v.(*compiled).raw) })
	if !reflect.DeepEqual(visited, wantCalls) {
		t.Errorf("PerFilterConfigs visited %q, want %q", visited, wantCalls)
	}
}

func TestPerFilterConfigRawWithoutFunc(t *testing.T) {
	tab := compile(t, `
          - { name: v, domains: ["*"], routes: [{ match: { prefix: / }, route: { cluster: c }, typed_per_filter_config: { a: [1, 2] } }] }`)
	v := tab.Match(request("h", "/")).PerFilterConfig("a")
	if b, ok := v.([]byte); !ok || string(b) != "[1,2]" {
		t.Errorf("raw per-filter config = %#v", v)
	}
}

// A perFilter failure names the entry and returns a table holding only what
// was already created, so the caller can destroy it.
func TestPerFilterErrorKeepsCreatedObjectsForCleanup(t *testing.T) {
	rc := parseRoutes(t, `
          - name: v
            domains: ["*"]
            typed_per_filter_config: { a: 1 }
            routes:
            - { match: { prefix: /x }, route: { cluster: c }, typed_per_filter_config: { b: 2 } }
            - { match: { prefix: / }, route: { cluster: c }, typed_per_filter_config: { a: 3 } }`)
	made := 0
	tab, err := Compile(rc, func(filter string, raw []byte) (any, error) {
		if filter == "b" {
			return nil, errors.New("bad ttl")
		}
		made++
		return fmt.Sprintf("%s:%s", filter, raw), nil
	})
	if err == nil || err.Error() != "virtual_hosts[0].routes[0].typed_per_filter_config.b: bad ttl" {
		t.Fatalf("err = %v", err)
	}
	if made != 1 {
		t.Errorf("perFilter kept creating objects after the failure: %d made", made)
	}
	var left []any
	tab.PerFilterConfigs(func(v any) { left = append(left, v) })
	if !reflect.DeepEqual(left, []any{"a:1"}) {
		t.Errorf("left for cleanup %v", left)
	}
	if r := tab.Match(request("h", "/")); r != nil {
		t.Errorf("failed table matched %s", routeName(r))
	}

	// Without created objects there is nothing to clean: no table.
	tab, err = Compile(rc, func(string, []byte) (any, error) { return nil, errors.New("no") })
	if tab != nil || err == nil || err.Error() != "virtual_hosts[0].typed_per_filter_config.a: no" {
		t.Errorf("tab %v, err %v", tab, err)
	}
}

// Compile does not trust that the config was validated.
func TestCompileErrors(t *testing.T) {
	route := func(m config.RouteMatch) config.RouteConfiguration {
		return config.RouteConfiguration{VirtualHosts: []config.VirtualHost{{
			Name: "v", Domains: []string{"*"},
			Routes: []config.Route{{Match: m, Route: &config.RouteAction{Cluster: "c"}}},
		}}}
	}
	bad := "("
	cases := []struct {
		name string
		rc   config.RouteConfiguration
		want string
	}{
		{"regex", route(config.RouteMatch{SafeRegex: "("}), "virtual_hosts[0].routes[0].match.safe_regex: error parsing regexp: missing closing ): `(`"},
		{"header regex", route(config.RouteMatch{Prefix: "/", Headers: []config.HeaderMatcher{{Name: "x", SafeRegexMatch: &bad}}}),
			"virtual_hosts[0].routes[0].match.headers[0]: error parsing regexp: missing closing ): `(`"},
		{"header no kind", route(config.RouteMatch{Prefix: "/", Headers: []config.HeaderMatcher{{Name: "x"}}}),
			"virtual_hosts[0].routes[0].match.headers[0]: exactly one of exact_match, present_match, safe_regex_match, prefix_match is required"},
		{"no match", route(config.RouteMatch{}), "virtual_hosts[0].routes[0].match: exactly one of prefix, path, safe_regex, connect_matcher is required"},
		{"no action", config.RouteConfiguration{VirtualHosts: []config.VirtualHost{{Name: "v", Domains: []string{"*"},
			Routes: []config.Route{{Match: config.RouteMatch{Prefix: "/"}}}}}},
			"virtual_hosts[0].routes[0]: exactly one of route, direct_response is required"},
		{"rewrite without prefix", config.RouteConfiguration{VirtualHosts: []config.VirtualHost{{Name: "v", Domains: []string{"*"},
			Routes: []config.Route{{Match: config.RouteMatch{Path: "/a"}, Route: &config.RouteAction{Cluster: "c", PrefixRewrite: "/"}}}}}},
			"virtual_hosts[0].routes[0].route.prefix_rewrite: prefix_rewrite needs a prefix match"},
		{"duplicate domain", config.RouteConfiguration{VirtualHosts: []config.VirtualHost{
			{Name: "v", Domains: []string{"A.com"}, Routes: []config.Route{{Match: config.RouteMatch{Prefix: "/"}, Route: &config.RouteAction{Cluster: "c"}}}},
			{Name: "w", Domains: []string{"a.com"}, Routes: []config.Route{{Match: config.RouteMatch{Prefix: "/"}, Route: &config.RouteAction{Cluster: "c"}}}},
		}}, `virtual_hosts[1].domains[0]: duplicate domain "a.com"`},
		{"duplicate catch-all", config.RouteConfiguration{VirtualHosts: []config.VirtualHost{
			{Name: "v", Domains: []string{"*", "*"}, Routes: []config.Route{{Match: config.RouteMatch{Prefix: "/"}, Route: &config.RouteAction{Cluster: "c"}}}},
		}}, `virtual_hosts[0].domains[1]: duplicate domain "*"`},
		{"bad wildcard", config.RouteConfiguration{VirtualHosts: []config.VirtualHost{
			{Name: "v", Domains: []string{"a.*.com"}, Routes: []config.Route{{Match: config.RouteMatch{Prefix: "/"}, Route: &config.RouteAction{Cluster: "c"}}}},
		}}, `virtual_hosts[0].domains[0]: invalid domain "a.*.com"`},
	}
	for _, tc := range cases {
		tab, err := Compile(&tc.rc, nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: err = %v, want %s", tc.name, err, tc.want)
		}
		if tab != nil {
			t.Errorf("%s: table returned with error", tc.name)
		}
	}
}

// Workers share one table; run with -race.
func TestConcurrentMatch(t *testing.T) {
	tab := benchTable(t)
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := request("www.example.com:8080", "/svc19/items?id=1", "x-tenant", "acme")
			for i := 0; i < 1000; i++ {
				if r := tab.Match(h); r == nil || r.Name != "svc19" {
					errs <- routeName(r)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("concurrent match got %s", e)
	}
}
