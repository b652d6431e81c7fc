package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestFullExampleParsesExactly(t *testing.T) {
	got, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Concurrency:  2,
		DrainTimeout: 10 * time.Second,
		IOUring:      IOUringAuto,
		Watchdog:     Watchdog{MissTimeout: 200 * time.Millisecond, MegamissTimeout: time.Second},
		Log:          Log{Level: "debug", Format: "json"},
		Admin:        &Admin{Address: "127.0.0.1:9901", Addr: netip.MustParseAddrPort("127.0.0.1:9901")},
		Listeners: []Listener{{
			Name:                          "main",
			Address:                       "127.0.0.1:10000",
			Addr:                          netip.MustParseAddrPort("127.0.0.1:10000"),
			PerConnectionBufferLimitBytes: 65536,
			NetworkFiltersTimeout:         15 * time.Second,
			ListenerFiltersTimeout:        15 * time.Second,
			FilterChains: []FilterChain{{TransportSocketConnectTimeout: 10 * time.Second, Filters: []NetworkFilter{{
				Name: HCMEnvoyFilterName,
				HCM: &HTTPConnectionManager{
					StatPrefix:                "ingress",
					CodecType:                 "http1",
					ServerName:                "edge",
					Via:                       "sluice-1",
					UseRemoteAddress:          true,
					XffNumTrustedHops:         1,
					SkipXffAppend:             true,
					GenerateRequestID:         false,
					PreserveExternalRequestID: true,
					IdleTimeout:               30 * time.Second,
					RequestHeadersTimeout:     5 * time.Second,
					StreamIdleTimeout:         120 * time.Second,
					RequestTimeout:            time.Minute,
					MaxRequestHeadersKB:       32,
					MaxHeadersCount:           50,
					MaxRequestLineBytes:       8192,
					StreamBufferLimitBytes:    4096,
					HTTP2ProtocolOptions:      DownstreamHTTP2Options{MaxConcurrentStreams: 2000, InitialStreamWindowSize: 256 << 10, InitialConnectionWindowSize: 1 << 20},
					AccessLog:                 []AccessLog{{Path: "/dev/stdout", Format: "json"}},
					UpgradeConfigs:            []UpgradeConfig{{UpgradeType: "websocket", Enabled: true}, {UpgradeType: "CONNECT", Enabled: false}},
					HTTPFilters: []HTTPFilter{
						{
							Name:                     "cache",
							Module:                   "./build/modules/external_cache.so",
							ModulePath:               "testdata/build/modules/external_cache.so",
							FilterName:               "external_cache",
							AllowInsecurePermissions: true,
							Config:                   []byte(`{"Keys":["a","B"],"maxAge":30,"nested":{"On":true},"none":null,"ratio":0.5}`),
						},
						{Name: "router", Config: []byte("null")},
					},
					RouteConfig: RouteConfiguration{
						Name: "local",
						VirtualHosts: []VirtualHost{{
							Name:                    "app",
							Domains:                 []string{"example.com", "*.example.com", "api.*", "*"},
							RequestHeadersToAdd:     []HeaderValueOption{{Header: HeaderValue{Key: "x-vh", Value: "1"}, AppendAction: AppendIfExistsOrAdd}},
							RequestHeadersToRemove:  []string{"x-drop"},
							ResponseHeadersToAdd:    []HeaderValueOption{{Header: HeaderValue{Key: "x-served-by", Value: "sluice"}, AppendAction: OverwriteIfExistsOrAdd}},
							ResponseHeadersToRemove: []string{"server"},
							TypedPerFilterConfig:    map[string]RawJSON{"cache": []byte(`{"ttl":5}`)},
							Routes: []Route{
								{
									Name: "r1",
									Match: RouteMatch{
										Prefix: "/api",
										Headers: []HeaderMatcher{
											{Name: "x-env", ExactMatch: ptr("prod")},
											{Name: "x-debug", PresentMatch: ptr(true), InvertMatch: true},
											{Name: "x-ver", SafeRegexMatch: ptr("v[0-9]+")},
											{Name: "x-tenant", PrefixMatch: ptr("acme-")},
										},
									},
									Route: &RouteAction{
										Cluster:            "backend",
										PrefixRewrite:      "/",
										HostRewriteLiteral: "upstream.local",
									},
									RequestHeadersToAdd:     []HeaderValueOption{{Header: HeaderValue{Key: "x-a", Value: "b"}, AppendAction: AddIfAbsent}},
									RequestHeadersToRemove:  []string{"x-b"},
									ResponseHeadersToAdd:    []HeaderValueOption{{Header: HeaderValue{Key: "x-c", Value: "d"}, AppendAction: AppendIfExistsOrAdd}},
									ResponseHeadersToRemove: []string{"x-e"},
									TypedPerFilterConfig:    map[string]RawJSON{"cache": []byte(`{"ttl":60}`)},
								},
								{
									Name:  "exact",
									Match: RouteMatch{Path: "/exact", CaseSensitive: true},
									Route: &RouteAction{Cluster: "backend", Timeout: 15 * time.Second, AutoHostRewrite: true,
										UpgradeConfigs: []RouteUpgradeConfig{{UpgradeType: "websocket", Enabled: false}}},
								},
								{
									Name:  "tunnel",
									Match: RouteMatch{ConnectMatcher: &ConnectMatcher{}, CaseSensitive: true},
									Route: &RouteAction{Cluster: "backend", Timeout: 15 * time.Second,
										UpgradeConfigs: []RouteUpgradeConfig{{UpgradeType: "CONNECT", Enabled: true, ConnectConfig: &ConnectConfig{}}}},
								},
								{
									Name:           "versioned",
									Match:          RouteMatch{SafeRegex: "^/v[0-9]+/.*", CaseSensitive: true},
									DirectResponse: &DirectResponse{Status: 200, Body: DataSource{InlineString: "hello"}},
								},
							},
						}},
					},
				},
			}}}},
		}},
		Clusters: []Cluster{{
			Name:                          "backend",
			Type:                          "STATIC",
			ConnectTimeout:                time.Second,
			LbPolicy:                      "least_request",
			MaxConnections:                10,
			MaxPendingRequests:            20,
			MaxRequestsPerConnection:      100,
			IdleTimeout:                   90 * time.Second,
			DNSRefreshRate:                5 * time.Second,
			DNSMinRefreshRate:             5 * time.Second,
			DNSLookupFamily:               "AUTO",
			PerConnectionBufferLimitBytes: 1 << 20,
			MaxResponseHeadersKB:          96,
			LoadAssignment: LoadAssignment{Endpoints: []LocalityLbEndpoints{{LbEndpoints: []LbEndpoint{
				{LoadBalancingWeight: 1, Endpoint: Endpoint{Address: Address{SocketAddress: SocketAddress{
					Address: "127.0.0.1", PortValue: 8080, Addr: netip.MustParseAddrPort("127.0.0.1:8080")}}}},
				{LoadBalancingWeight: 1, Endpoint: Endpoint{Address: Address{SocketAddress: SocketAddress{
					Address: "::1", PortValue: 8081, Addr: netip.MustParseAddrPort("[::1]:8081")}}}},
			}}}},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		gh := got.Listeners[0].FilterChains[0].Filters[0].HCM
		wh := want.Listeners[0].FilterChains[0].Filters[0].HCM
		t.Errorf("config differs\n got %+v\nwant %+v\n got hcm %+v\nwant hcm %+v", got, want, gh, wh)
	}
}

func TestDefaultConfigParses(t *testing.T) {
	c, err := Parse(DefaultYAML, "/opt/sluice/built-in-default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin == nil || c.Admin.Addr != netip.MustParseAddrPort("127.0.0.1:9901") {
		t.Errorf("admin = %+v", c.Admin)
	}
	if len(c.Listeners) != 1 || c.Listeners[0].Addr != netip.MustParseAddrPort("127.0.0.1:10000") {
		t.Fatalf("listeners = %+v", c.Listeners)
	}
	if want := min(runtime.GOMAXPROCS(0), 256); c.Concurrency != want {
		t.Errorf("concurrency = %d, want %d", c.Concurrency, want)
	}
	h := c.Listeners[0].FilterChains[0].Filters[0].HCM
	if !reflect.DeepEqual(h.AccessLog, []AccessLog{{Path: "/dev/stdout", Format: "text"}}) {
		t.Errorf("access_log = %+v", h.AccessLog)
	}
	wantFilters := []HTTPFilter{
		{Name: "cache", Module: "modules/external_cache.so", ModulePath: "/opt/sluice/modules/external_cache.so", FilterName: "external_cache", Config: []byte("{}")},
		{Name: RouterFilterName, Config: []byte("null")},
	}
	if !reflect.DeepEqual(h.HTTPFilters, wantFilters) {
		t.Errorf("http_filters = %+v", h.HTTPFilters)
	}
	routes := h.RouteConfig.VirtualHosts[0].Routes
	want := Route{
		Name:           "hello",
		Match:          RouteMatch{Prefix: "/", CaseSensitive: true},
		DirectResponse: &DirectResponse{Status: 200, Body: DataSource{InlineString: "hello from sluice\n"}},
	}
	if len(routes) != 1 || !reflect.DeepEqual(routes[0], want) {
		t.Errorf("routes = %+v", routes)
	}
	if !reflect.DeepEqual(h.RouteConfig.VirtualHosts[0].Domains, []string{"*"}) {
		t.Errorf("domains = %v", h.RouteConfig.VirtualHosts[0].Domains)
	}
}

// TestDefaults pins every default of the schema.
func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimalYAML), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.DrainTimeout != 10*time.Second || c.DrainDelay != 0 || c.Log != (Log{Level: "info", Format: "console"}) || c.Admin != nil {
		t.Errorf("top-level defaults: %+v", c)
	}
	if c.Listeners[0].PerConnectionBufferLimitBytes != 1<<20 {
		t.Errorf("per_connection_buffer_limit_bytes = %d", c.Listeners[0].PerConnectionBufferLimitBytes)
	}
	h := c.Listeners[0].FilterChains[0].Filters[0].HCM
	wantHCM := HTTPConnectionManager{
		CodecType: "auto", ServerName: "sluice", GenerateRequestID: true,
		IdleTimeout: 60 * time.Second, RequestHeadersTimeout: 10 * time.Second, StreamIdleTimeout: 300 * time.Second,
		MaxRequestHeadersKB: 60, MaxHeadersCount: 100, MaxRequestLineBytes: 16384, StreamBufferLimitBytes: 1 << 20,
		HTTP2ProtocolOptions: DownstreamHTTP2Options{MaxConcurrentStreams: 1024, InitialStreamWindowSize: 256 << 10, InitialConnectionWindowSize: 1 << 20},
		HTTPFilters:          h.HTTPFilters, RouteConfig: h.RouteConfig,
	}
	if !reflect.DeepEqual(*h, wantHCM) {
		t.Errorf("hcm defaults\n got %+v\nwant %+v", *h, wantHCM)
	}
	if r := h.RouteConfig.VirtualHosts[0].Routes[0]; r.Route.Timeout != 15*time.Second || !r.Match.CaseSensitive {
		t.Errorf("route defaults: %+v %+v", r.Match, r.Route)
	}
	cl := c.Clusters[0]
	if cl.ConnectTimeout != 5*time.Second || cl.LbPolicy != "round_robin" || cl.MaxConnections != 1024 ||
		cl.MaxPendingRequests != 1024 || cl.MaxRequestsPerConnection != 0 || cl.IdleTimeout != 60*time.Second {
		t.Errorf("cluster defaults: %+v", cl)
	}
	if cl.HTTP2ProtocolOptions != nil {
		t.Errorf("http2_protocol_options absent but set: %+v", cl.HTTP2ProtocolOptions)
	}
}

// TestHTTP2ProtocolOptions: an empty map selects HTTP/2 with the defaults;
// a sub-field overrides only itself.
func TestHTTP2ProtocolOptions(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want HTTP2ProtocolOptions
	}{
		{"{}", HTTP2ProtocolOptions{MaxConcurrentStreams: 100, InitialStreamWindowSize: 256 << 10, InitialConnectionWindowSize: 1 << 20}},
		{"{ max_concurrent_streams: 7, initial_stream_window_size: 65535 }", HTTP2ProtocolOptions{MaxConcurrentStreams: 7, InitialStreamWindowSize: 65535, InitialConnectionWindowSize: 1 << 20}},
	} {
		in := strings.Replace(minimalYAML, "- name: backend\n", "- name: backend\n  http2_protocol_options: "+tc.yaml+"\n", 1)
		c, err := Parse([]byte(in), "")
		if err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		if got := c.Clusters[0].HTTP2ProtocolOptions; got == nil || *got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.yaml, got, tc.want)
		}
	}
}

func TestLoadMissingFileNamesIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path)
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T %v, want *Errors", err, err)
	}
	if want := path + ": cannot read: no such file or directory"; err.Error() != want {
		t.Errorf("error = %q, want %q", err.Error(), want)
	}
}

func TestLoadResolvesModuleAgainstFileDir(t *testing.T) {
	dir := t.TempDir()
	yaml := strings.Replace(minimalYAML, "        - name: router\n",
		"        - name: rel\n          module: mods/a.so\n          filter_name: a\n"+
			"        - name: abs\n          module: /opt/b.so\n          filter_name: b\n"+
			"        - name: router\n", 1)
	path := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	fs := c.Listeners[0].FilterChains[0].Filters[0].HCM.HTTPFilters
	if fs[0].ModulePath != filepath.Join(dir, "mods/a.so") || fs[0].Module != "mods/a.so" {
		t.Errorf("relative module: %q %q", fs[0].Module, fs[0].ModulePath)
	}
	if fs[1].ModulePath != "/opt/b.so" {
		t.Errorf("absolute module: %q", fs[1].ModulePath)
	}
	if string(fs[0].Config) != "null" {
		t.Errorf("absent config = %q, want null", fs[0].Config)
	}
}

// Viper lowercases keys; module configs and filter names must keep theirs.
func TestKeysKeepTheirCase(t *testing.T) {
	yaml := strings.Replace(minimalYAML, "        - name: router\n",
		"        - name: MyCache\n          module: a.so\n          filter_name: c\n          config: {MaxAge: 1, list: [{InList: x}]}\n"+
			"        - name: router\n", 1)
	yaml = strings.Replace(yaml, "            domains: [\"*\"]\n",
		"            domains: [\"*\"]\n            typed_per_filter_config: {MyCache: {TTL: 2}}\n", 1)
	c, err := Parse([]byte(yaml), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := c.Listeners[0].FilterChains[0].Filters[0].HCM
	if got := string(h.HTTPFilters[0].Config); got != `{"MaxAge":1,"list":[{"InList":"x"}]}` {
		t.Errorf("module config = %s", got)
	}
	if got := string(h.RouteConfig.VirtualHosts[0].TypedPerFilterConfig["MyCache"]); got != `{"TTL":2}` {
		t.Errorf("typed_per_filter_config = %v", h.RouteConfig.VirtualHosts[0].TypedPerFilterConfig)
	}
}

func TestErrorsFormat(t *testing.T) {
	e := &Errors{Source: "a.yaml", List: []Error{{Path: "x[0].y", Msg: "bad"}, {Msg: "whole file"}}}
	if got, want := e.Error(), "a.yaml: x[0].y: bad\na.yaml: whole file"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e.Source = ""
	if got, want := e.Error(), "x[0].y: bad\nwhole file"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// The overload manager's defaults: checked every second, released at 90 %
// of the trigger; absent, there is none.
func TestOverloadDefaults(t *testing.T) {
	c, err := Parse([]byte(minimalYAML), "")
	if err != nil || c.Overload != nil {
		t.Fatalf("without overload: %+v %v", c.Overload, err)
	}
	c, err = Parse([]byte("overload: { max_heap_bytes: 1000000, actions: [shed_new_streams] }\n"+minimalYAML), "")
	if err != nil {
		t.Fatal(err)
	}
	want := Overload{RefreshInterval: time.Second, MaxHeapBytes: 1000000, ReleaseHeapBytes: 900000, Actions: []string{"shed_new_streams"}}
	if o := c.Overload; o == nil || o.RefreshInterval != want.RefreshInterval || o.MaxHeapBytes != want.MaxHeapBytes ||
		o.ReleaseHeapBytes != want.ReleaseHeapBytes || len(o.Actions) != 1 || o.GlobalDownstreamMaxConnections != 0 {
		t.Fatalf("overload = %+v, want %+v", c.Overload, want)
	}
	if c.Listeners[0].MaxConnections != 0 {
		t.Fatalf("max_connections default %d", c.Listeners[0].MaxConnections)
	}
}
