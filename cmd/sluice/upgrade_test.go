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

var _ = fmt.Sprint
