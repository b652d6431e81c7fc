package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// gRPC over sluice: downstream h2c prior knowledge, upstream HTTP/2 through
// http2_protocol_options. The backend is a minimal gRPC server built from
// net/http and x/net/http2: application/grpc, 5-byte length-prefixed
// messages, grpc-status / grpc-message in trailers (or, for an error
// without a body, in a trailers-only HEADERS frame, as grpc-go sends it).

func grpcFrame(msg string) []byte {
	b := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:5], uint32(len(msg)))
	copy(b[5:], msg)
	return b
}

// readGrpcMessage reads one length-prefixed message; io.EOF at a clean end.
func readGrpcMessage(r io.Reader) (string, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", err
	}
	if hdr[0] != 0 {
		return "", errors.New("compressed message not expected")
	}
	msg := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
	if _, err := io.ReadFull(r, msg); err != nil {
		return "", fmt.Errorf("truncated message: %w", err)
	}
	return string(msg), nil
}

func newGrpcBackend(t *testing.T, conns *atomic.Int32) string {
	t.Helper()
	h := func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 || r.Header.Get("Content-Type") != "application/grpc" || r.Header.Get("Te") != "trailers" {
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Grpc-Status", "3")
			w.Header().Set("Grpc-Message", fmt.Sprintf("want HTTP/2 gRPC with te: trailers, got %s %q te=%q",
				r.Proto, r.Header.Get("Content-Type"), r.Header.Get("Te")))
			w.WriteHeader(200)
			return
		}
		w.Header().Set("Content-Type", "application/grpc")
		switch r.URL.Path {
		case "/echo.Echo/Unary":
			msg, err := readGrpcMessage(r.Body)
			if err != nil {
				w.Header().Set(http.TrailerPrefix+"Grpc-Status", "13")
				w.Header().Set(http.TrailerPrefix+"Grpc-Message", err.Error())
				return
			}
			w.Write(grpcFrame("hello " + msg))
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
			w.Header().Set(http.TrailerPrefix+"Echo-Trailer", "unary")
		case "/echo.Echo/Bidi":
			// Headers first, then one echo per message as it arrives:
			// the client waits for each echo before sending the next.
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			n := 0
			for {
				msg, err := readGrpcMessage(r.Body)
				if err == io.EOF {
					break
				}
				if err != nil {
					w.Header().Set(http.TrailerPrefix+"Grpc-Status", "13")
					return
				}
				n++
				w.Write(grpcFrame("echo " + msg))
				w.(http.Flusher).Flush()
			}
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
			w.Header().Set(http.TrailerPrefix+"Echo-Count", fmt.Sprint(n))
		case "/echo.Echo/Lookup":
			// A failure after the headers went out: the status is a trailer.
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "5")
			w.Header().Set(http.TrailerPrefix+"Grpc-Message", "key not found")
		default:
			// Trailers-only response: one HEADERS frame with END_STREAM.
			w.Header().Set("Grpc-Status", "12")
			w.Header().Set("Grpc-Message", "unknown method "+r.URL.Path)
			w.WriteHeader(200)
		}
	}
	srv := httptest.NewUnstartedServer(h2c.NewHandler(http.HandlerFunc(h), &http2.Server{}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return backendAddr(srv)
}

// grpcProxy starts the backend, then sluice in front of it (in that
// order, so sluice's cleanup closes the upstream connections first).
func grpcProxy(t *testing.T) *proc {
	p, _ := grpcProxyCounting(t)
	return p
}

// grpcProxyCounting also counts the upstream connections sluice opened.
func grpcProxyCounting(t *testing.T) (*proc, *atomic.Int32) {
	conns := &atomic.Int32{}
	be := newGrpcBackend(t, conns)
	return startSluice(t, listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: { cluster: grpc }
`, staticCluster("grpc", "http2_protocol_options: { max_concurrent_streams: 50 }", be), "")), conns
}

func grpcRequest(t *testing.T, p *proc, method string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", p.URL("/echo.Echo/"+method), body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	return req
}

func TestGRPCUnaryThroughProxy(t *testing.T) {
	p := grpcProxy(t)
	c := h2cClient(t)
	for i := range 3 {
		resp, err := c.Do(grpcRequest(t, p, "Unary", strings.NewReader(string(grpcFrame(fmt.Sprint("world ", i))))))
		if err != nil {
			t.Fatal(err)
		}
		msg, err := readGrpcMessage(resp.Body)
		if err != nil || msg != fmt.Sprint("hello world ", i) {
			t.Fatalf("message %q %v (status %s, grpc-message %q)", msg, err, resp.Status, resp.Header.Get("Grpc-Message"))
		}
		if _, err := readGrpcMessage(resp.Body); err != io.EOF {
			t.Fatalf("after the only message: %v", err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.Header.Get("Content-Type") != "application/grpc" {
			t.Fatalf("proto %d headers %v", resp.ProtoMajor, resp.Header)
		}
		if got := resp.Trailer.Get("Grpc-Status"); got != "0" || resp.Trailer.Get("Echo-Trailer") != "unary" {
			t.Fatalf("trailers %v", resp.Trailer)
		}
	}
}

// Bidirectional streaming: each message is echoed, and the echo reaches
// the client, before the client sends the next one or half-closes, so
// neither direction is buffered by the proxy.
func TestGRPCBidiStreamingThroughProxy(t *testing.T) {
	p := grpcProxy(t)
	c := h2cClient(t)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	resp, err := c.Do(grpcRequest(t, p, "Bidi", pr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != "" {
		t.Fatalf("status %s headers %v", resp.Status, resp.Header)
	}
	const n = 5
	for i := range n {
		msg := fmt.Sprintf("m%d-%s", i, strings.Repeat("x", i*3000))
		if _, err := pw.Write(grpcFrame(msg)); err != nil {
			t.Fatal(err)
		}
		got, err := readGrpcMessage(resp.Body)
		if err != nil || got != "echo "+msg {
			t.Fatalf("echo %d: %.40q %v", i, got, err)
		}
	}
	pw.Close() // half-close: the server ends the call
	if _, err := readGrpcMessage(resp.Body); err != io.EOF {
		t.Fatalf("after half-close: %v", err)
	}
	if resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("Echo-Count") != fmt.Sprint(n) {
		t.Fatalf("trailers %v", resp.Trailer)
	}
}

// A failing call: grpc-status 5 arrives as a trailer after the headers;
// an unknown method gets a trailers-only response (status 12 in the only
// HEADERS frame). Both reach the client unchanged.
func TestGRPCErrorStatusReachesClient(t *testing.T) {
	p := grpcProxy(t)
	c := h2cClient(t)
	resp, err := c.Do(grpcRequest(t, p, "Lookup", strings.NewReader(string(grpcFrame("k")))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readGrpcMessage(resp.Body); err != io.EOF {
		t.Fatalf("body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Trailer.Get("Grpc-Status") != "5" || resp.Trailer.Get("Grpc-Message") != "key not found" {
		t.Fatalf("status %s trailers %v", resp.Status, resp.Trailer)
	}

	resp, err = c.Do(grpcRequest(t, p, "Nope", strings.NewReader(string(grpcFrame("k")))))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != "12" || resp.Header.Get("Grpc-Message") != "unknown method /echo.Echo/Nope" {
		t.Fatalf("status %s headers %v", resp.Status, resp.Header)
	}
}

// Concurrent calls share the upstream: at most one HTTP/2 connection per
// sluice worker (concurrency 2), each carrying many streams.
func TestGRPCConcurrentCallsMultiplexUpstream(t *testing.T) {
	p, conns := grpcProxyCounting(t)
	c := h2cClient(t)
	const calls = 40
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Do(grpcRequest(t, p, "Unary", strings.NewReader(string(grpcFrame(fmt.Sprint(i))))))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			msg, err := readGrpcMessage(resp.Body)
			io.Copy(io.Discard, resp.Body)
			if err != nil || msg != fmt.Sprint("hello ", i) || resp.Trailer.Get("Grpc-Status") != "0" {
				errs <- fmt.Errorf("call %d: %q %v trailers %v", i, msg, err, resp.Trailer)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := conns.Load(); n < 1 || n > 2 {
		t.Fatalf("%d upstream connections for %d calls; want one per worker at most", n, calls)
	}
}

// Large streaming messages cross both flow-controlled hops (downstream and
// upstream HTTP/2 windows) in both directions, each echoed before the next
// is sent.
func TestGRPCLargeStreamingMessages(t *testing.T) {
	p := grpcProxy(t)
	c := h2cClient(t)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	resp, err := c.Do(grpcRequest(t, p, "Bidi", pr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for i := range 6 {
		msg := strings.Repeat(string(rune('a'+i)), 700<<10)
		errc := make(chan error, 1)
		go func() { // the pipe blocks until the transport took every byte
			_, err := pw.Write(grpcFrame(msg))
			errc <- err
		}()
		got, err := readGrpcMessage(resp.Body)
		if err != nil || got != "echo "+msg {
			t.Fatalf("message %d: %d bytes, %v", i, len(got), err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	pw.Close()
	if _, err := readGrpcMessage(resp.Body); err != io.EOF {
		t.Fatalf("after half-close: %v", err)
	}
	if resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("Echo-Count") != "6" {
		t.Fatalf("trailers %v", resp.Trailer)
	}
}
