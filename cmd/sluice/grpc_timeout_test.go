package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// timedGrpcBackend answers after the delay named by the x-delay header,
// echoing the grpc-timeout it received in a trailer. gRPC calls get their
// response headers at once; other requests only at the end.
func timedGrpcBackend(t *testing.T) string {
	h := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		d, _ := time.ParseDuration(r.Header.Get("X-Delay"))
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status, Seen-Timeout")
		if r.Header.Get("Content-Type") == "application/grpc" {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
		}
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		w.Write(grpcFrame("done"))
		w.Header().Set("Grpc-Status", "0")
		w.Header().Set("Seen-Timeout", r.Header.Get("Grpc-Timeout"))
	}
	srv := httptest.NewUnstartedServer(h2c.NewHandler(http.HandlerFunc(h), &http2.Server{}))
	srv.Start()
	t.Cleanup(srv.Close)
	return backendAddr(srv)
}

// With max_stream_duration.grpc_timeout_header_max the client's
// grpc-timeout replaces the route timeout: a call may outlive the route's
// 200ms when its deadline allows, it is ended with DEADLINE_EXCEEDED at its
// own deadline, the cap applies, and the upstream sees the deadline sluice
// enforces. max_stream_duration bounds other requests (408, DT).
func TestGRPCTimeoutHeaderReplacesRouteTimeout(t *testing.T) {
	be := timedGrpcBackend(t)
	p := startSluice(t, listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: /echo.Echo/ }
    route: { cluster: grpc, timeout: 200ms, max_stream_duration: { grpc_timeout_header_max: 2s } }
  - match: { prefix: /plain }
    route: { cluster: grpc, timeout: 10s, max_stream_duration: { max_stream_duration: 200ms } }
`, staticCluster("grpc", "http2_protocol_options: {}", be), ""))
	c := h2cClient(t)
	trailer := func(t *testing.T, delay, timeout string) grpcOutcome {
		hdr := []string{"X-Delay", delay}
		if timeout != "" {
			hdr = append(hdr, "Grpc-Timeout", timeout)
		}
		return grpcCall(t, c, p.URL("/echo.Echo/Slow"), grpcFrame("x"), hdr...)
	}

	t.Run("a deadline longer than the route timeout is honoured", func(t *testing.T) {
		req, _ := http.NewRequest("POST", p.URL("/echo.Echo/Slow"), strings.NewReader(string(grpcFrame("x"))))
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("X-Delay", "600ms")
		req.Header.Set("Grpc-Timeout", "1500m")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != string(grpcFrame("done")) || resp.Trailer.Get("Grpc-Status") != "0" {
			t.Fatalf("body %q trailers %v", body, resp.Trailer)
		}
		if got := resp.Trailer.Get("Seen-Timeout"); got != "1500000u" {
			t.Fatalf("upstream saw grpc-timeout %q", got)
		}
	})
	t.Run("the client's deadline ends the call", func(t *testing.T) {
		start := time.Now()
		o := trailer(t, "5s", "300m")
		if o.status != "4" || o.message != "upstream request timeout" || o.trailersOnly {
			t.Fatalf("%v", o)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Fatalf("ended after %v, before the 300ms deadline", d)
		}
	})
	t.Run("the cap applies", func(t *testing.T) {
		req, _ := http.NewRequest("POST", p.URL("/echo.Echo/Slow"), strings.NewReader(string(grpcFrame("x"))))
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("X-Delay", "10ms")
		req.Header.Set("Grpc-Timeout", "1H")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resp.Trailer.Get("Seen-Timeout"); got != "2000000u" {
			t.Fatalf("upstream saw grpc-timeout %q, want the 2s cap", got)
		}
	})
	t.Run("max_stream_duration", func(t *testing.T) {
		req, _ := http.NewRequest("GET", p.URL("/plain"), nil)
		req.Header.Set("X-Delay", "5s")
		resp, err := newClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 408 || string(body) != "downstream duration timeout" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		lines := p.AccessLines(4)
		rec := lines[len(lines)-1]
		if rec["response_flags"] != "DT" || rec["details"] != "max_duration_timeout" {
			t.Fatalf("access log %v", rec)
		}
	})
}

// bigTrailersBackend ends every call with about 70 KB of trailers (a large
// grpc-status-details-bin), each field below 60 KiB; /echo.Echo/BigHead
// puts them in the response head instead.
func bigTrailersBackend(t *testing.T) string {
	h := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		big := map[string]string{
			"Grpc-Status-Details-Bin": strings.Repeat("D", 40<<10),
			"X-Extra-1":               strings.Repeat("a", 15<<10),
			"X-Extra-2":               strings.Repeat("b", 15<<10),
		}
		if r.URL.Path == "/echo.Echo/BigHead" {
			for k, v := range big {
				w.Header().Set(k, v)
			}
			w.WriteHeader(200)
			return
		}
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Status-Details-Bin, X-Extra-1, X-Extra-2")
		w.WriteHeader(200)
		w.Write(grpcFrame("result"))
		w.Header().Set("Grpc-Status", "3")
		for k, v := range big {
			w.Header().Set(k, v)
		}
	}
	srv := httptest.NewUnstartedServer(h2c.NewHandler(http.HandlerFunc(h), &http2.Server{}))
	srv.Start()
	t.Cleanup(srv.Close)
	return backendAddr(srv)
}

// Response headers and trailers over the cluster's max_response_headers_kb
// (default 60 KiB) give the client a clear error (INTERNAL for gRPC, 502
// otherwise) with flag UPE; raising the limit lets them through.
func TestMaxResponseHeadersKB(t *testing.T) {
	be := bigTrailersBackend(t)
	c := h2cClient(t)
	p := startSluice(t, listenerConfig("", grpcRoute(""), staticCluster("grpc", "http2_protocol_options: {}", be), ""))
	o := grpcCall(t, c, p.URL("/echo.Echo/Details"), grpcFrame("x"))
	want := "upstream response headers too large: cluster: upstream response headers over max_response_headers_kb (60 KiB)"
	if o.trailersOnly || string(o.body) != string(grpcFrame("result")) || o.status != "13" || o.message != want {
		t.Fatalf("large trailers: %v", o)
	}
	wantGRPC(t, grpcCall(t, c, p.URL("/echo.Echo/BigHead"), grpcFrame("x")), "13", want)
	lines := p.AccessLines(2)
	if lines[0]["response_flags"] != "UPE" || lines[0]["details"] != "upstream_reset_after_response_started{response_headers_too_large}" ||
		lines[1]["response_flags"] != "UPE" || lines[1]["details"] != "upstream_reset_before_response_started{response_headers_too_large}" {
		t.Fatalf("access log %v", lines)
	}
	resp, body := get(t, newClient(t), p.URL("/echo.Echo/BigHead"), nil)
	if resp.StatusCode != 502 || body != want {
		t.Fatalf("plain request: %d %q", resp.StatusCode, body)
	}

	p2 := startSluice(t, listenerConfig("", grpcRoute(""), staticCluster("grpc", "max_response_headers_kb: 128\nhttp2_protocol_options: {}", be), ""))
	req, _ := http.NewRequest("POST", p2.URL("/echo.Echo/Details"), strings.NewReader(string(grpcFrame("x"))))
	req.Header.Set("Content-Type", "application/grpc")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Trailer.Get("Grpc-Status") != "3" || len(resp.Trailer.Get("Grpc-Status-Details-Bin")) != 40<<10 {
		t.Fatalf("with the limit raised: trailers %d fields, grpc-status %q %q", len(resp.Trailer), resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message"))
	}
}

// http2_protocol_options.max_concurrent_streams on the connection manager
// is what sluice advertises and enforces; the default (1024) lets a gRPC
// client run a thousand calls at once on one connection.
func TestDownstreamMaxConcurrentStreams(t *testing.T) {
	release := make(chan struct{})
	be := slowGrpcBackend(t, release)
	p := startSluice(t, listenerConfig("", grpcRoute(""), staticCluster("grpc", "http2_protocol_options: { max_concurrent_streams: 2000 }", be),
		"http2_protocol_options: { max_concurrent_streams: 2 }"))
	c := dialRawH2(t, p.Addr("main"))
	for id := uint32(1); id <= 5; id += 2 {
		c.open(id, "POST", "/echo.Echo/Slow", true, "content-type", "application/grpc")
	}
	c.waitFor("the third stream refused", func() bool { _, ok := c.rst[5]; return ok })
	if code, _ := c.rstOf(5); code != http2.ErrCodeRefusedStream {
		t.Fatalf("third stream: %v", code)
	}
	if _, reset := c.rstOf(1); reset {
		t.Fatalf("the first stream was reset: %s", c)
	}
	close(release)
	c.waitFor("both calls answered", func() bool { return c.ended[1] && c.ended[3] })

	// The default: 1000 calls in flight at once on one connection.
	release2 := make(chan struct{})
	be2 := slowGrpcBackend(t, release2)
	p2 := startSluice(t, listenerConfig("", grpcRoute(""), staticCluster("grpc", "http2_protocol_options: { max_concurrent_streams: 2000 }", be2), ""))
	c2 := dialRawH2(t, p2.Addr("main"))
	const calls = 1000
	for i := range calls {
		c2.open(uint32(2*i+1), "POST", "/echo.Echo/Slow", true, "content-type", "application/grpc")
	}
	waitStat(t, p2, "http.ingress.downstream_rq_active", calls)
	close(release2)
	c2.waitFor("every call answered", func() bool { return len(c2.ended) == calls })
	if n := c2.resets(); n != 0 {
		t.Fatalf("%d streams reset", n)
	}
}
