package config

import (
	"strings"
	"testing"
	"time"
)

const la = "  load_assignment:\n    endpoints:\n    - lb_endpoints:\n      - endpoint: { address: { socket_address: " + socketAddr + " } }\n"

// clusterYAML replaces the minimal config's cluster body (everything after
// its name) with body.
func clusterYAML(t *testing.T, body string) string {
	return edit(t, la, body)
}

func TestClusterValidationErrors(t *testing.T) {
	const c0 = "clusters[0]"
	cases := []struct {
		name string
		body string
		want []string
	}{
		{"type", "  type: MAGIC\n" + la, []string{c0 + `.type: invalid value "MAGIC": want STATIC|STRICT_DNS|LOGICAL_DNS|EDS`}},
		{"dns name", "  type: strict_dns\n  load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: \"bad name\", port_value: 80 } } } }] }] }\n",
			[]string{epPath + `.address: invalid host name "bad name"`}},
		{"logical dns two", "  type: LOGICAL_DNS\n  load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: a.test, port_value: 80 } } } }, { endpoint: { address: { socket_address: { address: b.test, port_value: 80 } } } }] }] }\n",
			[]string{c0 + ".load_assignment.endpoints: LOGICAL_DNS clusters must have a single endpoint"}},
		{"dns fields on static", "  respect_dns_ttl: true\n  dns_failure_refresh_rate: { base_interval: 1s }\n  dns_resolution_config: { resolvers: [] }\n" + la,
			[]string{c0 + ".respect_dns_ttl: only for STRICT_DNS and LOGICAL_DNS clusters", c0 + ".dns_failure_refresh_rate: only for STRICT_DNS and LOGICAL_DNS clusters",
				c0 + ".dns_resolution_config: only for STRICT_DNS and LOGICAL_DNS clusters", c0 + ".dns_resolution_config.resolvers: required: at least one resolver"}},
		{"dns values", "  type: STRICT_DNS\n  dns_refresh_rate: 0s\n  dns_lookup_family: V5\n  dns_failure_refresh_rate: { base_interval: 2s, max_interval: 1s }\n  dns_resolution_config: { resolvers: [{ socket_address: { address: dns.test, port_value: 0 } }] }\n" + la,
			[]string{c0 + ".dns_refresh_rate: must be positive", c0 + `.dns_lookup_family: invalid value "V5": want AUTO|V4_ONLY|V6_ONLY|V4_PREFERRED|ALL`,
				c0 + ".dns_failure_refresh_rate.max_interval: must not be shorter than base_interval",
				c0 + `.dns_resolution_config.resolvers[0].socket_address.address: invalid IP address "dns.test" (no DNS names)`,
				c0 + ".dns_resolution_config.resolvers[0].socket_address.port_value: must be between 1 and 65535"}},
		{"eds without config", "  type: EDS\n", []string{c0 + ".eds_cluster_config: required for EDS clusters"}},
		{"eds with endpoints", "  type: EDS\n  eds_cluster_config: { eds_config: { path_config_source: { path: /x.yaml } } }\n" + la,
			[]string{c0 + ".load_assignment.endpoints: not used by EDS clusters: their endpoints come from eds_cluster_config"}},
		{"eds no path", "  type: EDS\n  eds_cluster_config: { eds_config: {} }\n",
			[]string{c0 + ".eds_cluster_config.eds_config.path_config_source.path: required: the endpoint file"}},
		{"eds config on static", "  eds_cluster_config: { eds_config: { path: /x.yaml } }\n" + la, []string{c0 + ".eds_cluster_config: only for EDS clusters"}},
		{"weight and priority", "  load_assignment: { endpoints: [{ priority: 200, lb_endpoints: [{ load_balancing_weight: 0, endpoint: { address: { socket_address: " + socketAddr + " }, health_check_config: { port_value: 70000 } } }] }] }\n",
			[]string{c0 + ".load_assignment.endpoints[0].priority: must be between 0 and 127",
				c0 + ".load_assignment.endpoints[0].lb_endpoints[0].endpoint.health_check_config.port_value: must be between 1 and 65535",
				c0 + ".load_assignment.endpoints[0].lb_endpoints[0].load_balancing_weight: must be between 1 and 16777216"}},
		{"overprovisioning", "  load_assignment:\n    policy: { overprovisioning_factor: 0 }\n    endpoints:\n    - lb_endpoints:\n      - endpoint: { address: { socket_address: " + socketAddr + " } }\n",
			[]string{c0 + ".load_assignment.policy.overprovisioning_factor: must be positive"}},
		{"lb configs", "  lb_policy: maglev\n  common_lb_config: { healthy_panic_threshold: { value: 101 } }\n  maglev_lb_config: { table_size: 1000 }\n  ring_hash_lb_config: {}\n" + la,
			[]string{c0 + ".common_lb_config.healthy_panic_threshold.value: must be between 0 and 100",
				c0 + ".maglev_lb_config.table_size: must be a prime number between 2 and 5000011",
				c0 + ".ring_hash_lb_config: only with lb_policy ring_hash"}},
		{"ring sizes", "  lb_policy: RING_HASH\n  ring_hash_lb_config: { minimum_ring_size: 4096, maximum_ring_size: 1024, hash_function: MURMUR_HASH_2 }\n" + la,
			[]string{c0 + ".ring_hash_lb_config.maximum_ring_size: must not be smaller than minimum_ring_size",
				c0 + `.ring_hash_lb_config.hash_function: invalid value "MURMUR_HASH_2": want XX_HASH`}},
		{"least request", "  lb_policy: least_request\n  least_request_lb_config: { choice_count: 1, slow_start_config: { slow_start_window: 0s, aggression: { default_value: 0 }, min_weight_percent: { value: -1 } } }\n" + la,
			[]string{c0 + ".least_request_lb_config.choice_count: must be between 2 and 100",
				c0 + ".least_request_lb_config.slow_start_config.slow_start_window: must be positive",
				c0 + ".least_request_lb_config.slow_start_config.aggression.default_value: must be positive",
				c0 + ".least_request_lb_config.slow_start_config.min_weight_percent.value: must be between 0 and 100"}},
		{"health check", "  health_checks:\n  - { timeout: 0s, interval: 0s, unhealthy_threshold: 0, healthy_threshold: 0 }\n" + la,
			[]string{c0 + ".health_checks[0]: exactly one of http_health_check, tcp_health_check, grpc_health_check is required",
				c0 + ".health_checks[0].timeout: must be positive", c0 + ".health_checks[0].interval: must be positive",
				c0 + ".health_checks[0].unhealthy_threshold: must be between 1 and 2147483647", c0 + ".health_checks[0].healthy_threshold: must be between 1 and 2147483647"}},
		{"http health check", "  health_checks:\n  - timeout: 1s\n    interval: 1s\n    unhealthy_threshold: 1\n    healthy_threshold: 1\n    http_health_check: { path: healthz, method: \"GE T\", codec_client_type: HTTP3, expected_statuses: [{ start: 200, end: 200 }] }\n" + la,
			[]string{c0 + `.health_checks[0].http_health_check.path: invalid path "healthz": must start with "/" and hold no spaces or control characters`,
				c0 + `.health_checks[0].http_health_check.method: invalid method "GE T"`,
				c0 + ".health_checks[0].http_health_check.expected_statuses[0].end: must be above start and at most 600 (the range excludes end)",
				c0 + `.health_checks[0].http_health_check.codec_client_type: invalid value "HTTP3": want HTTP1|HTTP2`}},
		{"tcp payload", "  health_checks:\n  - timeout: 1s\n    interval: 1s\n    unhealthy_threshold: 1\n    healthy_threshold: 1\n    tcp_health_check: { send: { text: zz }, receive: [{}] }\n" + la,
			[]string{c0 + `.health_checks[0].tcp_health_check.send.text: invalid hex "zz"`,
				c0 + ".health_checks[0].tcp_health_check.receive[0]: exactly one of text (hex), binary (base64) is required"}},
		{"two health checks", "  health_checks:\n  - { timeout: 1s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }\n  - { timeout: 1s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }\n" + la,
			[]string{c0 + ".health_checks[1]: at most one health check per cluster is supported"}},
		{"outlier", "  outlier_detection: { enforcing_consecutive_5xx: 101, base_ejection_time: 0s, max_ejection_percent: 200, success_rate_minimum_hosts: 5 }\n" + la,
			[]string{c0 + ".outlier_detection.enforcing_consecutive_5xx: must be between 0 and 100",
				c0 + ".outlier_detection.base_ejection_time: must be positive",
				c0 + ".outlier_detection.max_ejection_percent: must be between 0 and 100",
				c0 + ".outlier_detection.success_rate_minimum_hosts: unknown field"}},
		{"circuit breakers", "  circuit_breakers: { thresholds: [{ priority: HIGH, max_retries: -1, retry_budget: { budget_percent: { value: 120 } } }, {}] }\n" + la,
			[]string{c0 + `.circuit_breakers.thresholds[0].priority: invalid value "HIGH": want DEFAULT`,
				c0 + ".circuit_breakers.thresholds[0].max_retries: must be between 0 and 2147483647",
				c0 + ".circuit_breakers.thresholds[0].retry_budget.budget_percent.value: must be between 0 and 100",
				c0 + ".circuit_breakers.thresholds[1]: only one entry (priority DEFAULT) is supported"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, clusterYAML(t, tc.body), tc.want)
		})
	}
}

func TestRouteRetryAndHashValidation(t *testing.T) {
	route := "route: { cluster: backend }"
	cases := []struct {
		name, with string
		want       []string
	}{
		{"retry on", "route: { cluster: backend, retry_policy: { retry_on: \"5xx,teapot\", num_retries: -1, per_try_timeout: -1s, retry_back_off: { base_interval: 0s } } }",
			[]string{routePath + `.route.retry_policy.retry_on: unknown retry_on condition "teapot" (want 5xx, gateway-error, reset, reset-before-request, connect-failure, retriable-4xx, refused-stream, retriable-status-codes)`,
				routePath + ".route.retry_policy.num_retries: must be between 0 and 1000",
				routePath + ".route.retry_policy.per_try_timeout: must not be negative",
				routePath + ".route.retry_policy.retry_back_off.base_interval: must be positive"}},
		{"retry predicate", "route: { cluster: backend, retry_policy: { retry_on: reset, retriable_status_codes: [99], retry_host_predicate: [{ name: other_hosts }] } }",
			[]string{routePath + ".route.retry_policy.retriable_status_codes[0]: must be between 100 and 599",
				routePath + `.route.retry_policy.retry_host_predicate[0].name: unknown retry host predicate "other_hosts" (want previous_hosts)`}},
		{"retry required", "route: { cluster: backend, retry_policy: {} }", []string{routePath + ".route.retry_policy.retry_on: required"}},
		{"hash", "route: { cluster: backend, hash_policy: [{ header: { header_name: \"a b\" } }, { cookie: {} }, {}, { connection_properties: { source_ip: false }, query_parameter: { name: q } }] }",
			[]string{routePath + `.route.hash_policy[0].header.header_name: invalid header name "a b"`,
				routePath + ".route.hash_policy[1].cookie.name: required",
				routePath + ".route.hash_policy[2]: exactly one of header, cookie, connection_properties, query_parameter is required",
				routePath + ".route.hash_policy[3]: exactly one of header, cookie, connection_properties, query_parameter is required",
				routePath + ".route.hash_policy[3].connection_properties.source_ip: must be true"}},
		{"buffer limit", route + "\n              per_request_buffer_limit_bytes: -1", []string{routePath + ".per_request_buffer_limit_bytes: must not be negative"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, edit(t, route, tc.with), tc.want)
		})
	}
}

func TestClusterDefaultsAndFullConfig(t *testing.T) {
	yaml := clusterYAML(t, `  type: strict_dns
  lb_policy: RING_HASH
  dns_refresh_rate: 2s
  respect_dns_ttl: true
  dns_lookup_family: V4_ONLY
  dns_failure_refresh_rate: { base_interval: 100ms }
  dns_resolution_config: { resolvers: [{ socket_address: { address: 127.0.0.1, port_value: 5353 } }] }
  common_lb_config: { healthy_panic_threshold: { value: 0 } }
  ring_hash_lb_config: { minimum_ring_size: 2048 }
  health_checks:
  - timeout: 1s
    interval: 2s
    unhealthy_threshold: 2
    healthy_threshold: 1
    tcp_health_check: { send: { text: "50494e47" }, receive: [{ text: "504f4e47" }] }
  outlier_detection: { consecutive_5xx: 3 }
  circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 25.5 } } }] }
  load_assignment:
    endpoints:
    - priority: 1
      lb_endpoints:
      - endpoint: { address: { socket_address: { address: backend.test, port_value: 8080 } } }
        load_balancing_weight: 3
`)
	cfg, err := Parse([]byte(yaml), "")
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Clusters[0]
	if c.ClusterType() != ClusterStrictDNS || !c.IsDNS() || c.DNSRefreshRate != 2*time.Second || c.DNSMinRefreshRate != 5*time.Second {
		t.Fatalf("dns: %+v", c)
	}
	if c.RingHashLbConfig.MinimumRingSize != 2048 || c.RingHashLbConfig.MaximumRingSize != 8<<20 {
		t.Fatalf("ring: %+v", c.RingHashLbConfig)
	}
	if c.CommonLbConfig.HealthyPanicThreshold.Value != 0 {
		t.Fatalf("panic threshold: %+v", c.CommonLbConfig.HealthyPanicThreshold)
	}
	hc := c.HealthChecks[0].TCPHealthCheck
	if string(hc.Send.Bytes) != "PING" || string(hc.Receive[0].Bytes) != "PONG" {
		t.Fatalf("payload: %q %q", hc.Send.Bytes, hc.Receive[0].Bytes)
	}
	od := c.OutlierDetection
	if od.Consecutive5xx != 3 || od.EnforcingConsecutive5xx != 100 || od.BaseEjectionTime != 30*time.Second || !od.SuccessfulActiveHealthCheckUnejectHost {
		t.Fatalf("outlier defaults: %+v", od)
	}
	th := c.CircuitBreakers.Thresholds[0]
	if th.Priority != "DEFAULT" || th.MaxRetries != 3 || th.RetryBudget.BudgetPercent.Value != 25.5 || th.RetryBudget.MinRetryConcurrency != 3 {
		t.Fatalf("thresholds: %+v %+v", th, th.RetryBudget)
	}
	ep := c.LoadAssignment.Endpoints[0]
	if ep.Priority != 1 || ep.LbEndpoints[0].LoadBalancingWeight != 3 || ep.LbEndpoints[0].Endpoint.Address.SocketAddress.Addr.IsValid() {
		t.Fatalf("endpoint: %+v", ep)
	}
	if !strings.Contains(yaml, "backend.test") {
		t.Fatal("fixture")
	}
}
