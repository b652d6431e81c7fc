package healthcheck

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

func probe(t *testing.T, cfg Config, addr netip.AddrPort) error {
	t.Helper()
	p := NewProber(cfg, addr, "cluster-name")
	t.Cleanup(p.Close)
	return p.Probe(context.Background())
}

func addrOf(t *testing.T, s *httptest.Server) netip.AddrPort {
	return netip.MustParseAddrPort(s.Listener.Addr().String())
}

func TestHTTPProbe(t *testing.T) {
	var host, ua, extra atomic.Value
	var conns atomic.Int32
	status := atomic.Int32{}
	status.Store(200)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host.Store(r.Host)
		ua.Store(r.UserAgent())
		extra.Store(r.Header.Get("x-probe"))
		if r.URL.Path != "/healthz" {
			w.WriteHeader(404)
			return
		}
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, strings.Repeat("x", 1000))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	cfg := Config{Timeout: time.Second, HTTP: &HTTP{Path: "/healthz", RequestHeaders: [][2]string{{"x-probe", "1"}}}}
	p := NewProber(cfg, addrOf(t, srv), "cluster-name")
	defer p.Close()
	for range 3 {
		if err := p.Probe(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if host.Load() != "cluster-name" || ua.Load() != "sluice/HC" || extra.Load() != "1" {
		t.Fatalf("host %v ua %v x-probe %v", host.Load(), ua.Load(), extra.Load())
	}
	if conns.Load() != 1 {
		t.Fatalf("%d connections for 3 probes; the prober keeps its connection alive", conns.Load())
	}
	status.Store(503)
	err := p.Probe(context.Background())
	if err == nil || err.Error() != "health check failed: http status 503" || IsNetworkFailure(err) {
		t.Fatalf("503: %v", err)
	}
	// expected_statuses ranges; the host override.
	cfg.HTTP.ExpectedStatuses = []StatusRange{{Start: 200, End: 300}, {Start: 503, End: 504}}
	cfg.HTTP.Host = "health.internal"
	if err := probe(t, cfg, addrOf(t, srv)); err != nil || host.Load() != "health.internal" {
		t.Fatalf("503 expected: %v, host %v", err, host.Load())
	}
}

func TestHTTPProbeTimeoutAndRefused(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	cfg := Config{Timeout: 100 * time.Millisecond, HTTP: &HTTP{Path: "/"}}
	err := probe(t, cfg, addrOf(t, srv))
	if !IsNetworkFailure(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	if err := probe(t, cfg, closed); !IsNetworkFailure(err) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("refused: %v", err)
	}
}

func TestHTTP2Probe(t *testing.T) {
	var proto atomic.Value
	srv := httptest.NewServer(h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(r.Proto)
	}), &http2.Server{}))
	defer srv.Close()
	if err := probe(t, Config{Timeout: time.Second, HTTP: &HTTP{Path: "/", HTTP2: true}}, addrOf(t, srv)); err != nil || proto.Load() != "HTTP/2.0" {
		t.Fatalf("%v %v", err, proto.Load())
	}
}

// grpcHealth serves grpc.health.v1.Health/Check with the given status.
func grpcHealth(t *testing.T, status *atomic.Int32, service *atomic.Value) netip.AddrPort {
	srv := httptest.NewServer(h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/grpc.health.v1.Health/Check" || r.Header.Get("content-type") != "application/grpc" || len(body) < 5 {
			w.WriteHeader(400)
			return
		}
		msg := body[5:]
		svc := ""
		if len(msg) > 2 && msg[0] == 0x0a {
			svc = string(msg[2 : 2+int(msg[1])])
		}
		service.Store(svc)
		w.Header().Set("content-type", "application/grpc")
		w.Header().Set("trailer", "grpc-status")
		if status.Load() < 0 {
			w.Header().Set("grpc-status", "12") // trailers-only UNIMPLEMENTED
			return
		}
		resp := []byte{0x08, byte(status.Load())}
		frame := make([]byte, 5, 5+len(resp))
		binary.BigEndian.PutUint32(frame[1:], uint32(len(resp)))
		w.Write(append(frame, resp...))
		w.Header().Set("grpc-status", "0")
	}), &http2.Server{}))
	t.Cleanup(srv.Close)
	return addrOf(t, srv)
}

func TestGRPCProbe(t *testing.T) {
	var status atomic.Int32
	var service atomic.Value
	status.Store(1)
	addr := grpcHealth(t, &status, &service)
	cfg := Config{Timeout: time.Second, GRPC: &GRPC{ServiceName: "echo.Echo"}}
	if err := probe(t, cfg, addr); err != nil || service.Load() != "echo.Echo" {
		t.Fatalf("SERVING: %v (service %v)", err, service.Load())
	}
	status.Store(2)
	if err := probe(t, cfg, addr); err == nil || err.Error() != "health check failed: grpc: NOT_SERVING" {
		t.Fatalf("NOT_SERVING: %v", err)
	}
	status.Store(-1)
	if err := probe(t, cfg, addr); err == nil || !strings.Contains(err.Error(), `grpc-status "12"`) {
		t.Fatalf("UNIMPLEMENTED: %v", err)
	}
}

func TestParseHealthResponse(t *testing.T) {
	for _, c := range []struct {
		in     []byte
		status uint64
		ok     bool
	}{
		{[]byte{0, 0, 0, 0, 2, 0x08, 1}, 1, true},
		{[]byte{0, 0, 0, 0, 0}, 0, true},                        // empty message: UNKNOWN
		{[]byte{0, 0, 0, 0, 5, 0x12, 1, 'x', 0x08, 2}, 2, true}, // an unknown string field is skipped
		{[]byte{1, 0, 0, 0, 2, 0x08, 1}, 0, false},              // compressed
		{[]byte{0, 0, 0, 0, 3, 0x08, 1}, 0, false},              // length mismatch
		{[]byte{0, 0, 0, 0, 2, 0x0d, 1}, 0, false},              // fixed32 wire type
		{[]byte{0, 0, 0, 0, 3, 0x12, 5, 'x'}, 0, false},         // truncated field
	} {
		s, ok := parseHealthResponse(c.in)
		if s != c.status || ok != c.ok {
			t.Errorf("%x: %d %v, want %d %v", c.in, s, ok, c.status, c.ok)
		}
	}
}

func tcpServer(t *testing.T, script func(c net.Conn)) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			script(c)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return netip.MustParseAddrPort(ln.Addr().String())
}

func TestTCPProbe(t *testing.T) {
	echoPong := tcpServer(t, func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		if line == "PING\n" {
			io.WriteString(c, "+OK ")
			time.Sleep(10 * time.Millisecond)
			io.WriteString(c, "PONG and more")
		}
	})
	silent := tcpServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	closes := tcpServer(t, func(c net.Conn) {})
	cfg := Config{Timeout: 200 * time.Millisecond, TCP: &TCP{Send: []byte("PING\n"), Receive: [][]byte{[]byte("OK"), []byte("PONG")}}}
	if err := probe(t, cfg, echoPong); err != nil {
		t.Fatalf("blocks in order across reads: %v", err)
	}
	cfg.TCP.Receive = [][]byte{[]byte("PONG"), []byte("OK")}
	if err := probe(t, cfg, echoPong); err == nil || err.Error() != "health check failed: tcp: the expected bytes did not arrive before the connection closed" {
		t.Fatalf("blocks out of order: %v", err)
	}
	if err := probe(t, cfg, silent); err == nil || !IsNetworkFailure(err) || !strings.Contains(err.Error(), "did not arrive within 200ms") {
		t.Fatalf("silent: %v", err)
	}
	if err := probe(t, Config{Timeout: time.Second, TCP: &TCP{}}, closes); err != nil {
		t.Fatalf("connect only: %v", err)
	}
}

func TestJittered(t *testing.T) {
	c := Config{IntervalJitter: time.Second, IntervalJitterPercent: 10}
	if d := c.Jittered(10*time.Second, 0.5); d != 10*time.Second+500*time.Millisecond+500*time.Millisecond {
		t.Fatalf("%v", d)
	}
	if d := (&Config{}).Jittered(time.Second, 0.9); d != time.Second {
		t.Fatalf("no jitter: %v", d)
	}
}
