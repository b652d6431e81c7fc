package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// grpcOutcome is what a gRPC client concludes from a response: the HTTP
// status, the content type, and grpc-status / grpc-message from the
// trailers or, for a trailers-only response, the headers.
type grpcOutcome struct {
	httpStatus   int
	contentType  string
	status       string
	message      string // percent-decoded
	trailersOnly bool
	body         []byte
}

func grpcCall(t *testing.T, c *http.Client, target string, body []byte, hdr ...string) grpcOutcome {
	t.Helper()
	req, err := http.NewRequest("POST", target, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	o := grpcOutcome{httpStatus: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: b}
	src := resp.Trailer
	if gs := resp.Header.Get("Grpc-Status"); gs != "" {
		src, o.trailersOnly = resp.Header, true
	}
	o.status = src.Get("Grpc-Status")
	o.message, _ = url.PathUnescape(src.Get("Grpc-Message"))
	return o
}

func (o grpcOutcome) String() string {
	return fmt.Sprintf("HTTP %d %q grpc-status %q grpc-message %q trailers-only=%v body %q", o.httpStatus, o.contentType, o.status, o.message, o.trailersOnly, o.body)
}

// wantGRPC checks a trailers-only gRPC answer.
func wantGRPC(t *testing.T, o grpcOutcome, status, message string) {
	t.Helper()
	if o.httpStatus != 200 || o.contentType != "application/grpc" || !o.trailersOnly || len(o.body) != 0 ||
		o.status != status || o.message != message {
		t.Fatalf("got %v; want trailers-only grpc-status %s %q", o, status, message)
	}
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func grpcRoute(extra string) string {
	return `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: /echo.Echo/ }
    route: { cluster: grpc` + extra + ` }
`
}

// Every reply sluice makes itself to a gRPC request is a trailers-only gRPC
// response with the mapped status and a message, so gRPC clients (and
// their retry policies) see UNAVAILABLE, DEADLINE_EXCEEDED, ... instead of
// "unexpected HTTP status code 503".
func TestGRPCLocalRepliesAreGRPCStatuses(t *testing.T) {
	c := h2cClient(t)
	call := func(p *proc, path string) grpcOutcome {
		return grpcCall(t, c, p.URL(path), grpcFrame("x"))
	}
	t.Run("connect failure is UNAVAILABLE", func(t *testing.T) {
		p := startSluice(t, listenerConfig("", grpcRoute(""), staticCluster("grpc", "http2_protocol_options: {}", freeAddr(t)), ""))
		wantGRPC(t, call(p, "/echo.Echo/Unary"), "14", "upstream connect error or disconnect/reset before headers. reset reason: connection failure")
		if rec := p.AccessLines(1)[0]; rec["status"] != float64(200) || rec["response_flags"] != "UF" {
			t.Fatalf("access log %v", rec)
		}
		// A plain HTTP request to the same route still gets the HTTP error.
		resp, body := get(t, newClient(t), p.URL("/echo.Echo/Unary"), nil)
		if resp.StatusCode != 503 || resp.Header.Get("Grpc-Status") != "" || !strings.HasPrefix(body, "upstream connect error") {
			t.Fatalf("plain request: %d %q %v", resp.StatusCode, body, resp.Header)
		}
	})
	t.Run("no route is UNIMPLEMENTED", func(t *testing.T) {
		p := startSluice(t, listenerConfig("", grpcRoute(""), staticCluster("grpc", "http2_protocol_options: {}", freeAddr(t)), ""))
		wantGRPC(t, call(p, "/other.Service/Call"), "12", "route_not_found")
	})
	t.Run("route timeout is DEADLINE_EXCEEDED", func(t *testing.T) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		be := slowGrpcBackend(t, release)
		p := startSluice(t, listenerConfig("", grpcRoute(", timeout: 200ms"), staticCluster("grpc", "http2_protocol_options: {}", be), ""))
		wantGRPC(t, call(p, "/echo.Echo/Slow"), "4", "upstream request timeout")
		if rec := p.AccessLines(1)[0]; rec["response_flags"] != "UT" || rec["details"] != "upstream_response_timeout" {
			t.Fatalf("access log %v", rec)
		}
	})
	t.Run("overflow is UNAVAILABLE", func(t *testing.T) {
		release := make(chan struct{})
		be := slowGrpcBackend(t, release)
		p := startSluice(t, strings.Replace(listenerConfig("", grpcRoute(""), staticCluster("grpc",
			"max_connections: 1\nmax_pending_requests: 1\nhttp2_protocol_options: { max_concurrent_streams: 1 }", be), ""),
			"concurrency: 2", "concurrency: 1", 1))
		var wg sync.WaitGroup
		t.Cleanup(func() { close(release); wg.Wait() })
		for range 2 { // one in flight, one queued
			wg.Add(1)
			go func() {
				defer wg.Done()
				grpcCall(t, c, p.URL("/echo.Echo/Slow"), grpcFrame("x"))
			}()
		}
		// One call has the only stream slot, the other waits in the queue
		// (a call waiting for the connection to open is pending too, so
		// the active one is awaited first).
		waitStat(t, p, "cluster.grpc.upstream_rq_active", 1)
		waitStat(t, p, "cluster.grpc.upstream_rq_pending_active", 1)
		wantGRPC(t, call(p, "/echo.Echo/Slow"), "14", "upstream overflow")
	})
	t.Run("request over the buffer limit is RESOURCE_EXHAUSTED", func(t *testing.T) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		be := slowGrpcBackend(t, release)
		filter := moduleFilter(t, "rewrite", "body_rewriter", "body_rewriter", `{from: a, to: b}`)
		p := startSluice(t, listenerConfig(filter, grpcRoute(""), staticCluster("grpc", "http2_protocol_options: {}", be),
			"stream_buffer_limit_bytes: 1024"))
		// The body arrives in pieces, without its end: the filter buffers.
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.Close() })
		go func() {
			for range 4 {
				if _, err := pw.Write(make([]byte, 1024)); err != nil {
					return
				}
			}
		}()
		req, _ := http.NewRequest("POST", p.URL("/echo.Echo/Unary"), pr)
		req.Header.Set("Content-Type", "application/grpc")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != "8" || resp.Header.Get("Grpc-Message") != "Payload Too Large" {
			t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("broken filter is INTERNAL", func(t *testing.T) {
		p := startSluice(t, listenerConfig(moduleFilter(t, "bad", "invalid_status", "invalid_status", ""), grpcRoute(""),
			staticCluster("grpc", "http2_protocol_options: {}", freeAddr(t)), ""))
		wantGRPC(t, call(p, "/echo.Echo/Unary"), "13", "module_invalid_status")
	})
	t.Run("module send_response is converted", func(t *testing.T) {
		p := startSluice(t, listenerConfig(moduleFilter(t, "deny", "grpc_status", "plain_denial", ""), grpcRoute(""),
			staticCluster("grpc", "http2_protocol_options: {}", freeAddr(t)), ""))
		wantGRPC(t, call(p, "/echo.Echo/Unary"), "7", "denied by module")
		if rec := p.AccessLines(1)[0]; rec["details"] != "module_denied" {
			t.Fatalf("access log %v", rec)
		}
	})
	t.Run("module gRPC status helper", func(t *testing.T) {
		p := startSluice(t, listenerConfig(moduleFilter(t, "deny", "grpc_status", "grpc_helper", ""), grpcRoute(""),
			staticCluster("grpc", "http2_protocol_options: {}", freeAddr(t)), ""))
		wantGRPC(t, call(p, "/echo.Echo/Unary"), "7", "caller not allowed: 100% sure\n")
		resp, body := get(t, newClient(t), p.URL("/echo.Echo/Unary"), nil)
		if resp.StatusCode != 403 || body != "denied by module" {
			t.Fatalf("plain request: %d %q", resp.StatusCode, body)
		}
	})
}

// slowGrpcBackend answers gRPC calls only once release is closed.
func slowGrpcBackend(t *testing.T, release chan struct{}) string {
	h := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", "0")
		w.WriteHeader(200)
	}
	srv := httptest.NewUnstartedServer(h2c.NewHandler(http.HandlerFunc(h), &http2.Server{}))
	srv.Start()
	t.Cleanup(srv.Close)
	return backendAddr(srv)
}

// An upstream that dies after its response started: at a message
// boundary the call ends with trailers grpc-status 14 (UNAVAILABLE) naming
// the failure, so clients may retry; in the middle of a message the only
// honest signal left is a reset.
func TestGRPCUpstreamDeathMidStream(t *testing.T) {
	h := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		w.WriteHeader(200)
		msg := grpcFrame("first message")
		if r.URL.Path == "/echo.Echo/Torn" {
			msg = msg[:8] // a message cut inside
		}
		w.Write(msg)
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // RST_STREAM(INTERNAL_ERROR) upstream
	}
	srv := httptest.NewUnstartedServer(h2c.NewHandler(http.HandlerFunc(h), &http2.Server{}))
	srv.Start()
	t.Cleanup(srv.Close)
	p := startSluice(t, listenerConfig("", grpcRoute(""), staticCluster("grpc", "http2_protocol_options: {}", backendAddr(srv)), ""))
	c := h2cClient(t)

	o := grpcCall(t, c, p.URL("/echo.Echo/Boundary"), grpcFrame("x"))
	want := "upstream reset after the response started: remote_reset (cluster: upstream reset the stream: INTERNAL_ERROR)"
	if o.httpStatus != 200 || o.trailersOnly || string(o.body) != string(grpcFrame("first message")) || o.status != "14" || o.message != want {
		t.Fatalf("at a boundary: %v", o)
	}
	rec := p.AccessLines(1)[0]
	if rec["response_flags"] != "UR" || rec["details"] != "upstream_reset_after_response_started{remote_reset}" {
		t.Fatalf("access log %v", rec)
	}

	req, _ := http.NewRequest("POST", p.URL("/echo.Echo/Torn"), strings.NewReader(string(grpcFrame("x"))))
	req.Header.Set("Content-Type", "application/grpc")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	var se http2.StreamError
	if !errors.As(err, &se) || se.Code != http2.ErrCodeInternal {
		t.Fatalf("inside a message: %v, want RST_STREAM(INTERNAL_ERROR)", err)
	}
}
