package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// earlyReply is the 80 KB gRPC message an upstream sends (with
// grpc-status 7 in trailers) before it has read the request: an early
// PERMISSION_DENIED with a large body.
var earlyReply = grpcFrame(strings.Repeat("d", 80<<10-5))

// earlyBackend answers every call with earlyReply after reading only the
// first 5 bytes of the request body.
func earlyBackend(t *testing.T) string {
	h := func(w http.ResponseWriter, r *http.Request) {
		var hdr [5]byte
		io.ReadFull(r.Body, hdr[:])
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		w.WriteHeader(200)
		w.Write(earlyReply)
		w.Header().Set("Grpc-Status", "7")
		w.Header().Set("Grpc-Message", "early denial")
	}
	srv := httptest.NewUnstartedServer(h2c.NewHandler(http.HandlerFunc(h), &http2.Server{}))
	srv.Start()
	t.Cleanup(srv.Close)
	return backendAddr(srv)
}

func earlyProxy(t *testing.T, be string) *proc {
	return startSluice(t, listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: { cluster: grpc }
`, staticCluster("grpc", "http2_protocol_options: {}", be), ""))
}

// An upstream answers (80 KB + trailers) while the client is still
// uploading, and the client holds HTTP/2's initial 64 KiB windows: it
// uploads 12.5 MB before it opens its window. Every response byte and the
// trailers must arrive (RFC 9113 8.1 allows the reset that stops the
// upload only after the complete response), the access log must count the
// bytes delivered, and a client that gives up instead is logged as a
// truncated response.
func TestEarlyResponseIsDeliveredWholeBeforeUploadStops(t *testing.T) {
	p := earlyProxy(t, earlyBackend(t))
	const upload = 12_500_000
	c := dialRawH2(t, p.Addr("main"))
	c.open(1, "POST", "/echo.Echo/Upload", false, "content-type", "application/grpc", "te", "trailers")
	sent := c.upload(1, upload, false, func() bool { _, reset := c.rst[1]; return reset })
	if sent != upload {
		t.Fatalf("the upload was cut after %d bytes (%s); got %d response bytes", sent, c, len(c.bodyOf(1)))
	}
	if got := len(c.bodyOf(1)); got != 65535 {
		t.Fatalf("%d response bytes before the window opened, want 65535", got)
	}
	c.grant(1, 1<<20)
	c.waitFor("the trailers", func() bool { return c.ended[1] })
	if got := c.bodyOf(1); !bytes.Equal(got, earlyReply) {
		t.Fatalf("response body %d bytes, want %d", len(got), len(earlyReply))
	}
	heads := c.headsOf(1)
	if len(heads) != 2 || heads[0][":status"] != "200" || heads[1]["grpc-status"] != "7" || heads[1]["grpc-message"] != "early denial" {
		t.Fatalf("headers and trailers %v", heads)
	}
	// Only now may sluice stop the rest of the upload.
	c.waitFor("RST_STREAM(NO_ERROR)", func() bool { _, ok := c.rst[1]; return ok })
	if code, _ := c.rstOf(1); code != http2.ErrCodeNo {
		t.Fatalf("RST_STREAM %v", code)
	}
	rec := p.AccessLines(1)[0]
	if rec["status"] != float64(200) || rec["response_flags"] != "-" || rec["bytes_sent"] != float64(len(earlyReply)) {
		t.Fatalf("access log %v", rec)
	}

	// A client that resets instead of opening its window got 65535 bytes:
	// that is what is logged, flagged TR, and counted.
	c2 := dialRawH2(t, p.Addr("main"))
	c2.open(1, "POST", "/echo.Echo/Upload", false, "content-type", "application/grpc", "te", "trailers")
	c2.upload(1, 1<<20, false, func() bool { return false })
	c2.waitFor("the first window of response", func() bool { return c2.body[1] != nil && c2.body[1].Len() == 65535 })
	// Reset only once sluice has the whole response (its upstream
	// exchange completed): what is lost is then sluice's to report.
	waitStat(t, p, "cluster.grpc.upstream_rq_completed", 2)
	c2.reset(1, http2.ErrCodeCancel)
	lines := p.AccessLines(2)
	if len(lines) != 2 {
		t.Fatalf("access log %v", lines)
	}
	rec = lines[1]
	if rec["response_flags"] != "TR" || rec["bytes_sent"] != float64(65535) {
		t.Fatalf("truncated response logged as %v", rec)
	}
	_, stats := get(t, newClient(t), p.AdminURL("/stats"), nil)
	if !strings.Contains(stats, "http.ingress.downstream_rq_response_truncated: 1\n") ||
		!strings.Contains(stats, fmt.Sprintf("http.ingress.downstream_rq_tx_body_bytes: %d\n", len(earlyReply)+65535)) {
		t.Fatalf("stats:\n%s", stats)
	}
}

// The same early answer over HTTP/1.1: the client sends a 12.5 MB body
// and reads the response only after it sent everything. The response
// (connection: close, since the rest of the body is large) must arrive
// whole: sluice keeps reading and dropping the upload until its response
// is out, instead of closing a socket with unread input (which resets the
// connection and destroys the response in flight).
func TestEarlyResponseOverHTTP1IsDeliveredWhole(t *testing.T) {
	body := strings.Repeat("e", 80<<10)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		io.WriteString(w, body)
	}))
	t.Cleanup(be.Close)
	p := proxyTo(t, backendAddr(be), "")
	conn, err := net.Dial("tcp", p.Addr("main"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const upload = 12_500_000
	fmt.Fprintf(conn, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", upload)
	chunk := make([]byte, 64<<10)
	written := 0
	for written < upload {
		n, err := conn.Write(chunk[:min(len(chunk), upload-written)])
		written += n
		if err != nil {
			break // the proxy may stop reading once its response is out
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("after uploading %d bytes: %v", written, err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 413 || string(got) != body {
		t.Fatalf("status %d, %d of %d body bytes, %v", resp.StatusCode, len(got), len(body), err)
	}
	rec := p.AccessLines(1)[0]
	if rec["status"] != float64(413) || rec["bytes_sent"] != float64(len(body)) {
		t.Fatalf("access log %v", rec)
	}
}
