package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

const websocketUpgrades = "upgrade_configs: [{ upgrade_type: websocket }]\n"

// upgradeProxy runs sluice in front of be with the given connection manager
// extras (upgrade_configs, timeouts) and one catch-all route.
func upgradeProxy(t *testing.T, be, hcmExtra, routeExtra string) *proc {
	return startSluice(t, listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: { cluster: backend`+routeExtra+` }
`, staticCluster("backend", "", be), hcmExtra))
}

// onlyLine waits for the single access-log line of a test and returns it.
func onlyLine(t *testing.T, p *proc) map[string]any {
	t.Helper()
	lines := p.AccessLines(1)
	if len(lines) != 1 {
		t.Fatalf("access log has %d lines: %v", len(lines), lines)
	}
	return lines[0]
}

// TestWebSocketEchoMegabyteBothWays: golang.org/x/net/websocket's client
// and server, 1 MiB each way through sluice, then one access-log line for
// the tunnel with its bytes and duration.
func TestWebSocketEchoMegabyteBothWays(t *testing.T) {
	srv := httptest.NewServer(websocket.Server{Handler: func(ws *websocket.Conn) {
		ws.PayloadType = websocket.BinaryFrame
		io.Copy(ws, ws) // echo frame by frame
	}})
	t.Cleanup(srv.Close)
	p := upgradeProxy(t, backendAddr(srv), websocketUpgrades, "")

	ws, err := websocket.Dial("ws://"+p.Addr("main")+"/echo", "", "http://origin.test/")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetDeadline(time.Now().Add(30 * time.Second))
	const total, chunk = 1 << 20, 16 << 10
	sent := sha256.New()
	got := sha256.New()
	var received int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for received < total {
			var msg []byte
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				t.Errorf("receive after %d bytes: %v", received, err)
				return
			}
			got.Write(msg)
			received += len(msg)
		}
	}()
	for off := 0; off < total; off += chunk {
		msg := make([]byte, chunk)
		for i := range msg {
			msg[i] = byte((off + i) * 31)
		}
		sent.Write(msg)
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatalf("send at %d: %v", off, err)
		}
	}
	wg.Wait()
	if received != total || !bytes.Equal(sent.Sum(nil), got.Sum(nil)) {
		t.Fatalf("echoed %d bytes, want %d, digests equal=%v", received, total, bytes.Equal(sent.Sum(nil), got.Sum(nil)))
	}
	ws.Close()

	l := onlyLine(t, p)
	if l["status"] != float64(101) || l["method"] != "GET" || l["path"] != "/echo" || l["protocol"] != "HTTP/1.1" ||
		l["response_flags"] != "-" || l["upstream_cluster"] != "backend" || l["upstream_host"] != backendAddr(srv) {
		t.Fatalf("access log %v", l)
	}
	// Each direction carried the MiB plus WebSocket framing.
	for _, k := range []string{"bytes_received", "bytes_sent"} {
		if n := l[k].(float64); n < total || n > total+total/100 {
			t.Fatalf("%s = %v, want the MiB and its framing", k, n)
		}
	}
	if _, ok := l["duration_ms"].(float64); !ok {
		t.Fatalf("no duration: %v", l)
	}
	waitStat(t, p, "http.ingress.downstream_cx_upgrades_active", 0)
	for name, want := range map[string]int64{
		"http.ingress.downstream_cx_upgrades_total": 1,
		"cluster.backend.upstream_cx_tunnel_total":  1,
		"cluster.backend.upstream_cx_tunnel_active": 0,
		"cluster.backend.upstream_cx_active":        0,
	} {
		if got := adminStat(t, p, name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
}

// TestWebSocketCloseFramesPass: the client's close frame reaches the server
// and the server's answer comes back; the server then closes and the client
// sees the end of the stream.
func TestWebSocketCloseFramesPass(t *testing.T) {
	be := newWSBackend(t, nil, wsEchoSession)
	p := upgradeProxy(t, be.addr, websocketUpgrades, "")
	c, br, resp := wsDial(t, p.Addr("main"), "/chat")
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "websocket" || resp.Header.Get("Connection") != "upgrade" {
		t.Fatalf("handshake answer %d %v", resp.StatusCode, resp.Header)
	}
	if err := wsWriteFrame(c, wsText, []byte("hello"), true); err != nil {
		t.Fatal(err)
	}
	if op, msg, err := wsReadFrame(br); err != nil || op != wsText || string(msg) != "hello" {
		t.Fatalf("echo: %x %q %v", op, msg, err)
	}
	if err := wsWriteFrame(c, wsClose, closePayload(1000, "bye"), true); err != nil {
		t.Fatal(err)
	}
	op, msg, err := wsReadFrame(br)
	if err != nil || op != wsClose || !bytes.Equal(msg, closePayload(1000, "bye")) {
		t.Fatalf("close answer: %x %q %v", op, msg, err)
	}
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the close handshake: %d bytes, %v; want EOF", n, err)
	}
	// The server closed first, so the tunnel is half-closed until the
	// client closes too (RFC 6455 7.1.1).
	c.Close()
	// The server saw the handshake with its upgrade fields.
	req := be.requests()[0]
	if req.Header.Get("Upgrade") != "websocket" || !strings.EqualFold(req.Header.Get("Connection"), "upgrade") || req.Header.Get("Sec-WebSocket-Key") == "" {
		t.Fatalf("backend saw %v", req.Header)
	}
	if l := onlyLine(t, p); l["status"] != float64(101) || l["response_flags"] != "-" {
		t.Fatalf("access log %v", l)
	}
}

// TestUpgradeWithoutConfig: without upgrade_configs the request goes out as
// a plain GET (no upgrade fields); an upstream that switches anyway gets
// the client a 502 upgrade_failed, flagged UPE.
func TestUpgradeWithoutConfig(t *testing.T) {
	be := newWSBackend(t, func(r *http.Request) string {
		// Switch whatever the request said.
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	}, nil)
	p := upgradeProxy(t, be.addr, "", "")
	out := rawExchange(t, p.Addr("main"), "GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
	if err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 502 || string(body) != "upgrade failed" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	req := be.requests()[0]
	if req.Header.Get("Upgrade") != "" || req.Header.Get("Connection") != "" || req.Header.Get("Sec-WebSocket-Key") == "" {
		t.Fatalf("backend saw upgrade fields: %v", req.Header)
	}
	l := onlyLine(t, p)
	if l["status"] != float64(502) || l["response_flags"] != "UPE" || l["details"] != "upgrade_failed" {
		t.Fatalf("access log %v", l)
	}
	if got := adminStat(t, p, "http.ingress.downstream_rq_ws_on_non_ws_route"); got != 1 {
		t.Fatalf("downstream_rq_ws_on_non_ws_route = %d", got)
	}
}

// TestUpgradeRefusedPassesThrough: an upstream that answers the upgrade
// request with 403 is an ordinary response; the connection then closes
// (the client may already speak the new protocol).
func TestUpgradeRefusedPassesThrough(t *testing.T) {
	be := newWSBackend(t, func(r *http.Request) string {
		return "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 9\r\n\r\nforbidden"
	}, nil)
	p := upgradeProxy(t, be.addr, websocketUpgrades, "")
	c, br, resp := wsDial(t, p.Addr("main"), "/chat")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || string(body) != "forbidden" || !resp.Close {
		t.Fatalf("got %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the refusal: %d bytes, %v; want EOF", n, err)
	}
	c.Close()
	if l := onlyLine(t, p); l["status"] != float64(403) || l["response_flags"] != "-" {
		t.Fatalf("access log %v", l)
	}
	if got := adminStat(t, p, "http.ingress.downstream_cx_upgrades_total"); got != 0 {
		t.Fatalf("downstream_cx_upgrades_total = %d", got)
	}
}

// TestConnectTunnelsToTCPBackend: a connect_matcher route terminates
// CONNECT: 200 once the upstream TCP connection is up, then raw bytes both
// ways. Bytes sent right behind the CONNECT head are not lost.
func TestConnectTunnelsToTCPBackend(t *testing.T) {
	echo := tcpBackend(t, func(c net.Conn) { io.Copy(c, c) })
	p := startSluice(t, listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { connect_matcher: {} }
    route: { cluster: tcp }
  - match: { prefix: / }
    direct_response: { status: 200, body: { inline_string: "not a tunnel" } }
`, staticCluster("tcp", "", echo), "upgrade_configs: [{ upgrade_type: CONNECT }]"))
	c, err := net.DialTimeout("tcp", p.Addr("main"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\nearly bytes|")
	br := bufio.NewReader(c)
	head := readHead(t, br)
	if head != "HTTP/1.1 200 OK\r\nserver: sluice\r\n\r\n" {
		t.Fatalf("CONNECT answer %q", head)
	}
	payload := bytes.Repeat([]byte("\x00\x01binary\r\n\r\nGET / HTTP/1.1\r\n"), 4096)
	go c.Write(payload)
	want := append([]byte("early bytes|"), payload...)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("echo: %v (equal=%v)", err, bytes.Equal(got, want))
	}
	c.Close()
	l := onlyLine(t, p)
	if l["method"] != "CONNECT" || l["authority"] != "db.internal:5432" || l["status"] != float64(200) ||
		l["bytes_received"] != float64(len(want)) || l["bytes_sent"] != float64(len(want)) || l["upstream_host"] != echo {
		t.Fatalf("access log %v", l)
	}
}

// readHead reads a response head up to and including the empty line.
func readHead(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			t.Fatalf("head %q: %v", b.String(), err)
		}
		if line == "\r\n" {
			return b.String()
		}
	}
}

// TestModuleFilterSeesUpgrade: a module filter (testdata/modules/
// upgrade_probe.c) sees the upgrade request with its Upgrade and
// Connection fields, and the 101 with its Upgrade, as the last response
// event; what it adds reaches the server and the client.
func TestModuleFilterSeesUpgrade(t *testing.T) {
	be := newWSBackend(t, nil, wsEchoSession)
	p := startSluice(t, listenerConfig(moduleFilter(t, "probe", "upgrade_probe", "upgrade_probe", ""), `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: { cluster: backend }
`, staticCluster("backend", "", be.addr), websocketUpgrades))
	c, br, resp := wsDial(t, p.Addr("main"), "/chat")
	if resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for name, want := range map[string]string{
		"X-Probe-Request-Upgrade":  "websocket",
		"X-Probe-Status":           "101",
		"X-Probe-Response-Upgrade": "websocket",
		"X-Probe-End-Stream":       "true",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("101 %s = %q, want %q", name, got, want)
		}
	}
	req := be.requests()[0]
	if got := req.Header.Get("X-Probe-Request-Upgrade"); got != "websocket" {
		t.Errorf("server saw x-probe-request-upgrade %q", got)
	}
	if got := req.Header.Get("X-Probe-Request-Connection"); got != "upgrade" {
		t.Errorf("server saw x-probe-request-connection %q", got)
	}
	// The module does not stand in the tunnel's way.
	wsWriteFrame(c, wsBinary, []byte("after the probe"), true)
	if op, msg, err := wsReadFrame(br); err != nil || op != wsBinary || string(msg) != "after the probe" {
		t.Fatalf("echo: %x %q %v", op, msg, err)
	}
}

// TestRouteUpgradeOverrides: a route's upgrade_configs entry beats the
// connection manager's, both ways.
func TestRouteUpgradeOverrides(t *testing.T) {
	be := newWSBackend(t, nil, wsEchoSession)
	p := startSluice(t, listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: /off }
    route: { cluster: backend, upgrade_configs: [{ upgrade_type: WebSocket, enabled: false }] }
  - match: { prefix: / }
    route: { cluster: backend }
`, staticCluster("backend", "", be.addr), websocketUpgrades))
	if _, _, resp := wsDial(t, p.Addr("main"), "/on"); resp.StatusCode != 101 {
		t.Fatalf("/on: %d", resp.StatusCode)
	}
	// Disabled on the route: a plain GET reaches the server, which wants
	// an upgrade and says so.
	if _, _, resp := wsDial(t, p.Addr("main"), "/off"); resp.StatusCode != 426 {
		t.Fatalf("/off: %d", resp.StatusCode)
	}

	// Off on the connection manager, on for one route.
	p2 := startSluice(t, listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: /on }
    route: { cluster: backend, upgrade_configs: [{ upgrade_type: websocket }] }
  - match: { prefix: / }
    route: { cluster: backend }
`, staticCluster("backend", "", be.addr), "upgrade_configs: [{ upgrade_type: websocket, enabled: false }]"))
	if _, _, resp := wsDial(t, p2.Addr("main"), "/on"); resp.StatusCode != 101 {
		t.Fatalf("p2 /on: %d", resp.StatusCode)
	}
	if _, _, resp := wsDial(t, p2.Addr("main"), "/other"); resp.StatusCode != 426 {
		t.Fatalf("p2 /other: %d", resp.StatusCode)
	}
}

// connectProxy runs sluice with one CONNECT route to be.
func connectProxy(t *testing.T, be, hcmExtra string) *proc {
	return startSluice(t, listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { connect_matcher: {} }
    route: { cluster: tcp, upgrade_configs: [{ upgrade_type: CONNECT, connect_config: {} }] }
`, staticCluster("tcp", "", be), hcmExtra))
}

// dialConnect opens a CONNECT tunnel through p and returns it after the 200.
func dialConnect(t *testing.T, p *proc) (*net.TCPConn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr("main"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "CONNECT backend.test:9 HTTP/1.1\r\nHost: backend.test:9\r\n\r\n")
	br := bufio.NewReader(c)
	if head := readHead(t, br); !strings.HasPrefix(head, "HTTP/1.1 200 OK\r\n") {
		t.Fatalf("CONNECT answer %q", head)
	}
	return c.(*net.TCPConn), br
}

// TestTunnelHalfClose: a FIN is passed on in each direction while the other
// direction goes on.
func TestTunnelHalfClose(t *testing.T) {
	t.Run("client first", func(t *testing.T) {
		// The backend echoes until the client's FIN, then answers "done".
		be := tcpBackend(t, func(c net.Conn) {
			io.Copy(c, c)
			io.WriteString(c, "done")
		})
		p := connectProxy(t, be, "")
		c, br := dialConnect(t, p)
		io.WriteString(c, "ping")
		c.CloseWrite()
		if got, err := io.ReadAll(br); err != nil || string(got) != "pingdone" {
			t.Fatalf("got %q, %v", got, err)
		}
		c.Close()
		if l := onlyLine(t, p); l["response_flags"] != "-" || l["bytes_received"] != float64(4) || l["bytes_sent"] != float64(8) {
			t.Fatalf("access log %v", l)
		}
	})
	t.Run("client done before the 200", func(t *testing.T) {
		// The client sends its bytes and its FIN right behind the CONNECT
		// head: both wait for the tunnel and are passed on in order.
		be := tcpBackend(t, func(c net.Conn) {
			io.Copy(c, c)
			io.WriteString(c, "done")
		})
		p := connectProxy(t, be, "")
		c, err := net.DialTimeout("tcp", p.Addr("main"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(c, "CONNECT backend.test:9 HTTP/1.1\r\nHost: backend.test:9\r\n\r\nping")
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil || !strings.HasPrefix(string(got), "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(string(got), "\r\n\r\npingdone") {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("backend first", func(t *testing.T) {
		// The backend says hello and half-closes, then still reads.
		got := make(chan string, 1)
		be := tcpBackend(t, func(c net.Conn) {
			io.WriteString(c, "hello")
			c.(*net.TCPConn).CloseWrite()
			b, _ := io.ReadAll(c)
			got <- string(b)
		})
		p := connectProxy(t, be, "")
		c, br := dialConnect(t, p)
		if b, err := io.ReadAll(br); err != nil || string(b) != "hello" {
			t.Fatalf("read %q, %v", b, err)
		}
		io.WriteString(c, "still talking")
		c.CloseWrite()
		select {
		case s := <-got:
			if s != "still talking" {
				t.Fatalf("backend read %q", s)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("backend never saw the client's FIN")
		}
	})
}

// TestTunnelIdleTimeout: stream_idle_timeout closes a tunnel that carries
// nothing; the access log says SI.
func TestTunnelIdleTimeout(t *testing.T) {
	be := newWSBackend(t, nil, wsEchoSession)
	p := upgradeProxy(t, be.addr, websocketUpgrades+"stream_idle_timeout: 300ms\n", "")
	c, br, resp := wsDial(t, p.Addr("main"), "/idle")
	if resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	wsWriteFrame(c, wsText, []byte("one"), true)
	if _, msg, err := wsReadFrame(br); err != nil || string(msg) != "one" {
		t.Fatalf("echo %q %v", msg, err)
	}
	start := time.Now()
	if n, err := br.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes from an idle tunnel", n)
	}
	l := onlyLine(t, p)
	if l["response_flags"] != "SI" || l["details"] != "stream_idle_timeout" || l["status"] != float64(101) {
		t.Fatalf("access log %v", l)
	}
	if d := l["duration_ms"].(float64); d < 300 {
		t.Fatalf("closed after %v ms (idle for %v)", d, time.Since(start))
	}
	if got := adminStat(t, p, "http.ingress.downstream_rq_idle_timeout"); got != 1 {
		t.Fatalf("downstream_rq_idle_timeout = %d", got)
	}
}

// TestTunnelSlowReaderIsBounded: with a peer that stops reading on either
// side, sluice stops reading the other side once the output is above
// per_connection_buffer_limit_bytes, so what it holds stays about one
// watermark however much the writer tries to push; nothing is lost when
// the reader resumes.
func TestTunnelSlowReaderIsBounded(t *testing.T) {
	const limit = 64 << 10
	config := func(be string) string {
		return fmt.Sprintf(`concurrency: 1
log: { level: info, format: json }
admin: { address: 127.0.0.1:0 }
listeners:
- name: main
  address: 127.0.0.1:0
  per_connection_buffer_limit_bytes: %d
  filter_chains:
  - filters:
    - name: http_connection_manager
      config:
        stat_prefix: ingress
        upgrade_configs: [{ upgrade_type: websocket }]
        http_filters: [{ name: router }]
        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
            - match: { prefix: / }
              route: { cluster: backend }
clusters:
%s`, limit, staticCluster("backend", "", be))
	}
	// The bound: the high watermark plus the one read (16 KiB) that
	// crossed it, with room for the 101 head.
	const bound = limit + 16<<10 + 4<<10
	checkBounded := func(t *testing.T, p *proc, before int, pushed int64) {
		t.Helper()
		if buffered := adminStat(t, p, "worker.0.tx_bytes_buffered"); buffered > bound {
			t.Errorf("%d bytes of output buffered for a peer that does not read; bound %d", buffered, bound)
		}
		if grown := currentRSS(t, p.Cmd.Process.Pid) - before; grown > 24<<10 {
			t.Errorf("RSS grew by %d KiB while %d bytes were pushed at a peer that does not read", grown, pushed)
		}
	}

	t.Run("server does not read", func(t *testing.T) {
		release := make(chan struct{})
		received := make(chan int64, 1)
		be := newWSBackend(t, nil, func(c net.Conn, br *bufio.Reader) {
			<-release
			n, _ := io.Copy(io.Discard, br)
			received <- n
		})
		p := startSluice(t, config(be.addr))
		before := currentRSS(t, p.Cmd.Process.Pid)
		c, _, resp := wsDial(t, p.Addr("main"), "/upload")
		if resp.StatusCode != 101 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		c.SetDeadline(time.Time{})
		written := pushFor(c, 3*time.Second)
		checkBounded(t, p, before, written)
		close(release)
		c.SetWriteDeadline(time.Time{})
		c.(*net.TCPConn).CloseWrite()
		select {
		case n := <-received:
			if n != written {
				t.Fatalf("server received %d bytes, client wrote %d", n, written)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("server did not get the client's FIN")
		}
	})

	t.Run("client does not read", func(t *testing.T) {
		pushed := make(chan int64, 1)
		be := newWSBackend(t, nil, func(c net.Conn, br *bufio.Reader) {
			n := pushFor(c, 3*time.Second)
			pushed <- n
			c.SetWriteDeadline(time.Time{})
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, br)
		})
		p := startSluice(t, config(be.addr))
		before := currentRSS(t, p.Cmd.Process.Pid)
		c := dialSmallWindow(t, p.Addr("main"))
		io.WriteString(c, "GET /download HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReaderSize(c, 4096)
		if head := readHead(t, br); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
			t.Fatalf("handshake %q", head)
		}
		var n int64
		select {
		case n = <-pushed:
		case <-time.After(30 * time.Second):
			t.Fatal("server never finished pushing")
		}
		checkBounded(t, p, before, n)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, err := io.Copy(io.Discard, br)
		if err != nil || got != n {
			t.Fatalf("client read %d bytes (%v), server wrote %d", got, err, n)
		}
	})
}

// pushFor writes to c for d, as fast as c takes it; writes that block
// (the goal: sluice stopped reading) time out and are retried.
func pushFor(c net.Conn, d time.Duration) (written int64) {
	buf := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Write(buf)
		written += int64(n)
		if err != nil && !isTimeout(err) {
			return written
		}
	}
	return written
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
