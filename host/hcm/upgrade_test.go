package hcm_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"golang.org/x/net/http2"

	"github.com/sluiceproxy/sluice/host/accesslog"
	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/http1"
	http2codec "github.com/sluiceproxy/sluice/host/http2"
	"github.com/sluiceproxy/sluice/host/network"
	"github.com/sluiceproxy/sluice/host/router"
	"github.com/sluiceproxy/sluice/host/worker"
)

// tunnelHarness is one worker serving a connection manager built from a
// YAML http_connection_manager config (upgrade_configs, routes) whose
// clusters are the given backends, with Go filters in front of the router
// and a JSON access log.
type tunnelHarness struct {
	w      *worker.Worker
	addr   string
	set    *network.Set
	stats  *hcm.Stats
	cm     *cluster.Manager
	log    *accesslog.Sink
	logTo  string
	closed sync.Once
}

// newTunnelHarness parses hcmYAML (the config: of an http_connection_manager
// whose http_filters are just the router) with clusters "backend" → be.
func newTunnelHarness(t *testing.T, hcmYAML, be string, filters ...hcm.NamedFilter) *tunnelHarness {
	t.Helper()
	host, port, _ := net.SplitHostPort(be)
	yaml := `listeners:
- name: main
  address: 127.0.0.1:0
  filter_chains:
  - filters:
    - name: http_connection_manager
      config:
        http_filters: [{ name: router }]
` + hcmYAML + `
clusters:
- name: backend
  connect_timeout: 2s
  load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: ` + host + `, port_value: ` + port + ` } } } }] }] }
`
	full, err := config.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	hc := full.Listeners[0].FilterChains[0].Filters[0].HCM
	w, err := worker.New(worker.Options{Index: 0})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run()
	cm, err := cluster.NewManager(full.Clusters, []*worker.Worker{w}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	table, err := router.Compile(&hc.RouteConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &tunnelHarness{w: w, set: &network.Set{}, stats: &hcm.Stats{}, cm: cm, logTo: filepath.Join(t.TempDir(), "access.log")}
	h.log, err = accesslog.Open(h.logTo, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &hcm.Config{
		Limits: http1.DefaultLimits(), BufferLimit: hc.StreamBufferLimitBytes, Filters: filters,
		Routes: table, Clusters: cm, Log: zap.NewNop(), Stats: h.stats, IdleTimeout: time.Minute,
		StreamIdleTimeout: hc.StreamIdleTimeout, AccessLogs: []*hcm.AccessLog{{Sink: h.log, Format: hcm.AccessLogJSON}}, ServerName: "sluice",
	}
	for _, u := range hc.UpgradeConfigs {
		cfg.Upgrades = append(cfg.Upgrades, hcm.UpgradeSetting{Type: u.UpgradeType, Enabled: u.Enabled})
	}
	cfg.NewHTTP2 = func(t codec.Transport, cb codec.Callbacks) codec.ServerCodec {
		return http2codec.NewServerCodec(t, cb, http2codec.Options{}, zap.NewNop())
	}
	ready := make(chan error, 1)
	w.Post(func() {
		l, err := w.Listen(netip.MustParseAddrPort("127.0.0.1:0"), func(c *worker.Conn) { cfg.Serve(c, h.set) })
		if err == nil {
			h.addr = l.Addr().String()
		}
		ready <- err
	})
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.onLoop(t, func() { h.set.CloseAll() })
		cm.Close()
		w.Stop()
		<-w.Done()
		h.log.Close()
		goleak.VerifyNone(t, goleak.IgnoreCurrent())
	})
	return h
}

func (h *tunnelHarness) onLoop(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	h.w.Post(func() { fn(); close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not run the function")
	}
}

// accessLines waits (bounded) for n access-log lines.
func (h *tunnelHarness) accessLines(t *testing.T, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.onLoop(t, func() { h.log.Flush(h.w) })
		data, _ := os.ReadFile(h.logTo)
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if l == "" {
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("bad access log line %q: %v", l, err)
			}
			out = append(out, rec)
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(10 * time.Millisecond) // the log file is polled
	}
}

// backend is a raw TCP server running fn per connection; it records the
// requests that fn reads with readReq.
type backend struct {
	addr string
	mu   sync.Mutex
	reqs []*http.Request
}

func newBackend(t *testing.T, fn func(b *backend, c net.Conn, br *bufio.Reader)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var conns []net.Conn
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				fn(b, c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return b
}

func (b *backend) readReq(br *bufio.Reader) *http.Request {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil
	}
	io.Copy(io.Discard, req.Body)
	b.mu.Lock()
	b.reqs = append(b.reqs, req)
	b.mu.Unlock()
	return req
}

func (b *backend) requests() []*http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*http.Request(nil), b.reqs...)
}

// switchingBackend answers an upgrade request with 101 and "early" right
// behind it, then echoes; other requests get 200 "plain".
func switchingBackend(t *testing.T) *backend {
	return newBackend(t, func(b *backend, c net.Conn, br *bufio.Reader) {
		for {
			req := b.readReq(br)
			if req == nil {
				return
			}
			if req.Header.Get("Upgrade") == "" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nplain")
				continue
			}
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: "+req.Header.Get("Upgrade")+"\r\nConnection: Upgrade\r\n\r\nearly")
			io.Copy(c, br)
			return
		}
	})
}

const upgradeRequest = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"

// exchange writes raw to addr and returns the connection and a reader.
func exchange(t *testing.T, addr, raw string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, raw)
	return c, bufio.NewReader(c)
}

func readN(t *testing.T, br *bufio.Reader, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", n, err, b)
	}
	return string(b)
}

const websocketOn = "        upgrade_configs: [{ upgrade_type: websocket }]\n"

func routesTo(routes string) string {
	return `        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
` + routes
}

const catchAll = "            - { match: { prefix: / }, route: { cluster: backend } }\n"

// A filter that holds the 101 keeps the tunnel from starting: bytes the
// upstream sent behind the 101 wait, and follow the 101 once it continues.
func TestUpgradeFilterHoldsThe101(t *testing.T) {
	be := switchingBackend(t)
	log := &callLog{}
	saw := make(chan string, 2)
	h := newTunnelHarness(t, websocketOn+routesTo(catchAll), be.addr,
		filter("hold", log, func(f *scripted) {
			f.decodeHdr = func(f *scripted, h *headers.Map, end bool) hcm.HeadersStatus {
				v, _ := h.Get("upgrade")
				c, _ := h.Get("connection")
				saw <- string(v)
				saw <- string(c)
				return hcm.HeadersContinue
			}
			f.encodeHdr = func(f *scripted, h *headers.Map, end bool) hcm.HeadersStatus {
				cb := f.cb
				sched := cb.NewScheduler()
				go func() {
					time.Sleep(50 * time.Millisecond) // the early bytes arrive meanwhile
					sched.Schedule(func() {
						cb.ResponseHeaders().SetString("x-held", "1")
						cb.ContinueEncoding()
					})
				}()
				return hcm.HeadersStopIteration
			}
		}))
	c, br := exchange(t, h.addr, upgradeRequest)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("X-Held") != "1" || resp.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("101: %v %v", resp, err)
	}
	if got := readN(t, br, 5); got != "early" {
		t.Fatalf("after the 101: %q", got)
	}
	io.WriteString(c, "ping")
	if got := readN(t, br, 4); got != "ping" {
		t.Fatalf("echo %q", got)
	}
	if up, conn := <-saw, <-saw; up != "websocket" || conn != "upgrade" {
		t.Fatalf("filter saw upgrade %q, connection %q", up, conn)
	}
	if calls := log.String(); calls != "hold.dh(true) hold.eh(101)" {
		t.Fatalf("calls %s", calls)
	}
}

// A filter that answers the 101 with its own reply: the upstream
// connection is let go and the client's connection closes after the reply.
func TestUpgradeFilterReplacesThe101(t *testing.T) {
	upClosed := make(chan struct{})
	be := newBackend(t, func(b *backend, c net.Conn, br *bufio.Reader) {
		b.readReq(br)
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		io.Copy(io.Discard, br)
		close(upClosed)
	})
	log := &callLog{}
	h := newTunnelHarness(t, websocketOn+routesTo(catchAll), be.addr,
		filter("deny", log, func(f *scripted) {
			f.encodeHdr = func(f *scripted, h *headers.Map, end bool) hcm.HeadersStatus {
				if h.Status() == 101 {
					f.cb.SendLocalReply(403, nil, []byte("denied"), "denied_by_filter")
					return hcm.HeadersStopIteration
				}
				return hcm.HeadersContinue
			}
		}))
	c, br := exchange(t, h.addr, upgradeRequest+"tunnel bytes that never pass")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || string(body) != "denied" || !resp.Close {
		t.Fatalf("got %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the reply: %d, %v", n, err)
	}
	c.Close()
	select {
	case <-upClosed:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream connection was not closed")
	}
	if st := h.cm.Get("backend").Stats(); st.CxTunnelTotal != 1 {
		t.Fatalf("stats %+v", st)
	}
	l := h.accessLines(t, 1)
	if len(l) != 1 || l[0]["status"] != float64(403) || l[0]["details"] != "denied_by_filter" {
		t.Fatalf("access log %v", l)
	}
	if h.stats.DownstreamCxUpgradesTotal.Load() != 0 {
		t.Fatal("counted as an upgrade")
	}
}

// A 101 made up by a filter, with no switch behind it, cannot be sent.
func TestFilterMade101IsRefused(t *testing.T) {
	be := switchingBackend(t)
	log := &callLog{}
	h := newTunnelHarness(t, routesTo(catchAll), be.addr,
		filter("liar", log, func(f *scripted) {
			f.encodeHdr = func(f *scripted, h *headers.Map, end bool) hcm.HeadersStatus {
				if h.Status() == 200 {
					h.SetStatus(101)
				}
				return hcm.HeadersContinue
			}
		}))
	_, br := exchange(t, h.addr, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 502 || string(body) != "upgrade failed" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	l := h.accessLines(t, 1)
	if l[0]["response_flags"] != "UPE" || l[0]["details"] != "upgrade_failed" {
		t.Fatalf("access log %v", l)
	}
}

// Upgrade fields on an HTTP/1.0 request, or on a request with a body, do
// not make it an upgrade: it goes out plain.
func TestUpgradeOnlyForBodilessHTTP11(t *testing.T) {
	be := switchingBackend(t)
	h := newTunnelHarness(t, websocketOn+routesTo(catchAll), be.addr)
	for _, raw := range []string{
		"GET /old HTTP/1.0\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"POST /body HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\ncontent-length: 3\r\n\r\nabc",
	} {
		_, br := exchange(t, h.addr, raw)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "plain" {
			t.Fatalf("%q: got %d %q", raw, resp.StatusCode, body)
		}
	}
	for _, r := range be.requests() {
		if r.Header.Get("Upgrade") != "" || r.Header.Get("Connection") != "" {
			t.Fatalf("%s reached the backend with upgrade fields: %v", r.URL, r.Header)
		}
	}
	if n := h.stats.DownstreamRqWsOnNonWsRoute.Load(); n != 2 {
		t.Fatalf("downstream_rq_ws_on_non_ws_route = %d", n)
	}
}

// A CONNECT that no route tunnels gets its 404, and nothing after it on the
// connection is read as a request: it may be the tunnel's bytes.
func TestConnectWithoutRouteNeverParsesWhatFollows(t *testing.T) {
	be := switchingBackend(t)
	h := newTunnelHarness(t, routesTo(catchAll), be.addr)
	_, br := exchange(t, h.addr, "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || !resp.Close {
		t.Fatalf("got %d close=%v", resp.StatusCode, resp.Close)
	}
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the 404: %d, %v", n, err)
	}
	if len(be.requests()) != 0 {
		t.Fatalf("backend saw %v", be.requests()[0].URL)
	}
}

const connectRoutes = `        upgrade_configs: [{ upgrade_type: CONNECT }]
` + `        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
            - { match: { connect_matcher: {} }, route: { cluster: backend } }
` + catchAll

func echoBackend(t *testing.T) *backend {
	return newBackend(t, func(b *backend, c net.Conn, br *bufio.Reader) { io.Copy(c, br) })
}

// CONNECT over HTTP/2 cannot become a tunnel here: 501.
func TestConnectOverHTTP2Is501(t *testing.T) {
	h := newTunnelHarness(t, connectRoutes, echoBackend(t).addr)
	tr := &http2.Transport{AllowHTTP: true, DialTLS: func(network, addr string, _ *tls.Config) (net.Conn, error) {
		return net.Dial(network, addr)
	}}
	defer tr.CloseIdleConnections()
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest("CONNECT", "http://"+h.addr, pr)
	req.Host = "db:5432"
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 501 || string(body) != "CONNECT is supported over HTTP/1.1 only" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	l := h.accessLines(t, 1)
	if l[0]["details"] != "connect_unsupported{HTTP/2}" || l[0]["method"] != "CONNECT" {
		t.Fatalf("access log %v", l)
	}
}

// CONNECT to an upstream that refuses the connection: 503 UF, as for any
// request.
func TestConnectUpstreamRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	h := newTunnelHarness(t, connectRoutes, dead)
	_, br := exchange(t, h.addr, "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !resp.Close {
		t.Fatalf("got %d close=%v", resp.StatusCode, resp.Close)
	}
	l := h.accessLines(t, 1)
	if l[0]["response_flags"] != "UF" || l[0]["details"] != "upstream_reset_before_response_started{connection_failure}" {
		t.Fatalf("access log %v", l)
	}
}

// A drain leaves tunnels running; the drain deadline (CloseAll) ends them,
// logged LR drain_timeout.
func TestTunnelDrain(t *testing.T) {
	h := newTunnelHarness(t, connectRoutes, echoBackend(t).addr)
	c, br := exchange(t, h.addr, "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	h.onLoop(t, func() { h.set.Drain() })
	io.WriteString(c, "still here")
	if got := readN(t, br, 10); got != "still here" {
		t.Fatalf("echo after drain: %q", got)
	}
	var open int
	h.onLoop(t, func() { open = h.set.Len(); h.set.CloseAll() })
	if open != 1 {
		t.Fatalf("%d connections in the set during the drain", open)
	}
	if n, err := br.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes after CloseAll", n)
	}
	l := h.accessLines(t, 1)
	if l[0]["response_flags"] != "LR" || l[0]["details"] != "drain_timeout" || l[0]["bytes_received"] != float64(10) {
		t.Fatalf("access log %v", l)
	}
	h.onLoop(t, func() { open = h.set.Len() })
	st := h.cm.Get("backend").Stats()
	if open != 0 || h.stats.DownstreamCxUpgradesActive.Load() != 0 || st.CxActive != 0 || st.CxTunnelActive != 0 {
		t.Fatalf("after CloseAll: %d in the set, stats %+v", open, st)
	}
}

// The tunnel's buffering, measured inside the worker: with a server that
// does not read, sluice holds at most the upstream's high watermark plus
// one read, while the client keeps writing.
func TestTunnelBackpressureInWorker(t *testing.T) {
	release := make(chan struct{})
	be := newBackend(t, func(b *backend, c net.Conn, br *bufio.Reader) {
		<-release
		io.Copy(io.Discard, br)
	})
	h := newTunnelHarness(t, connectRoutes, be.addr)
	c, br := exchange(t, h.addr, "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	var written int64
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		n, _ := c.Write(chunk)
		written += int64(n)
	}
	var buffered int64
	h.onLoop(t, func() { buffered = h.w.Stats().TxBuffered })
	// Default watermarks (no per_connection_buffer_limit_bytes here): 1 MiB.
	if max := int64(1<<20 + 16<<10); buffered > max {
		t.Fatalf("%d bytes buffered in the worker after the client wrote %d; bound %d", buffered, written, max)
	}
	close(release)
}
