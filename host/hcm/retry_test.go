package hcm_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/http1"
	"github.com/sluiceproxy/sluice/host/network"
	"github.com/sluiceproxy/sluice/host/router"
	"github.com/sluiceproxy/sluice/host/worker"
)

// retryBackend is an upstream whose behaviour a test sets: a status, a
// hang, or a reset after the response head. It records what it received.
type retryBackend struct {
	name    string
	srv     *httptest.Server
	addr    netip.AddrPort
	status  atomic.Int32 // 0: 200
	hang    atomic.Bool
	cut     atomic.Bool // answer a head and a partial body, then close
	mu      sync.Mutex
	bodies  []string
	attempt []string // x-envoy-attempt-count of each request
}

func newRetryBackend(t *testing.T, name string) *retryBackend {
	b := &retryBackend{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.bodies = append(b.bodies, string(body))
		b.attempt = append(b.attempt, r.Header.Get("x-envoy-attempt-count"))
		b.mu.Unlock()
		if b.hang.Load() {
			<-r.Context().Done()
			return
		}
		if b.cut.Load() {
			hj := w.(http.Hijacker)
			c, rw, _ := hj.Hijack()
			rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
			rw.Flush()
			c.Close()
			return
		}
		if s := b.status.Load(); s != 0 {
			w.WriteHeader(int(s))
		}
		fmt.Fprintf(w, "%s got %d bytes", b.name, len(body))
	}))
	t.Cleanup(b.srv.Close)
	b.addr = netip.MustParseAddrPort(strings.TrimPrefix(b.srv.URL, "http://"))
	return b
}

func (b *retryBackend) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.bodies...)
}

// retryProxy runs a connection manager on one worker in front of a cluster
// "be" of the given endpoints, with routes from a virtual_hosts YAML.
type retryProxy struct {
	addr    string
	cluster *cluster.Cluster
	log     *strings.Builder
}

func newRetryProxy(t *testing.T, vhosts, clusterExtra string, eps ...netip.AddrPort) *retryProxy {
	t.Helper()
	var epYAML strings.Builder
	for _, a := range eps {
		fmt.Fprintf(&epYAML, "      - endpoint: { address: { socket_address: { address: %s, port_value: %d } } }\n", a.Addr(), a.Port())
	}
	yaml := `listeners:
- name: l
  address: 127.0.0.1:0
  filter_chains:
  - filters:
    - name: http_connection_manager
      config:
        http_filters: [{ name: router }]
        route_config:
          virtual_hosts:
` + vhosts + `
clusters:
- name: be
  connect_timeout: 1s
` + clusterExtra + `  load_assignment:
    endpoints:
    - lb_endpoints:
` + epYAML.String()
	cfg, err := config.Parse([]byte(yaml), "retry.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	w, err := worker.New(worker.Options{Index: 0})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run()
	cm, err := cluster.NewManager(cfg.Clusters, []*worker.Worker{w}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	table, err := router.Compile(&cfg.Listeners[0].FilterChains[0].Filters[0].HCM.RouteConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &hcm.Config{
		Limits: http1.DefaultLimits(), BufferLimit: 1 << 20, ConnBufferLimit: 1 << 20,
		Routes: table, Clusters: cm, Log: zap.NewNop(), Stats: &hcm.Stats{}, IdleTimeout: time.Minute,
	}
	p := &retryProxy{cluster: cm.Get("be")}
	set := &network.Set{}
	ready := make(chan error, 1)
	w.Post(func() {
		l, err := w.Listen(netip.MustParseAddrPort("127.0.0.1:0"), func(c *worker.Conn) { hc.Serve(c, set) })
		if err == nil {
			p.addr = l.Addr().String()
		}
		ready <- err
	})
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cm.Close()
		w.Stop()
		<-w.Done()
		goleak.VerifyNone(t, goleak.IgnoreCurrent())
	})
	return p
}

func (p *retryProxy) do(t *testing.T, method, path, body string) (int, http.Header, string, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, "http://"+p.addr+path, rd)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

const retryRoutes = `          - name: all
            domains: ["*"]
            include_request_attempt_count: true
            include_attempt_count_in_response: true
            routes:
            - match: { prefix: /small }
              per_request_buffer_limit_bytes: 10
              route: { cluster: be, retry_policy: { retry_on: 5xx, num_retries: 2, retry_host_predicate: [{ name: previous_hosts }] } }
            - match: { prefix: /pertry }
              route: { cluster: be, retry_policy: { retry_on: 5xx, num_retries: 1, per_try_timeout: 100ms, retry_host_predicate: [{ name: previous_hosts }] } }
            - match: { prefix: /connect }
              route: { cluster: be, retry_policy: { retry_on: connect-failure, num_retries: 1 } }
            - match: { prefix: / }
              route: { cluster: be, retry_policy: { retry_on: 5xx, num_retries: 2, retry_back_off: { base_interval: 1ms }, retry_host_predicate: [{ name: previous_hosts }] } }
`

func TestRetry5xxOnAnotherHost(t *testing.T) {
	bad, good := newRetryBackend(t, "bad"), newRetryBackend(t, "good")
	bad.status.Store(503)
	p := newRetryProxy(t, retryRoutes, "", bad.addr, good.addr)
	for i := range 4 {
		status, h, body, err := p.do(t, "POST", "/x", "hello body")
		if err != nil || status != 200 || body != "good got 10 bytes" {
			t.Fatalf("request %d: %d %q %v", i, status, body, err)
		}
		if a := h.Get("x-envoy-attempt-count"); a != "1" && a != "2" {
			t.Fatalf("attempt count %q", a)
		}
	}
	for _, b := range bad.requests() {
		if b != "hello body" {
			t.Fatalf("bad saw %q", b)
		}
	}
	for _, b := range good.requests() {
		if b != "hello body" {
			t.Fatalf("good saw %q (the replayed body must be whole)", b)
		}
	}
	if good.attempt[len(good.attempt)-1] == "" {
		t.Fatal("x-envoy-attempt-count missing upstream")
	}
	st := p.cluster.Stats()
	n := uint64(len(bad.requests()))
	if n == 0 || st.RqRetry != n || st.RqRetrySuccess != n || st.RqRetryBackoffExp != n || st.RetriesActive != 0 {
		t.Fatalf("%d requests to bad; stats %+v", n, st)
	}
}

func TestRetryLimitExceededForwardsTheLastAnswer(t *testing.T) {
	a, b := newRetryBackend(t, "a"), newRetryBackend(t, "b")
	a.status.Store(500)
	b.status.Store(502)
	p := newRetryProxy(t, retryRoutes, "", a.addr, b.addr)
	status, h, body, err := p.do(t, "GET", "/x", "")
	if err != nil || status >= 200 && status < 500 || h.Get("x-envoy-attempt-count") != "3" {
		t.Fatalf("%d %q %v attempts %s", status, body, err, h.Get("x-envoy-attempt-count"))
	}
	if n := len(a.requests()) + len(b.requests()); n != 3 {
		t.Fatalf("%d attempts, want 1 + num_retries 2", n)
	}
	if st := p.cluster.Stats(); st.RqRetry != 2 || st.RqRetryLimitExceeded != 1 || st.RqRetrySuccess != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNoRetryWhenTheBodyOutgrewTheBuffer(t *testing.T) {
	bad, good := newRetryBackend(t, "bad"), newRetryBackend(t, "good")
	bad.status.Store(503)
	good.status.Store(503)
	p := newRetryProxy(t, retryRoutes, "", bad.addr, good.addr)
	// 11 bytes over a 10-byte request buffer: the 503 comes back as is.
	status, _, _, err := p.do(t, "POST", "/small", "eleven byte")
	if err != nil || status != 503 {
		t.Fatalf("%d %v", status, err)
	}
	if n := len(bad.requests()) + len(good.requests()); n != 1 {
		t.Fatalf("%d attempts for a body beyond the buffer, want 1", n)
	}
	// Within the buffer it is retried.
	status, _, _, _ = p.do(t, "POST", "/small", "ten bytes!")
	if n := len(bad.requests()) + len(good.requests()); status != 503 || n != 4 {
		t.Fatalf("%d, %d attempts in all, want 1 + 3", status, n)
	}
}

func TestRetryBudgetOverflow(t *testing.T) {
	bad := newRetryBackend(t, "bad")
	bad.status.Store(503)
	p := newRetryProxy(t, retryRoutes, "  circuit_breakers: { thresholds: [{ max_retries: 0 }] }\n", bad.addr)
	status, h, _, err := p.do(t, "GET", "/x", "")
	if err != nil || status != 503 || h.Get("x-envoy-attempt-count") != "1" {
		t.Fatalf("%d %v %v", status, err, h)
	}
	if st := p.cluster.Stats(); st.RqRetryOverflow != 1 || st.RqRetry != 0 || st.RetryOpen != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPerTryTimeoutRetries(t *testing.T) {
	slow, good := newRetryBackend(t, "slow"), newRetryBackend(t, "good")
	slow.hang.Store(true)
	p := newRetryProxy(t, retryRoutes, "", slow.addr, good.addr)
	for range 2 {
		status, _, body, err := p.do(t, "GET", "/pertry", "")
		if err != nil || status != 200 || body != "good got 0 bytes" {
			t.Fatalf("%d %q %v", status, body, err)
		}
	}
	st := p.cluster.Stats()
	if st.RqPerTryTimeout == 0 || st.RqRetry != st.RqPerTryTimeout {
		t.Fatalf("stats %+v", st)
	}
	if hs := p.cluster.Hosts()[0].Stats(); hs.RqTimeout != st.RqPerTryTimeout {
		t.Fatalf("slow host stats %+v", hs)
	}
	// Both hang: the retry times out too and the answer is a 504.
	good.hang.Store(true)
	status, _, body, _ := p.do(t, "GET", "/pertry", "")
	if status != 504 || body != "upstream request timeout" {
		t.Fatalf("%d %q", status, body)
	}
}

func TestConnectFailureRetry(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	good := newRetryBackend(t, "good")
	p := newRetryProxy(t, retryRoutes, "", dead, good.addr)
	for range 4 {
		status, _, body, err := p.do(t, "GET", "/connect", "")
		if err != nil || status != 200 || body != "good got 0 bytes" {
			t.Fatalf("%d %q %v", status, body, err)
		}
	}
}

func TestNoRetryAfterTheResponseStarted(t *testing.T) {
	cut, good := newRetryBackend(t, "cut"), newRetryBackend(t, "good")
	cut.cut.Store(true)
	p := newRetryProxy(t, retryRoutes, "", cut.addr, good.addr)
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Round robin sends the first request to cut.
	fmt.Fprintf(conn, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(got) != "partial" || err == nil {
		t.Fatalf("%d %q %v: the client must see the partial answer and the reset", resp.StatusCode, got, err)
	}
	if n := len(good.requests()); n != 0 {
		t.Fatalf("retried %d times after the response started", n)
	}
}
