package config

import (
	"errors"
	"strings"
	"testing"
)

// minimalYAML is the smallest valid config; validation cases edit it.
const minimalYAML = `listeners:
- name: main
  address: 127.0.0.1:0
  filter_chains:
  - filters:
    - name: http_connection_manager
      config:
        http_filters:
        - name: router
        route_config:
          virtual_hosts:
          - name: app
            domains: ["*"]
            routes:
            - match: { prefix: / }
              route: { cluster: backend }
clusters:
- name: backend
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
`

const (
	hcmPath   = "listeners[0].filter_chains[0].filters[0].config"
	vhPath    = hcmPath + ".route_config.virtual_hosts[0]"
	routePath = vhPath + ".routes[0]"
	epPath    = "clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address"
)

// edit applies old→new replacements to minimalYAML; each old must occur.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := minimalYAML
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("edit: %q not in minimalYAML", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

const (
	routerLine  = "        - name: router\n"
	routeLines  = "            - match: { prefix: / }\n              route: { cluster: backend }\n"
	domainsLine = "            domains: [\"*\"]\n"
	socketAddr  = "{ address: 127.0.0.1, port_value: 8080 }"
	clusterName = "- name: backend\n"
)

func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name  string
		edits []string
		want  []string
	}{
		// top level
		{"concurrency low", []string{"listeners:", "concurrency: 0\nlisteners:"}, []string{"concurrency: must be between 1 and 256"}},
		{"concurrency high", []string{"listeners:", "concurrency: 257\nlisteners:"}, []string{"concurrency: must be between 1 and 256"}},
		{"io_uring value", []string{"listeners:", "io_uring: on\nlisteners:"}, []string{`io_uring: invalid value "on": want auto|off`}},
		{"negative drain", []string{"listeners:", "drain_timeout: -1s\nlisteners:"}, []string{"drain_timeout: must not be negative"}},
		{"hot restart without socket", []string{"listeners:", "hot_restart: { socket: \"\" }\nlisteners:"}, []string{"hot_restart.socket: required"}},
		{"watch not a bool", []string{"listeners:", "watch: often\nlisteners:"}, []string{"watch: expected bool, got string"}},
		{"negative drain delay", []string{"listeners:", "drain_delay: -1s\nlisteners:"}, []string{"drain_delay: must not be negative"}},
		{"overload negatives", []string{"listeners:", "overload: { refresh_interval: 0s, max_heap_bytes: -1, global_downstream_max_connections: -1 }\nlisteners:"}, []string{"overload.refresh_interval: must be positive", "overload.max_heap_bytes: must not be negative", "overload.global_downstream_max_connections: must not be negative"}},
		{"overload release above max", []string{"listeners:", "overload: { max_heap_bytes: 1000, release_heap_bytes: 1000 }\nlisteners:"}, []string{"overload.release_heap_bytes: must be below max_heap_bytes (1000)"}},
		{"overload release alone", []string{"listeners:", "overload: { release_heap_bytes: 1000 }\nlisteners:"}, []string{"overload.release_heap_bytes: needs max_heap_bytes"}},
		{"overload actions", []string{"listeners:", "overload: { max_heap_bytes: 1000, actions: [shed_new_streams, drop_everything, shed_new_streams] }\nlisteners:"}, []string{`overload.actions[1]: invalid value "drop_everything": want stop_accepting_connections|disable_keepalive|shed_new_streams`, "overload.actions[2]: shed_new_streams listed twice"}},
		{"overload actions without a trigger", []string{"listeners:", "overload: { actions: [disable_keepalive] }\nlisteners:"}, []string{"overload.actions: need max_heap_bytes to trigger them"}},
		{"listener max_connections", []string{"  address: 127.0.0.1:0", "  address: 127.0.0.1:0\n  max_connections: -5"}, []string{"listeners[0].max_connections: must not be negative"}},
		{"watchdog zero miss", []string{"listeners:", "watchdog: { miss_timeout: 0s }\nlisteners:"}, []string{"watchdog.miss_timeout: must be positive"}},
		{"watchdog megamiss below miss", []string{"listeners:", "watchdog: { miss_timeout: 2s, megamiss_timeout: 1s }\nlisteners:"}, []string{"watchdog.megamiss_timeout: must not be shorter than miss_timeout"}},
		{"watchdog kill below megamiss", []string{"listeners:", "watchdog: { kill_timeout: 500ms }\nlisteners:"}, []string{"watchdog.kill_timeout: must not be shorter than megamiss_timeout (or 0 to disable)"}},
		{"watchdog negative kill", []string{"listeners:", "watchdog: { kill_timeout: -1s }\nlisteners:"}, []string{"watchdog.kill_timeout: must not be negative"}},
		{"log level", []string{"listeners:", "log: { level: verbose }\nlisteners:"}, []string{`log.level: invalid value "verbose": want debug|info|warn|error`}},
		{"log format", []string{"listeners:", "log: { format: xml }\nlisteners:"}, []string{`log.format: invalid value "xml": want console|json`}},
		{"admin no address", []string{"listeners:", "admin: { address: \"\" }\nlisteners:"}, []string{"admin.address: required"}},
		{"admin dns", []string{"listeners:", "admin: { address: localhost:9901 }\nlisteners:"}, []string{`admin.address: invalid address "localhost:9901": want IP:port (no DNS names)`}},
		// decoding
		{"unknown top-level key", []string{"listeners:", "listners: []\nlisteners:"}, []string{"listners: unknown field"}},
		{"unknown cluster key", []string{clusterName, clusterName + "  conect_timeout: 1s\n"}, []string{"clusters[0].conect_timeout: unknown field"}},
		{"string for int", []string{"listeners:", "concurrency: two\nlisteners:"}, []string{"concurrency: expected integer, got string"}},
		{"float for int", []string{"listeners:", "concurrency: 1.5\nlisteners:"}, []string{"concurrency: expected integer, got float"}},
		{"list for string", []string{"- name: main", "- name: [main]"}, []string{"listeners[0].name: expected string, got list"}},
		{"map for list", []string{"    endpoints:\n    - lb_endpoints:", "    endpoints: {}\n    x:\n    - lb_endpoints:"},
			[]string{"clusters[0].load_assignment.endpoints: expected list, got map", "clusters[0].load_assignment.x: unknown field"}},
		{"string for bool", []string{"- name: backend", "- name: backend\n  max_connections: true"}, []string{"clusters[0].max_connections: expected integer, got bool"}},
		{"bad duration", []string{clusterName, clusterName + "  connect_timeout: 5x\n"}, []string{`clusters[0].connect_timeout: invalid duration "5x" (want e.g. "5s", "250ms")`}},
		{"number duration", []string{clusterName, clusterName + "  connect_timeout: 5\n"}, []string{`clusters[0].connect_timeout: expected a duration string like "5s", got integer`}},
		{"int overflow", []string{"listeners:", "concurrency: 99999999999999999999\nlisteners:"}, []string{"concurrency: expected integer, got float"}},
		// listeners
		{"listener dns", []string{"address: 127.0.0.1:0", "address: example.com:80"}, []string{`listeners[0].address: invalid address "example.com:80": want IP:port (no DNS names)`}},
		{"listener no port", []string{"address: 127.0.0.1:0", "address: 127.0.0.1"}, []string{`listeners[0].address: invalid address "127.0.0.1": want IP:port (no DNS names)`}},
		{"buffer limit", []string{"  filter_chains:", "  per_connection_buffer_limit_bytes: 0\n  filter_chains:"}, []string{"listeners[0].per_connection_buffer_limit_bytes: must be positive"}},
		{"unknown network filter", []string{"    - name: http_connection_manager", "    - name: redis_proxy"}, []string{`listeners[0].filter_chains[0].filters[0].name: unknown network filter "redis_proxy"`}},
		{"tcp_proxy unknown cluster", []string{"    - name: http_connection_manager\n      config:\n", "    - name: tcp_proxy\n      config: { cluster: nope, idle_timeout: -1s }\n    - name: x\n      config:\n"},
			[]string{`listeners[0].filter_chains[0].filters[0].name: tcp_proxy ends a filter chain: it must be the last filter`,
				`listeners[0].filter_chains[0].filters[0].config.cluster: unknown cluster "nope"`,
				`listeners[0].filter_chains[0].filters[0].config.idle_timeout: must not be negative`,
				`listeners[0].filter_chains[0].filters[1].name: unknown network filter "x"`}},
		{"client_ip_allow", []string{"    - name: http_connection_manager\n      config:\n", "    - name: client_ip_allow\n      config: { allow: [10.0.0.0/8, 10.0.0.0/33, nohost] }\n    - name: http_connection_manager\n      config:\n"},
			[]string{`listeners[0].filter_chains[0].filters[0].config.allow[1]: invalid CIDR "10.0.0.0/33": want address/prefix-length or an address`,
				`listeners[0].filter_chains[0].filters[0].config.allow[2]: invalid CIDR "nohost": want address/prefix-length or an address`}},
		{"client_ip_allow last", []string{"    - name: http_connection_manager\n      config:\n", "    - name: client_ip_allow\n      config: { allow: [] }\n      x:\n"},
			[]string{`listeners[0].filter_chains[0].filters: the last filter must be tcp_proxy or http_connection_manager`,
				`listeners[0].filter_chains[0].filters[0].config.allow: required: at least one CIDR`,
				`listeners[0].filter_chains[0].filters[0].x: unknown field`}},
		// http connection manager
		{"codec", []string{"        http_filters:", "        codec_type: http3\n        http_filters:"}, []string{hcmPath + `.codec_type: invalid value "http3": want auto|http1|http2`}},
		{"server name", []string{"        http_filters:", "        server_name: \"a\\r\\nb\"\n        via: \"x\\ny\"\n        http_filters:"},
			[]string{hcmPath + ".server_name: invalid header value (CR, LF or NUL)", hcmPath + ".via: invalid header value (CR, LF or NUL)"}},
		{"xff hops", []string{"        http_filters:", "        xff_num_trusted_hops: -1\n        http_filters:"}, []string{hcmPath + ".xff_num_trusted_hops: must not be negative"}},
		{"headers kb", []string{"        http_filters:", "        max_request_headers_kb: 9000\n        http_filters:"}, []string{hcmPath + ".max_request_headers_kb: must be between 1 and 8192"}},
		{"headers count", []string{"        http_filters:", "        max_headers_count: 0\n        http_filters:"}, []string{hcmPath + ".max_headers_count: must be between 1 and 10000"}},
		{"request line", []string{"        http_filters:", "        max_request_line_bytes: 10\n        http_filters:"}, []string{hcmPath + ".max_request_line_bytes: must be between 64 and 1048576"}},
		{"stream buffer", []string{"        http_filters:", "        stream_buffer_limit_bytes: -1\n        http_filters:"}, []string{hcmPath + ".stream_buffer_limit_bytes: must be positive"}},
		{"negative idle", []string{"        http_filters:", "        idle_timeout: -5s\n        http_filters:"}, []string{hcmPath + ".idle_timeout: must not be negative"}},
		{"upgrade configs", []string{"        http_filters:", "        upgrade_configs: [{ enabled: true }, { upgrade_type: \"web socket\" }, { upgrade_type: a/b/c }, { upgrade_type: HTTP/2.0 }, { upgrade_type: h2C }, { upgrade_type: WebSocket }, { upgrade_type: websocket, enabled: false }, { upgrade_type: x, filters: [] }]\n        http_filters:"},
			[]string{hcmPath + ".upgrade_configs[0].upgrade_type: required",
				hcmPath + `.upgrade_configs[1].upgrade_type: invalid upgrade type "web socket": must be a protocol such as websocket or name/version`,
				hcmPath + `.upgrade_configs[2].upgrade_type: invalid upgrade type "a/b/c": must be a protocol such as websocket or name/version`,
				hcmPath + ".upgrade_configs[4].upgrade_type: h2c is not proxied: sluice's HTTP/2 codec serves h2c upgrades itself (codec_type)",
				hcmPath + `.upgrade_configs[6].upgrade_type: duplicate upgrade_type "websocket" (first at ` + hcmPath + ".upgrade_configs[5].upgrade_type)",
				hcmPath + ".upgrade_configs[7].filters: unknown field"}},
		{"upgrade enabled type", []string{"        http_filters:", "        upgrade_configs: [{ upgrade_type: websocket, enabled: yes please }]\n        http_filters:"},
			[]string{hcmPath + ".upgrade_configs[0].enabled: expected bool, got string"}},
		{"access log", []string{"        http_filters:", "        access_log: [{ format: csv }]\n        http_filters:"},
			[]string{hcmPath + ".access_log[0].path: required", hcmPath + `.access_log[0].format: invalid value "csv": want json|text`}},
		// http filters
		{"last not router", []string{routerLine, routerLine + "        - name: m\n          module: m.so\n          filter_name: m\n"},
			// A problem with a whole list sorts before problems with its items.
			[]string{hcmPath + `.http_filters: the last filter must be "router"`, hcmPath + ".http_filters[0].name: the router must be the last filter"}},
		{"no filters", []string{"        http_filters:\n" + routerLine, "        http_filters: []\n"}, []string{hcmPath + `.http_filters: the last filter must be "router"`}},
		{"router twice", []string{routerLine, routerLine + routerLine},
			[]string{hcmPath + ".http_filters[0].name: the router must be the last filter", hcmPath + `.http_filters[1].name: duplicate name "router" (first at ` + hcmPath + ".http_filters[0].name)"}},
		{"unknown builtin", []string{routerLine, "        - name: gzip\n" + routerLine}, []string{hcmPath + `.http_filters[0].name: unknown built-in filter "gzip"`}},
		{"module needs filter_name", []string{routerLine, "        - name: c\n          module: c.so\n" + routerLine}, []string{hcmPath + ".http_filters[0].filter_name: required"}},
		{"filter_name needs module", []string{routerLine, "        - name: c\n          filter_name: c\n" + routerLine}, []string{hcmPath + ".http_filters[0].module: required"}},
		{"filter name required", []string{routerLine, "        - module: c.so\n          filter_name: c\n" + routerLine}, []string{hcmPath + ".http_filters[0].name: required"}},
		{"module named router", []string{routerLine, "        - name: router\n          module: c.so\n          filter_name: c\n" + routerLine},
			[]string{hcmPath + `.http_filters[0].name: "router" is the built-in router; give the module filter another name`,
				hcmPath + `.http_filters[1].name: duplicate name "router" (first at ` + hcmPath + ".http_filters[0].name)"}},
		{"router with config", []string{routerLine, "        - name: router\n          config: {a: 1}\n"}, []string{hcmPath + ".http_filters[0].config: the router filter takes no config"}},
		{"router insecure", []string{routerLine, "        - name: router\n          allow_insecure_permissions: true\n"}, []string{hcmPath + ".http_filters[0].allow_insecure_permissions: only for module filters"}},
		{"unencodable module config", []string{routerLine, "        - name: c\n          module: c.so\n          filter_name: c\n          config: {x: .inf}\n" + routerLine},
			[]string{hcmPath + ".http_filters[0].config: cannot encode as JSON: json: unsupported value: +Inf"}},
		// route config
		{"domains required", []string{domainsLine, ""}, []string{vhPath + ".domains: required"}},
		{"bad wildcard", []string{domainsLine, "            domains: [\"a.*.com\", \"**\", \"\"]\n"},
			[]string{vhPath + `.domains[0]: invalid domain "a.*.com": one wildcard, first or last`, vhPath + `.domains[1]: invalid domain "**": one wildcard, first or last`, vhPath + ".domains[2]: must not be empty"}},
		{"duplicate domain", []string{domainsLine, "            domains: [\"A.com\", \"a.COM\"]\n"}, []string{vhPath + `.domains[1]: duplicate domain "a.COM" (first at ` + vhPath + ".domains[0])"}},
		{"duplicate domain across vhosts", []string{routeLines, routeLines + "          - name: two\n            domains: [\"*\"]\n            routes:\n" + routeLines},
			[]string{hcmPath + `.route_config.virtual_hosts[1].domains[0]: duplicate domain "*" (first at ` + vhPath + ".domains[0])"}},
		{"duplicate vhost name", []string{routeLines, routeLines + "          - name: app\n            domains: [b]\n            routes:\n" + routeLines},
			[]string{hcmPath + `.route_config.virtual_hosts[1].name: duplicate name "app" (first at ` + vhPath + ".name)"}},
		{"routes required", []string{"            routes:\n" + routeLines, ""}, []string{vhPath + ".routes: required"}},
		{"per filter unknown", []string{domainsLine, domainsLine + "            typed_per_filter_config: { cache: {} }\n"}, []string{vhPath + `.typed_per_filter_config.cache: no http filter named "cache"`}},
		// routes
		{"no match kind", []string{"match: { prefix: / }", "match: {}"}, []string{routePath + ".match: exactly one of prefix, path, safe_regex, connect_matcher is required"}},
		{"two match kinds", []string{"match: { prefix: / }", "match: { prefix: /, path: /a }"}, []string{routePath + ".match: exactly one of prefix, path, safe_regex, connect_matcher is required"}},
		{"connect matcher and prefix", []string{"match: { prefix: / }", "match: { prefix: /, connect_matcher: {} }", "        http_filters:", "        upgrade_configs: [{ upgrade_type: CONNECT }]\n        http_filters:"},
			[]string{routePath + ".match: exactly one of prefix, path, safe_regex, connect_matcher is required"}},
		{"connect matcher fields", []string{"match: { prefix: / }", "match: { connect_matcher: { allow_post: true } }", "        http_filters:", "        upgrade_configs: [{ upgrade_type: CONNECT }]\n        http_filters:"},
			[]string{routePath + ".match.connect_matcher.allow_post: unknown field"}},
		{"connect not enabled", []string{"match: { prefix: / }", "match: { connect_matcher: {} }"},
			[]string{routePath + ".match.connect_matcher: CONNECT is not enabled for this route: add upgrade_configs: [{ upgrade_type: CONNECT }] to the route or to the http_connection_manager"}},
		{"connect disabled on route", []string{"match: { prefix: / }", "match: { connect_matcher: {} }", "cluster: backend }", "cluster: backend, upgrade_configs: [{ upgrade_type: connect, enabled: false }] }",
			"        http_filters:", "        upgrade_configs: [{ upgrade_type: CONNECT }]\n        http_filters:"},
			[]string{routePath + ".match.connect_matcher: CONNECT is not enabled for this route: add upgrade_configs: [{ upgrade_type: CONNECT }] to the route or to the http_connection_manager"}},
		{"connect disabled on hcm", []string{"match: { prefix: / }", "match: { connect_matcher: {} }", "        http_filters:", "        upgrade_configs: [{ upgrade_type: CONNECT, enabled: false }]\n        http_filters:"},
			[]string{routePath + ".match.connect_matcher: CONNECT is not enabled for this route: add upgrade_configs: [{ upgrade_type: CONNECT }] to the route or to the http_connection_manager"}},
		{"path slash", []string{"match: { prefix: / }", "match: { path: a }"}, []string{routePath + `.match.path: must start with "/"`}},
		{"bad regex", []string{"match: { prefix: / }", "match: { safe_regex: \"/(a\" }"}, []string{routePath + ".match.safe_regex: error parsing regexp: missing closing ): `/(a`"}},
		{"header matcher none", []string{"match: { prefix: / }", "match: { prefix: /, headers: [{ name: x }] }"},
			[]string{routePath + ".match.headers[0]: exactly one of exact_match, present_match, safe_regex_match, prefix_match is required"}},
		{"header matcher two", []string{"match: { prefix: / }", "match: { prefix: /, headers: [{ name: x, exact_match: a, prefix_match: b }] }"},
			[]string{routePath + ".match.headers[0]: exactly one of exact_match, present_match, safe_regex_match, prefix_match is required"}},
		{"header matcher name", []string{"match: { prefix: / }", "match: { prefix: /, headers: [{ exact_match: a }, { name: \"a b\", present_match: true }] }"},
			[]string{routePath + ".match.headers[0].name: required", routePath + `.match.headers[1].name: invalid header name "a b"`}},
		{"header matcher regex", []string{"match: { prefix: / }", "match: { prefix: /, headers: [{ name: x, safe_regex_match: \"[\" }] }"},
			[]string{routePath + ".match.headers[0].safe_regex_match: error parsing regexp: missing closing ]: `[`"}},
		{"no action", []string{"              route: { cluster: backend }\n", ""}, []string{routePath + ": exactly one of route, direct_response is required"}},
		{"two actions", []string{"route: { cluster: backend }", "route: { cluster: backend }\n              direct_response: { status: 200 }"},
			[]string{routePath + ": exactly one of route, direct_response is required"}},
		{"cluster required", []string{"route: { cluster: backend }", "route: { timeout: 1s }"}, []string{routePath + ".route.cluster: required"}},
		{"unknown cluster", []string{"route: { cluster: backend }", "route: { cluster: foo }"}, []string{routePath + `.route.cluster: unknown cluster "foo"`}},
		{"negative timeout", []string{"route: { cluster: backend }", "route: { cluster: backend, timeout: -1s }"}, []string{routePath + ".route.timeout: must not be negative"}},
		{"max stream duration", []string{"route: { cluster: backend }", "route: { cluster: backend, max_stream_duration: { max_stream_duration: -1s, grpc_timeout_header_offset: -2s, grpc_timeout: 1s } }"},
			[]string{routePath + ".route.max_stream_duration.max_stream_duration: must not be negative",
				routePath + ".route.max_stream_duration.grpc_timeout_header_offset: must not be negative",
				routePath + ".route.max_stream_duration.grpc_timeout_header_offset: needs grpc_timeout_header_max",
				routePath + ".route.max_stream_duration.grpc_timeout: unknown field"}},
		{"hcm http2 ranges", []string{"      config:\n", "      config:\n        http2_protocol_options: { max_concurrent_streams: 0, initial_stream_window_size: 100, initial_connection_window_size: 2147483648 }\n"},
			[]string{hcmPath + ".http2_protocol_options.max_concurrent_streams: must be between 1 and 2147483647",
				hcmPath + ".http2_protocol_options.initial_stream_window_size: must be between 65535 and 2147483647",
				hcmPath + ".http2_protocol_options.initial_connection_window_size: must be between 65535 and 2147483647"}},
		{"prefix rewrite needs prefix", []string{"match: { prefix: / }", "match: { path: /a }", "cluster: backend }", "cluster: backend, prefix_rewrite: /b }"},
			[]string{routePath + ".route.prefix_rewrite: needs a prefix match"}},
		{"host rewrite conflict", []string{"cluster: backend }", "cluster: backend, host_rewrite_literal: a, auto_host_rewrite: true }"},
			[]string{routePath + ".route.auto_host_rewrite: conflicts with host_rewrite_literal"}},
		{"host rewrite value", []string{"cluster: backend }", "cluster: backend, host_rewrite_literal: \"a\\nb\" }"}, []string{routePath + ".route.host_rewrite_literal: invalid host"}},
		{"route upgrade configs", []string{"cluster: backend }", "cluster: backend, upgrade_configs: [{ upgrade_type: websocket, connect_config: {} }, { upgrade_type: WEBSOCKET }, {}, { upgrade_type: CONNECT, connect_config: { proxy_protocol_config: {} } }] }"},
			[]string{routePath + ".route.upgrade_configs[0].connect_config: only for upgrade_type CONNECT",
				routePath + `.route.upgrade_configs[1].upgrade_type: duplicate upgrade_type "WEBSOCKET" (first at ` + routePath + ".route.upgrade_configs[0].upgrade_type)",
				routePath + ".route.upgrade_configs[2].upgrade_type: required",
				routePath + ".route.upgrade_configs[3].connect_config.proxy_protocol_config: unknown field"}},
		{"status low", []string{"route: { cluster: backend }", "direct_response: { status: 199 }"}, []string{routePath + ".direct_response.status: must be between 200 and 599"}},
		{"status high", []string{"route: { cluster: backend }", "direct_response: { status: 600 }"}, []string{routePath + ".direct_response.status: must be between 200 and 599"}},
		{"route per filter unknown", []string{"route: { cluster: backend }", "route: { cluster: backend }\n              typed_per_filter_config: { x: 1 }"},
			[]string{routePath + `.typed_per_filter_config.x: no http filter named "x"`}},
		// header mutations
		{"add key required", []string{"route: { cluster: backend }", "route: { cluster: backend }\n              request_headers_to_add: [{ header: { value: v } }]"},
			[]string{routePath + ".request_headers_to_add[0].header.key: required"}},
		{"add pseudo", []string{"route: { cluster: backend }", "route: { cluster: backend }\n              request_headers_to_add: [{ header: { key: \":path\", value: v } }]"},
			[]string{routePath + `.request_headers_to_add[0].header.key: cannot modify ":path"`}},
		{"add host", []string{domainsLine, domainsLine + "            request_headers_to_add: [{ header: { key: Host, value: v } }]\n"},
			[]string{vhPath + `.request_headers_to_add[0].header.key: cannot modify "Host"`}},
		{"add bad name", []string{"route: { cluster: backend }", "route: { cluster: backend }\n              response_headers_to_add: [{ header: { key: \"a:b\", value: v } }]"},
			[]string{routePath + `.response_headers_to_add[0].header.key: invalid header name "a:b"`}},
		{"add bad value", []string{"route: { cluster: backend }", "route: { cluster: backend }\n              response_headers_to_add: [{ header: { key: a, value: \"x\\ry\" } }]"},
			[]string{routePath + ".response_headers_to_add[0].header.value: invalid header value (CR, LF or NUL)"}},
		{"add action", []string{"route: { cluster: backend }", "route: { cluster: backend }\n              request_headers_to_add: [{ header: { key: a, value: b }, append_action: APPEND }]"},
			[]string{routePath + `.request_headers_to_add[0].append_action: invalid value "APPEND": want APPEND_IF_EXISTS_OR_ADD|ADD_IF_ABSENT|OVERWRITE_IF_EXISTS_OR_ADD|OVERWRITE_IF_EXISTS`}},
		{"remove pseudo", []string{"route: { cluster: backend }", "route: { cluster: backend }\n              response_headers_to_remove: [\":status\", \"\"]"},
			[]string{routePath + `.response_headers_to_remove[0]: cannot modify ":status"`, routePath + ".response_headers_to_remove[1]: required"}},
		// clusters
		{"cluster name required", []string{"- name: backend\n  load", "- load"},
			[]string{routePath + `.route.cluster: unknown cluster "backend"`, "clusters[0].name: required"}},
		{"duplicate cluster", []string{"clusters:\n", "clusters:\n- name: backend\n  load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: " + socketAddr + " } } }] }] }\n"},
			[]string{`clusters[1].name: duplicate name "backend" (first at clusters[0].name)`}},
		{"connect timeout zero", []string{clusterName, clusterName + "  connect_timeout: 0s\n"}, []string{"clusters[0].connect_timeout: must be positive"}},
		{"lb policy", []string{clusterName, clusterName + "  lb_policy: weighted\n"}, []string{`clusters[0].lb_policy: invalid value "weighted": want round_robin|random|least_request|ring_hash|maglev`}},
		{"max connections", []string{clusterName, clusterName + "  max_connections: 0\n  max_pending_requests: 0\n  max_requests_per_connection: -1\n  idle_timeout: -1s\n"},
			[]string{"clusters[0].max_connections: must be positive", "clusters[0].max_pending_requests: must be positive",
				"clusters[0].max_requests_per_connection: must not be negative", "clusters[0].idle_timeout: must not be negative"}},
		{"http2 ranges", []string{clusterName, clusterName + "  http2_protocol_options: { max_concurrent_streams: 0, initial_stream_window_size: 65534, initial_connection_window_size: 2147483648 }\n"},
			[]string{"clusters[0].http2_protocol_options.max_concurrent_streams: must be between 1 and 2147483647",
				"clusters[0].http2_protocol_options.initial_stream_window_size: must be between 65535 and 2147483647",
				"clusters[0].http2_protocol_options.initial_connection_window_size: must be between 65535 and 2147483647"}},
		{"http2 unknown field", []string{clusterName, clusterName + "  http2_protocol_options: { hpack_table_size: 0 }\n"},
			[]string{"clusters[0].http2_protocol_options.hpack_table_size: unknown field"}},
		{"no endpoints", []string{"  load_assignment:\n    endpoints:\n    - lb_endpoints:\n      - endpoint: { address: { socket_address: " + socketAddr + " } }\n", ""},
			[]string{"clusters[0].load_assignment.endpoints: required"}},
		{"no lb endpoints", []string{"    - lb_endpoints:\n      - endpoint: { address: { socket_address: " + socketAddr + " } }\n", "    - lb_endpoints: []\n"},
			[]string{"clusters[0].load_assignment.endpoints[0].lb_endpoints: required"}},
		{"endpoint dns", []string{socketAddr, "{ address: backend.local, port_value: 8080 }"}, []string{epPath + `.address: invalid IP address "backend.local" (a STATIC cluster takes IP addresses; use type STRICT_DNS or LOGICAL_DNS for host names)`}},
		{"endpoint port", []string{socketAddr, "{ address: 127.0.0.1, port_value: 0 }"}, []string{epPath + ".port_value: must be between 1 and 65535"}},
		{"endpoint empty", []string{socketAddr, "{}"}, []string{epPath + ".address: required", epPath + ".port_value: must be between 1 and 65535"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, edit(t, tc.edits...), tc.want)
		})
	}
}

func checkErrors(t *testing.T, yaml string, want []string) {
	t.Helper()
	_, err := Parse([]byte(yaml), "")
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse error = %v (%T), want *Errors\n%s", err, err, yaml)
	}
	var got []string
	for _, e := range errs.List {
		got = append(got, e.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s\nyaml:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), yaml)
	}
}

func TestValidationErrorsWholeDocuments(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"empty document", "", []string{"listeners: required"}},
		{"null sections", "log:\nadmin:\nclusters:\nlisteners:\n", []string{"listeners: required"}},
		{"listener name required", strings.Replace(minimalYAML, "- name: main\n  address", "- address", 1),
			[]string{"listeners[0].name: required"}},
		{"duplicate listener", strings.Replace(minimalYAML, "clusters:", `- name: main
  address: 127.0.0.1:0
  filter_chains: [{ filters: [{ name: http_connection_manager, config: { http_filters: [{ name: router }], route_config: { virtual_hosts: [{ name: a, domains: [a], routes: [{ match: { path: /x }, direct_response: { status: 204 } }] }] } } }] }]
clusters:`, 1),
			[]string{`listeners[1].name: duplicate name "main" (first at listeners[0].name)`}},
		{"duplicate listener address", "listeners:\n" +
			"- { name: a, address: 127.0.0.1:80, filter_chains: [{ filters: [{ name: http_connection_manager, config: { http_filters: [{ name: router }], route_config: { virtual_hosts: [{ name: a, domains: [a], routes: [{ match: { path: /x }, direct_response: { status: 204 } }] }] } } }] }] }\n" +
			"- { name: b, address: 127.0.0.1:80, filter_chains: [{ filters: [{ name: http_connection_manager, config: { http_filters: [{ name: router }], route_config: { virtual_hosts: [{ name: a, domains: [a], routes: [{ match: { path: /x }, direct_response: { status: 204 } }] }] } } }] }] }\n",
			[]string{"listeners[1].address: address 127.0.0.1:80 already used by listeners[0]"}},
		{"no filter chain", strings.Replace(minimalYAML, "  filter_chains:\n", "  filter_chains: []\n  x:\n", 1),
			[]string{"listeners[0].filter_chains: required (or a default_filter_chain)", "listeners[0].x: unknown field"}},
		{"two filter chains matching alike", strings.Replace(minimalYAML, "  filter_chains:\n", "  filter_chains:\n  - filters: [{ name: http_connection_manager }]\n", 1),
			[]string{"listeners[0].filter_chains[0].filters[0].config: required",
				"listeners[0].filter_chains[1]: matches the same connections as listeners[0].filter_chains[0]: make one of them more specific (or merge them)"}},
		{"terminal not last", strings.Replace(minimalYAML, "    - name: http_connection_manager\n", "    - name: tcp_proxy\n    - name: http_connection_manager\n", 1),
			[]string{`listeners[0].filter_chains[0].filters[0].name: tcp_proxy ends a filter chain: it must be the last filter`,
				`listeners[0].filter_chains[0].filters[0].config: required`}},
		{"no virtual hosts", strings.Replace(minimalYAML, "          virtual_hosts:\n", "          virtual_hosts: []\n          unused:\n", 1),
			[]string{hcmPath + ".route_config.virtual_hosts: required", hcmPath + ".route_config.unused: unknown field"}},
		{"vhost name required", strings.Replace(minimalYAML, "          - name: app\n            domains", "          - domains", 1),
			[]string{vhPath + ".name: required"}},
		{"top level is a list", "- a\n- b\n", []string{"yaml: line 1: the document must be a map, got !!seq"}},
		{"yaml syntax", "listeners: [\n", []string{"yaml: line 1: did not find expected node content"}},
		{"duplicate key", "concurrency: 1\nconcurrency: 2\n", []string{`yaml: line 2: mapping key "concurrency" already defined at line 1`}},
		{"two duplicate keys", "a: 1\na: 2\nb: 1\nb: 2\n", []string{
			`yaml: line 2: mapping key "a" already defined at line 1`,
			`yaml: line 4: mapping key "b" already defined at line 3`,
		}},
		// Everything at once, in file order: top level, listeners, clusters.
		{"many errors in file order", strings.NewReplacer(
			"listeners:", "concurrency: 0\nlisteners:",
			"address: 127.0.0.1:0", "address: nowhere",
			"route: { cluster: backend }", "route: { cluster: nope }",
			"port_value: 8080", "port_value: 70000",
		).Replace(minimalYAML), []string{
			"concurrency: must be between 1 and 256",
			`listeners[0].address: invalid address "nowhere": want IP:port (no DNS names)`,
			routePath + `.route.cluster: unknown cluster "nope"`,
			epPath + ".port_value: must be between 1 and 65535",
		}},
		{"unknown network filter config not decoded", strings.Replace(minimalYAML, "    - name: http_connection_manager\n      config:\n",
			"    - name: redis_proxy\n      config: { cluster: backend }\n    - name: http_connection_manager\n      config:\n", 1),
			[]string{`listeners[0].filter_chains[0].filters[0].name: unknown network filter "redis_proxy"`}},
		{"wrongly typed section", strings.Replace(minimalYAML, "route: { cluster: backend }", "route: backend", 1),
			[]string{routePath + ".route: expected map, got string"}},
		{"wrongly typed header matcher", strings.Replace(minimalYAML, "match: { prefix: / }", "match: { prefix: /, headers: [{ name: x, exact_match: [a] }] }", 1),
			[]string{routePath + ".match.headers[0].exact_match: expected string, got list"}},
		// A field the decoder rejected is not reported again by validation.
		{"no duplicate report", strings.Replace(minimalYAML, "- name: backend", "- name: [backend]", 1),
			[]string{routePath + `.route.cluster: unknown cluster "backend"`, "clusters[0].name: expected string, got list"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkErrors(t, tc.yaml, tc.want) })
	}
}
