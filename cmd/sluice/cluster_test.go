package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/dns/dnstest"
)

// upstream is a test backend whose behaviour the test changes while sluice
// runs: healthy or not on /healthz, a status to answer, a hang, or dead
// (its listener closed) and back on the same address.
type upstream struct {
	name   string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	srv    *http.Server
	status int
	hang   bool
	sick   bool
	hits   atomic.Int64
}

func newUpstream(t *testing.T, name, addr string) *upstream {
	t.Helper()
	u := &upstream{name: name}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	u.serve(ln)
	t.Cleanup(u.stop)
	return u
}

func (u *upstream) serve(ln net.Listener) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.ln = ln
	u.srv = &http.Server{Handler: u}
	go u.srv.Serve(ln)
}

// stop kills the backend: listener and connections closed.
func (u *upstream) stop() {
	u.mu.Lock()
	srv := u.srv
	u.srv = nil
	u.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// restart brings a stopped backend back on its address.
func (u *upstream) restart(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", u.addr); err == nil {
			u.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond) // the old socket may linger briefly
	}
	t.Fatalf("restart %s: %v", u.addr, err)
}

func (u *upstream) set(fn func(u *upstream)) {
	u.mu.Lock()
	fn(u)
	u.mu.Unlock()
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	status, hang, sick := u.status, u.hang, u.sick
	u.mu.Unlock()
	io.Copy(io.Discard, r.Body)
	if r.URL.Path == "/healthz" {
		if sick {
			w.WriteHeader(503)
		}
		return
	}
	u.hits.Add(1)
	if hang {
		<-r.Context().Done()
		return
	}
	if status != 0 {
		w.WriteHeader(status)
	}
	io.WriteString(w, u.name)
}

// fetch GETs path with optional header pairs and returns "status body".
func fetch(t *testing.T, c *http.Client, url string, kv ...string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return "error " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// tally sends n GETs and counts the answers.
func tally(t *testing.T, c *http.Client, url string, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for range n {
		out[fetch(t, c, url)]++
	}
	return out
}

// waitUntil polls cond (state the test caused, reached asynchronously) up
// to a hang-detecting bound.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clustersText reads the admin /clusters page.
func clustersText(t *testing.T, p *proc) string {
	t.Helper()
	_, body := get(t, newClient(t), p.AdminURL("/clusters"), nil)
	return body
}

const oneRoute = `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: { cluster: backend }
`

func TestHealthChecksRemoveAndRestoreEndpoints(t *testing.T) {
	a := newUpstream(t, "a", "127.0.0.1:0")
	b := newUpstream(t, "b", "127.0.0.1:0")
	c := newUpstream(t, "c", "127.0.0.1:0")
	d := newUpstream(t, "d", "127.0.0.1:0")
	all := []*upstream{a, b, c, d}
	p := startSluice(t, listenerConfig("", oneRoute, staticCluster("backend", `health_checks:
- timeout: 500ms
  interval: 50ms
  unhealthy_threshold: 2
  healthy_threshold: 2
  http_health_check: { path: /healthz, expected_statuses: [{ start: 200, end: 300 }] }`, a.addr, b.addr, c.addr, d.addr), ""))
	client := newClient(t)
	even := func(got map[string]int, names ...string) bool {
		for _, n := range names {
			if got["200 "+n] != 8/len(names) {
				return false
			}
		}
		return true
	}
	if got := tally(t, client, p.URL("/"), 8); !even(got, "a", "b", "c", "d") {
		t.Fatalf("all healthy: %v", got)
	}
	// a fails its health checks (503), b dies; both leave the rotation
	// (two of four healthy is not below the 50 % panic threshold).
	a.set(func(u *upstream) { u.sick = true })
	b.stop()
	waitUntil(t, "a and b unhealthy", func() bool {
		s := clustersText(t, p)
		return strings.Contains(s, "backend::"+a.addr+"::health_flags::/failed_active_hc") &&
			strings.Contains(s, "backend::"+b.addr+"::health_flags::/failed_active_hc")
	})
	if got := tally(t, client, p.URL("/"), 8); !even(got, "c", "d") {
		t.Fatalf("only c and d are healthy: %v", got)
	}
	// Both come back.
	a.set(func(u *upstream) { u.sick = false })
	b.restart(t)
	waitUntil(t, "all healthy", func() bool { return strings.Count(clustersText(t, p), "::health_flags::healthy") == 4 })
	if got := tally(t, client, p.URL("/"), 8); !even(got, "a", "b", "c", "d") {
		t.Fatalf("all healthy again: %v", got)
	}
	if n := adminStat(t, p, "cluster.backend.health_check.network_failure"); n == 0 {
		t.Fatal("b's refused connects must count as network failures")
	}
	if n := adminStat(t, p, "cluster.backend.health_check.healthy"); n != 4 {
		t.Fatalf("health_check.healthy = %d", n)
	}
	// Three of four unhealthy is below the panic threshold: the cluster
	// routes to every host, as Envoy does, rather than overload one.
	for _, u := range all[:3] {
		u.set(func(u *upstream) { u.sick = true })
	}
	waitUntil(t, "three unhealthy", func() bool { return adminStat(t, p, "cluster.backend.membership_healthy") == 1 })
	if got := tally(t, client, p.URL("/"), 8); !even(got, "a", "b", "c", "d") {
		t.Fatalf("panic routing: %v", got)
	}
}

func TestOutlierDetectionEjectsABadBackend(t *testing.T) {
	good := newUpstream(t, "good", "127.0.0.1:0")
	bad := newUpstream(t, "bad", "127.0.0.1:0")
	bad.set(func(u *upstream) { u.status = 500 })
	p := startSluice(t, listenerConfig("", oneRoute, staticCluster("backend", `outlier_detection:
  consecutive_5xx: 3
  interval: 50ms
  base_ejection_time: 500ms
  max_ejection_percent: 50`, good.addr, bad.addr), ""))
	client := newClient(t)
	for range 6 {
		fetch(t, client, p.URL("/"))
	}
	waitUntil(t, "bad ejected", func() bool {
		return strings.Contains(clustersText(t, p), "backend::"+bad.addr+"::outlier::ejected::true")
	})
	before := bad.hits.Load()
	if got := tally(t, client, p.URL("/"), 10); got["200 good"] != 10 || bad.hits.Load() != before {
		t.Fatalf("while bad is ejected: %v", got)
	}
	s := clustersText(t, p)
	for _, want := range []string{
		"backend::" + bad.addr + "::health_flags::/failed_outlier_check",
		"backend::" + bad.addr + "::outlier::last_ejection_reason::consecutive_5xx",
		"backend::" + bad.addr + "::rq_error::3",
	} {
		if !strings.Contains(s, want) {
			t.Fatalf("/clusters lacks %q:\n%s", want, s)
		}
	}
	if n := adminStat(t, p, "cluster.backend.outlier_detection.ejections_enforced_consecutive_5xx"); n != 1 {
		t.Fatalf("ejections_enforced_consecutive_5xx = %d", n)
	}
	// Fixed, it comes back after base_ejection_time.
	bad.set(func(u *upstream) { u.status = 0 })
	waitUntil(t, "bad back", func() bool { return adminStat(t, p, "cluster.backend.outlier_detection.ejections_active") == 0 })
	if got := tally(t, client, p.URL("/"), 10); got["200 bad"] == 0 {
		t.Fatalf("after the ejection: %v", got)
	}
}

const retryVHost = `
- name: all
  domains: ["*"]
  include_attempt_count_in_response: true
  routes:
  - match: { prefix: /small }
    per_request_buffer_limit_bytes: 16
    route:
      cluster: backend
      timeout: 500ms
      retry_policy: { retry_on: "5xx,reset,connect-failure", num_retries: 3, retry_host_predicate: [{ name: previous_hosts }] }
  - match: { prefix: /budget }
    route: { cluster: budget, retry_policy: { retry_on: 5xx, num_retries: 3 } }
  - match: { prefix: / }
    route:
      cluster: backend
      timeout: 5s
      retry_policy:
        retry_on: "5xx,reset,connect-failure"
        num_retries: 3
        per_try_timeout: 1s # the good endpoint answers within it even on a loaded machine
        retry_back_off: { base_interval: 5ms, max_interval: 20ms }
        retry_host_predicate: [{ name: previous_hosts }]
`

func TestRetriesSucceedOnAnotherEndpointWithinBudget(t *testing.T) {
	good := newUpstream(t, "good", "127.0.0.1:0")
	bad := newUpstream(t, "bad", "127.0.0.1:0")
	hang := newUpstream(t, "hang", "127.0.0.1:0")
	bad.set(func(u *upstream) { u.status = 503 })
	hang.set(func(u *upstream) { u.hang = true })
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	clusters := staticCluster("backend", "", good.addr, bad.addr, hang.addr, dead) + staticCluster("budget", `circuit_breakers:
  thresholds: [{ retry_budget: { budget_percent: { value: 20 }, min_retry_concurrency: 0 } }]`, bad.addr)
	p := startSluice(t, listenerConfig("", retryVHost, clusters, ""))
	client := newClient(t)
	// Whatever endpoint a request starts on — 503, hanging past the
	// per-try timeout, refusing connections — it ends on good.
	attempts := map[string]int{}
	const requests = 6 // each waits out one per-try timeout on hang
	for i := range requests {
		resp, err := client.Post(p.URL("/upload"), "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "good" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
		}
		attempts[resp.Header.Get("x-envoy-attempt-count")]++
	}
	// Round robin over good, bad, hang, dead: after a request ends on
	// good the next starts on bad and needs all four.
	if attempts["1"] == requests || attempts[""] != 0 {
		t.Fatalf("attempt counts %v", attempts)
	}
	retries := adminStat(t, p, "cluster.backend.upstream_rq_retry")
	if retries == 0 || adminStat(t, p, "cluster.backend.upstream_rq_retry_success") == 0 ||
		adminStat(t, p, "cluster.backend.upstream_rq_per_try_timeout") == 0 {
		t.Fatalf("retry stats: retry %d", retries)
	}
	lines := p.AccessLines(requests)
	retried := 0
	for _, l := range lines {
		if n, _ := l["upstream_request_attempt_count"].(float64); n > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Fatalf("no access-log line with upstream_request_attempt_count > 1: %v", lines)
	}

	// A POST whose body outgrows the request buffer is never retried: the
	// first endpoint's answer is final, even a 503.
	sawBad := false
	for range 8 {
		before := good.hits.Load() + bad.hits.Load() + hang.hits.Load()
		resp, err := client.Post(p.URL("/small"), "application/octet-stream", strings.NewReader(strings.Repeat("x", 100)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		after := good.hits.Load() + bad.hits.Load() + hang.hits.Load()
		if resp.StatusCode == 503 {
			sawBad = true
		}
		if after-before > 1 {
			t.Fatalf("a body beyond per_request_buffer_limit_bytes was sent %d times", after-before)
		}
		if a := resp.Header.Get("x-envoy-attempt-count"); a != "" && a != "1" {
			t.Fatalf("attempt count %q with status %d", a, resp.StatusCode)
		}
	}
	if !sawBad {
		t.Fatal("round robin never reached the 503 endpoint first")
	}

	// The retry budget: 20 % of one active request is no retry at all, so
	// a failing cluster sees no extra load.
	before := bad.hits.Load()
	for range 5 {
		if got := fetch(t, client, p.URL("/budget")); got != "503 bad" {
			t.Fatalf("budget: %s", got)
		}
	}
	if n := bad.hits.Load() - before; n != 5 {
		t.Fatalf("5 requests reached the failing cluster %d times", n)
	}
	if n := adminStat(t, p, "cluster.budget.upstream_rq_retry_overflow"); n != 5 {
		t.Fatalf("upstream_rq_retry_overflow = %d", n)
	}
}

func TestDNSChangesMoveTrafficWithoutErrors(t *testing.T) {
	a := newUpstream(t, "a", "127.0.0.2:0")
	_, port, _ := net.SplitHostPort(a.addr)
	b := newUpstream(t, "b", "127.0.0.3:"+port)
	dns := dnstest.Start(t)
	dns.Set("backend.test", 1, "127.0.0.2")
	p := startSluice(t, listenerConfig("", oneRoute, fmt.Sprintf(`- name: backend
  type: STRICT_DNS
  connect_timeout: 1s
  dns_refresh_rate: 50ms
  dns_lookup_family: V4_ONLY
  dns_resolution_config: { resolvers: [{ socket_address: { address: 127.0.0.1, port_value: %d } }] }
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: backend.test, port_value: %s } } }
`, dns.Addr().Port(), port), ""))
	client := newClient(t)
	if got := fetch(t, client, p.URL("/")); got != "200 a" {
		t.Fatalf("before: %s", got)
	}
	// Clients keep sending while the name moves from a to b.
	var failed atomic.Int64
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t)
			for {
				select {
				case <-stop:
					return
				default:
				}
				got := fetch(t, c, p.URL("/"))
				sent.Add(1)
				if got != "200 a" && got != "200 b" {
					failed.Add(1)
					t.Errorf("during the move: %s", got)
				}
			}
		}()
	}
	dns.Set("backend.test", 1, "127.0.0.3")
	waitUntil(t, "traffic on b", func() bool { return b.hits.Load() > 20 })
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed while DNS moved", failed.Load(), sent.Load())
	}
	s := clustersText(t, p)
	if !strings.Contains(s, "backend::"+b.addr+"::hostname::backend.test") || strings.Contains(s, a.addr) {
		t.Fatalf("/clusters after the move:\n%s", s)
	}
	t.Logf("%d requests while the name moved, none failed", sent.Load())
}

func TestEDSFileChangesEndpointsWithoutReload(t *testing.T) {
	a := newUpstream(t, "a", "127.0.0.1:0")
	b := newUpstream(t, "b", "127.0.0.1:0")
	dir := t.TempDir()
	path := filepath.Join(dir, "endpoints.yaml")
	write := func(addrs ...string) {
		var s strings.Builder
		s.WriteString("cluster_name: backend\nendpoints:\n- lb_endpoints:\n")
		for _, x := range addrs {
			host, port, _ := net.SplitHostPort(x)
			fmt.Fprintf(&s, "  - endpoint: { address: { socket_address: { address: %s, port_value: %s } } }\n", host, port)
		}
		os.WriteFile(path+".tmp", []byte(s.String()), 0o644)
		os.Rename(path+".tmp", path)
	}
	write(a.addr)
	p := startSluice(t, listenerConfig("", oneRoute, fmt.Sprintf(`- name: backend
  type: EDS
  connect_timeout: 1s
  eds_cluster_config: { eds_config: { path_config_source: { path: %s } } }
`, path), ""))
	client := newClient(t)
	if got := tally(t, client, p.URL("/"), 4); got["200 a"] != 4 {
		t.Fatalf("%v", got)
	}
	write(a.addr, b.addr)
	waitUntil(t, "two endpoints", func() bool { return adminStat(t, p, "cluster.backend.membership_total") == 2 })
	if got := tally(t, client, p.URL("/"), 4); got["200 a"] != 2 || got["200 b"] != 2 {
		t.Fatalf("%v", got)
	}
	os.WriteFile(path, []byte("endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: no.such.host, port_value: 1 } } } }] }]\n"), 0o644)
	waitUntil(t, "rejection", func() bool { return adminStat(t, p, "cluster.backend.update_rejected") == 1 })
	p.WaitLog("endpoint file rejected", "endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: invalid IP address")
	if got := tally(t, client, p.URL("/"), 4); got["200 a"] != 2 || got["200 b"] != 2 {
		t.Fatalf("after a bad file: %v", got)
	}
}

// TestConsistentHashing measures, through the real binary, that ring_hash
// and maglev keep each key on one endpoint and that removing one of four
// endpoints moves about a quarter of the keys: those of the removed one.
func TestConsistentHashing(t *testing.T) {
	for _, policy := range []string{"ring_hash", "maglev"} {
		t.Run(policy, func(t *testing.T) {
			var ups []*upstream
			var addrs []string
			for i := range 4 {
				u := newUpstream(t, fmt.Sprintf("u%d", i), "127.0.0.1:0")
				ups = append(ups, u)
				addrs = append(addrs, u.addr)
			}
			path := filepath.Join(t.TempDir(), "endpoints.json")
			write := func(addrs []string) {
				var eps []string
				for _, x := range addrs {
					host, port, _ := net.SplitHostPort(x)
					eps = append(eps, fmt.Sprintf(`{"endpoint":{"address":{"socket_address":{"address":%q,"port_value":%s}}}}`, host, port))
				}
				os.WriteFile(path+".tmp", []byte(`{"cluster_name":"backend","endpoints":[{"lb_endpoints":[`+strings.Join(eps, ",")+`]}]}`), 0o644)
				os.Rename(path+".tmp", path)
			}
			write(addrs)
			p := startSluice(t, listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: { cluster: backend, hash_policy: [{ header: { header_name: x-user } }] }
`, fmt.Sprintf(`- name: backend
  type: EDS
  lb_policy: %s
  connect_timeout: 1s
  eds_cluster_config: { eds_config: { path: %s } }
`, policy, path), ""))
			client := newClient(t)
			const keys = 400
			owner := make([]string, keys)
			for k := range keys {
				owner[k] = fetch(t, client, p.URL("/"), "x-user", fmt.Sprintf("user-%d", k))
				if again := fetch(t, client, p.URL("/"), "x-user", fmt.Sprintf("user-%d", k)); again != owner[k] {
					t.Fatalf("key %d: %s then %s", k, owner[k], again)
				}
			}
			write(addrs[:3]) // u3 leaves
			waitUntil(t, "three endpoints", func() bool { return adminStat(t, p, "cluster.backend.membership_total") == 3 })
			moved, strays := 0, 0
			for k := range keys {
				now := fetch(t, client, p.URL("/"), "x-user", fmt.Sprintf("user-%d", k))
				if !strings.HasPrefix(now, "200 u") {
					t.Fatalf("key %d after the removal: %s", k, now)
				}
				if now != owner[k] {
					moved++
					if owner[k] != "200 u3" {
						strays++
					}
				}
			}
			frac := float64(moved) / keys
			t.Logf("%s: removing 1 of 4 endpoints moved %d of %d keys (%.1f%%, ideal 25%%); %d keys of the other endpoints moved",
				policy, moved, keys, 100*frac, strays)
			if frac < 0.12 || frac > 0.40 {
				t.Fatalf("moved %.2f of the keys, want about 1/4", frac)
			}
			if strays > keys/50 {
				t.Fatalf("%d keys of surviving endpoints moved", strays)
			}
		})
	}
}

func TestClustersAdminJSON(t *testing.T) {
	a := newUpstream(t, "a", "127.0.0.1:0")
	p := startSluice(t, listenerConfig("", oneRoute, staticCluster("backend", `lb_policy: least_request
outlier_detection: { consecutive_5xx: 5 }
health_checks: [{ timeout: 1s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }]`, a.addr), ""))
	client := newClient(t)
	fetch(t, client, p.URL("/"))
	_, body := get(t, client, p.AdminURL("/clusters?format=json"), nil)
	var doc struct {
		ClusterStatuses []struct {
			Name         string `json:"name"`
			LbPolicy     string `json:"lb_policy"`
			HostStatuses []struct {
				Address struct {
					SocketAddress struct {
						Address   string `json:"address"`
						PortValue int    `json:"port_value"`
					} `json:"socket_address"`
				} `json:"address"`
				Stats []struct {
					Name  string `json:"name"`
					Value int64  `json:"value"`
				} `json:"stats"`
				HealthStatus struct {
					EDSHealthStatus string `json:"eds_health_status"`
				} `json:"health_status"`
				Weight      int             `json:"weight"`
				Outlier     json.RawMessage `json:"outlier_detection"`
				HealthCheck json.RawMessage `json:"health_check"`
			} `json:"host_statuses"`
		} `json:"cluster_statuses"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	cs := doc.ClusterStatuses
	if len(cs) != 1 || cs[0].Name != "backend" || cs[0].LbPolicy != "least_request" || len(cs[0].HostStatuses) != 1 {
		t.Fatalf("%s", body)
	}
	h := cs[0].HostStatuses[0]
	host, port, _ := net.SplitHostPort(a.addr)
	if h.Address.SocketAddress.Address != host || fmt.Sprint(h.Address.SocketAddress.PortValue) != port || h.Weight != 1 ||
		h.HealthStatus.EDSHealthStatus != "HEALTHY" || h.Outlier == nil || h.HealthCheck == nil {
		t.Fatalf("%s", body)
	}
	total := int64(-1)
	for _, s := range h.Stats {
		if s.Name == "rq_total" {
			total = s.Value
		}
	}
	if total != 1 {
		t.Fatalf("rq_total %d:\n%s", total, body)
	}
}

// TestValidateClusterFeatures: `sluice validate` reports bad discovery,
// load-balancing, health-check, outlier and retry settings with their
// YAML paths, and accepts a config that uses them all.
func TestValidateClusterFeatures(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeConfig(t, bad, listenerConfig("", `
- name: all
  domains: ["*"]
  retry_policy: { retry_on: "5xx,sometimes" }
  routes:
  - match: { prefix: / }
    route: { cluster: backend, hash_policy: [{ cookie: {} }] }
`, `- name: backend
  type: STATIC
  lb_policy: maglev
  maglev_lb_config: { table_size: 100 }
  health_checks: [{ timeout: 1s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1 }]
  outlier_detection: { max_ejection_percent: 101 }
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: api.internal, port_value: 80 } } }
`, ""))
	out, err := exec.Command(sluiceBin, "validate", "-c", bad).CombinedOutput()
	if err == nil {
		t.Fatalf("validate accepted %s", out)
	}
	vh := "listeners[0].filter_chains[0].filters[0].config.route_config.virtual_hosts[0]"
	want := strings.Join([]string{
		bad + ": " + vh + `.retry_policy.retry_on: unknown retry_on condition "sometimes" (want 5xx, gateway-error, reset, reset-before-request, connect-failure, retriable-4xx, refused-stream, retriable-status-codes)`,
		bad + ": " + vh + ".routes[0].route.hash_policy[0].cookie.name: required",
		bad + ": clusters[0].maglev_lb_config.table_size: must be a prime number between 2 and 5000011",
		bad + ": clusters[0].health_checks[0]: exactly one of http_health_check, tcp_health_check, grpc_health_check is required",
		bad + ": clusters[0].outlier_detection.max_ejection_percent: must be between 0 and 100",
		bad + `: clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: invalid IP address "api.internal" (a STATIC cluster takes IP addresses; use type STRICT_DNS or LOGICAL_DNS for host names)`,
	}, "\n")
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("validate output:\n%s\nwant:\n%s", got, want)
	}
	good := filepath.Join(dir, "good.yaml")
	writeConfig(t, good, listenerConfig("", `
- name: all
  domains: ["*"]
  retry_policy: { retry_on: "5xx,reset", num_retries: 2, per_try_timeout: 1s, retry_host_predicate: [{ name: previous_hosts }] }
  routes:
  - match: { prefix: / }
    route: { cluster: backend, hash_policy: [{ header: { header_name: x-user } }, { connection_properties: { source_ip: true } }] }
`, `- name: backend
  type: STRICT_DNS
  lb_policy: RING_HASH
  dns_lookup_family: V4_ONLY
  respect_dns_ttl: true
  health_checks: [{ timeout: 1s, interval: 5s, unhealthy_threshold: 3, healthy_threshold: 2, grpc_health_check: {} }]
  outlier_detection: { consecutive_5xx: 3, max_ejection_percent: 50 }
  circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 25 } } }] }
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: api.internal, port_value: 80 } } }
        load_balancing_weight: 2
    - priority: 1
      lb_endpoints:
      - endpoint: { address: { socket_address: { address: 10.0.0.9, port_value: 80 } } }
`, ""))
	if out, err := exec.Command(sluiceBin, "validate", "-c", good).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != good+": ok" {
		t.Fatalf("good config: %v %s", err, out)
	}
}
