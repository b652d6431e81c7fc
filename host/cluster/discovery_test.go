package cluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/dns/dnstest"
	"github.com/sluiceproxy/sluice/host/worker"
)

// startManaged builds a one-cluster manager over ws and starts its
// discovery and health checking; it is closed before the workers stop.
func startManaged(t testing.TB, ws []*worker.Worker, s Settings) *Cluster {
	t.Helper()
	if s.Name == "" {
		s.Name = "backend"
	}
	m, err := NewManagerWithSettings([]Settings{s}, ws, nil)
	if err != nil {
		t.Fatalf("NewManagerWithSettings: %v", err)
	}
	t.Cleanup(m.Close)
	m.Start()
	if late := m.WaitReady(waitLimit); len(late) > 0 {
		t.Fatalf("clusters not ready: %v", late)
	}
	return m.Get(s.Name)
}

// waitFor polls cond (a state the test caused, reached asynchronously)
// until it holds; the bound is a hang detector, not a timing assertion.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// namedBackend answers every request with its name; hold, when set, makes
// requests to /slow wait until it is closed.
type namedBackend struct {
	name    string
	addr    netip.AddrPort
	healthy chan bool // /healthz status source; nil: always healthy
	mu      sync.Mutex
	ok      bool
	status  int // status for other paths (0: 200)
	hold    chan struct{}
	srv     *http.Server
}

func (b *namedBackend) setHealthy(ok bool) {
	b.mu.Lock()
	b.ok = ok
	b.mu.Unlock()
}

func (b *namedBackend) setStatus(code int) {
	b.mu.Lock()
	b.status = code
	b.mu.Unlock()
}

func (b *namedBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	ok, status := b.ok, b.status
	b.mu.Unlock()
	switch r.URL.Path {
	case "/healthz":
		if !ok {
			w.WriteHeader(503)
		}
		fmt.Fprint(w, b.name)
		return
	case "/slow":
		<-b.hold
	}
	if status != 0 {
		w.WriteHeader(status)
	}
	fmt.Fprint(w, b.name)
}

// backendsOnPort starts one HTTP backend per loopback address (127.0.0.2,
// .3, ...), all on the same port, as DNS names resolving to several hosts
// need.
func backendsOnPort(t testing.TB, names ...string) ([]*namedBackend, uint16) {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		var lns []net.Listener
		port := 0
		ok := true
		for i := range names {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", i+2, port))
			if err != nil {
				ok = false
				break
			}
			port = ln.Addr().(*net.TCPAddr).Port
			lns = append(lns, ln)
		}
		if !ok {
			for _, ln := range lns {
				ln.Close()
			}
			continue
		}
		var out []*namedBackend
		for i, ln := range lns {
			b := &namedBackend{name: names[i], addr: netip.MustParseAddrPort(ln.Addr().String()), ok: true, hold: make(chan struct{})}
			b.srv = &http.Server{Handler: b}
			go b.srv.Serve(ln)
			out = append(out, b)
			t.Cleanup(func() {
				select {
				case <-b.hold:
				default:
					close(b.hold)
				}
				b.srv.Close()
			})
		}
		return out, uint16(port)
	}
	t.Fatal("no common free port on 127.0.0.2..")
	return nil, 0
}

// who sends a GET and returns "status body", or "failure …"/"reset …".
func who(t testing.TB, w *worker.Worker, c *Cluster, path string) string {
	t.Helper()
	r := roundTrip(t, w, c, newRecorder(getReq(path)))
	switch r.final {
	case "end":
		return fmt.Sprintf("%d %s", r.status, r.got)
	case "failure":
		return "failure " + r.failure.String()
	}
	return "reset " + r.reset.String()
}

func hostAddrs(c *Cluster) string {
	var s []string
	for _, h := range c.Hosts() {
		s = append(s, h.Addr().String())
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func TestStrictDNSMovesTrafficWithoutDroppingRequests(t *testing.T) {
	bs, port := backendsOnPort(t, "a", "b")
	srv := dnstest.Start(t)
	srv.Set("svc.test", 1, "127.0.0.2")
	ws := startWorkers(t, 1)
	c := startManaged(t, ws, Settings{
		Discovery:   StrictDNS,
		LbEndpoints: []Endpoint{{Hostname: "svc.test", Port: port, Weight: 1}},
		DNS:         DNSOptions{RefreshRate: 20 * time.Millisecond, LookupFamily: V4Only, Resolvers: []netip.AddrPort{srv.Addr()}},
	})
	if got := who(t, ws[0], c, "/"); got != "200 a" {
		t.Fatalf("first request: %s", got)
	}
	// A request in flight to a when the name moves to b.
	slow := newRecorder(getReq("/slow"))
	start(t, ws[0], c, slow)
	srv.Set("svc.test", 1, "127.0.0.3")
	waitFor(t, "hosts to follow DNS", func() bool { return hostAddrs(c) == bs[1].addr.String() })
	for i := range 10 {
		if got := who(t, ws[0], c, "/"); got != "200 b" {
			t.Fatalf("request %d after the move: %s", i, got)
		}
	}
	close(bs[0].hold)
	slow.wait(t)
	if slow.final != "end" || slow.status != 200 || string(slow.got) != "a" {
		t.Fatalf("in-flight request to the removed host: %s %q", slow.eventString(), slow.got)
	}
	// Both names: both hosts.
	srv.Set("svc.test", 1, "127.0.0.2", "127.0.0.3")
	waitFor(t, "two hosts", func() bool { return len(c.Hosts()) == 2 })
	seen := map[string]bool{}
	for range 10 {
		seen[who(t, ws[0], c, "/")] = true
	}
	if !seen["200 a"] || !seen["200 b"] || len(seen) != 2 {
		t.Fatalf("answers %v", seen)
	}
	st := c.Stats()
	if st.MembershipChange < 3 || st.UpdateSuccess < 3 || st.MembershipTotal != 2 || st.MembershipHealthy != 2 {
		t.Fatalf("stats %+v", st)
	}
	// The removed host's connection closed when its request finished:
	// nothing of it is left in the pool.
	onLoop(t, ws[0], func() {
		for _, h := range c.Hosts() {
			if sl := h.slot(c.pools[0]); sl.gone {
				t.Errorf("current host %v marked gone", h.Addr())
			}
		}
	})
}

func TestDNSRespectsTTL(t *testing.T) {
	srv := dnstest.Start(t)
	srv.Set("ttl.test", 3600, "127.0.0.2")
	srv.Set("rate.test", 3600, "127.0.0.3")
	ws := startWorkers(t, 1)
	base := DNSOptions{RefreshRate: 10 * time.Millisecond, MinRefreshRate: 10 * time.Millisecond, LookupFamily: V4Only, Resolvers: []netip.AddrPort{srv.Addr()}}
	withTTL := base
	withTTL.RespectTTL = true
	m, err := NewManagerWithSettings([]Settings{
		{Name: "ttl", Discovery: StrictDNS, LbEndpoints: []Endpoint{{Hostname: "ttl.test", Port: 80}}, DNS: withTTL},
		{Name: "rate", Discovery: StrictDNS, LbEndpoints: []Endpoint{{Hostname: "rate.test", Port: 80}}, DNS: base},
	}, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	m.Start()
	// While the refresh-rate cluster re-resolves five times, the one that
	// respects the hour-long TTL must not ask again.
	waitFor(t, "refreshes", func() bool { return srv.Queries("rate.test") >= 5 })
	if n := srv.Queries("ttl.test"); n != 1 {
		t.Fatalf("respect_dns_ttl: %d queries, want 1", n)
	}
}

func TestDNSFailureKeepsHosts(t *testing.T) {
	bs, port := backendsOnPort(t, "a")
	srv := dnstest.Start(t)
	srv.Set("flaky.test", 1, "127.0.0.2")
	ws := startWorkers(t, 1)
	c := startManaged(t, ws, Settings{
		Discovery:   StrictDNS,
		LbEndpoints: []Endpoint{{Hostname: "flaky.test", Port: port}},
		DNS: DNSOptions{RefreshRate: 10 * time.Millisecond, FailureBase: 5 * time.Millisecond, FailureMax: 20 * time.Millisecond,
			LookupFamily: V4Only, Resolvers: []netip.AddrPort{srv.Addr()}},
	})
	srv.Fail("flaky.test")
	waitFor(t, "failures", func() bool { return c.Stats().UpdateFailure >= 3 })
	if hostAddrs(c) != bs[0].addr.String() {
		t.Fatalf("hosts after failures: %s", hostAddrs(c))
	}
	if got := who(t, ws[0], c, "/"); got != "200 a" {
		t.Fatalf("request during DNS failures: %s", got)
	}
	// NXDOMAIN is an answer: the name has no address any more.
	srv.Remove("flaky.test")
	waitFor(t, "hosts to go", func() bool { return len(c.Hosts()) == 0 })
	if got := who(t, ws[0], c, "/"); got != "failure no_healthy_upstream" {
		t.Fatalf("request without hosts: %s", got)
	}
}

func TestFailureDelayBackoff(t *testing.T) {
	o := &DNSOptions{RefreshRate: time.Second, FailureBase: 100 * time.Millisecond, FailureMax: 400 * time.Millisecond}
	rnd := rand.New(rand.NewPCG(1, 2))
	for failures, ceiling := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 9: 400 * time.Millisecond} {
		for range 200 {
			d := failureDelay(o, failures, rnd)
			if d < 50*time.Millisecond || d > ceiling {
				t.Fatalf("failure %d: delay %v outside [50ms, %v]", failures, d, ceiling)
			}
		}
	}
	if d := failureDelay(&DNSOptions{RefreshRate: time.Second}, 3, rnd); d != time.Second {
		t.Fatalf("without dns_failure_refresh_rate: %v, want the refresh rate", d)
	}
}

func TestLogicalDNSNewConnectionsFollowTheName(t *testing.T) {
	_, port := backendsOnPort(t, "a", "b")
	srv := dnstest.Start(t)
	srv.Set("logical.test", 1, "127.0.0.2", "127.0.0.3")
	ws := startWorkers(t, 1)
	c := startManaged(t, ws, Settings{
		Discovery:   LogicalDNS,
		LbEndpoints: []Endpoint{{Hostname: "logical.test", Port: port}},
		DNS:         DNSOptions{RefreshRate: 10 * time.Millisecond, LookupFamily: V4Only, Resolvers: []netip.AddrPort{srv.Addr()}},
		// One request per connection: every request dials the current
		// address.
		MaxRequestsPerConnection: 1,
	})
	if got := who(t, ws[0], c, "/"); got != "200 a" {
		t.Fatalf("first request: %s (the first address of the answer)", got)
	}
	hosts := c.Hosts()
	srv.Set("logical.test", 1, "127.0.0.3")
	waitFor(t, "the logical address to move", func() bool { return c.ctl.logicalAddr().Addr().String() == "127.0.0.3" })
	if got := who(t, ws[0], c, "/"); got != "200 b" {
		t.Fatalf("after the move: %s", got)
	}
	if h := c.Hosts(); len(h) != 1 || h[0] != hosts[0] {
		t.Fatalf("a logical_dns cluster keeps its one host: %v", h)
	}
}

// writeFileAtomically replaces path the way deployment tools do (write a
// temporary file, rename it over).
func writeFileAtomically(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func edsYAML(addrs ...netip.AddrPort) string {
	var b strings.Builder
	b.WriteString("cluster_name: backend\nendpoints:\n- lb_endpoints:\n")
	for _, a := range addrs {
		fmt.Fprintf(&b, "  - endpoint: { address: { socket_address: { address: %s, port_value: %d } } }\n", a.Addr(), a.Port())
	}
	return b.String()
}

func TestEDSFileChangesEndpoints(t *testing.T) {
	bs, _ := backendsOnPort(t, "a", "b")
	dir := t.TempDir()
	path := filepath.Join(dir, "eds.yaml")
	writeFileAtomically(t, path, edsYAML(bs[0].addr))
	ws := startWorkers(t, 1)
	c := startManaged(t, ws, Settings{Discovery: EDS, EDSPath: path, EDSService: "backend"})
	if got := who(t, ws[0], c, "/"); got != "200 a" {
		t.Fatalf("first request: %s", got)
	}
	writeFileAtomically(t, path, edsYAML(bs[1].addr))
	waitFor(t, "the file's endpoints", func() bool { return hostAddrs(c) == bs[1].addr.String() })
	if got := who(t, ws[0], c, "/"); got != "200 b" {
		t.Fatalf("after the update: %s", got)
	}
	// An invalid file is rejected and the endpoints stay.
	writeFileAtomically(t, path, "endpoints:\n- lb_endpoints:\n  - endpoint: { address: { socket_address: { address: nowhere.test, port_value: 80 } } }\n")
	waitFor(t, "the rejection", func() bool { return c.Stats().UpdateRejected == 1 })
	if hostAddrs(c) != bs[1].addr.String() {
		t.Fatalf("hosts after a rejected file: %s", hostAddrs(c))
	}
	// The JSON DiscoveryResponse form, with a priority and a weight.
	writeFileAtomically(t, path, fmt.Sprintf(`{"version_info":"2","resources":[
	  {"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"other","endpoints":[]},
	  {"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"backend",
	   "endpoints":[{"priority":1,"lb_endpoints":[{"endpoint":{"address":{"socket_address":{"address":"%s","port_value":%d}}},"load_balancing_weight":7}]}]}]}`,
		bs[0].addr.Addr(), bs[0].addr.Port()))
	waitFor(t, "the JSON file", func() bool { return hostAddrs(c) == bs[0].addr.String() })
	h := c.Hosts()[0]
	if h.Priority() != 1 || h.Weight() != 7 {
		t.Fatalf("host %v priority %d weight %d", h.Addr(), h.Priority(), h.Weight())
	}
	if got := who(t, ws[0], c, "/"); got != "200 a" {
		t.Fatalf("priority 1 only: %s", got)
	}
	st := c.Stats()
	if st.UpdateSuccess != 3 || st.UpdateRejected != 1 {
		t.Fatalf("stats %+v", st)
	}
}
