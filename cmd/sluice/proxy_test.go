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
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echoBackend answers with what it received, counting connections.
type echoBackend struct {
	*httptest.Server
	conns atomic.Int64
}

func newEchoBackend(t *testing.T) *echoBackend {
	b := &echoBackend{}
	b.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("x-backend-path", r.URL.RequestURI())
		w.Header().Set("x-backend-host", r.Host)
		w.Header().Set("x-backend-body-sha", fmt.Sprintf("%x", sha256.Sum256(body)))
		w.Header().Set("x-backend-te", strings.Join(r.TransferEncoding, ","))
		for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Request-Id", "X-Added", "X-Removed", "Connection", "Keep-Alive", "Via", "X-Tenant", "X-Connection-Port",
			"X-Tls-Sni", "X-Tls-Alpn", "X-Tls-Version", "X-Tls-Peer-Subject", "X-Tls-Peer-Sans"} {
			if v := r.Header.Values(h); len(v) > 0 {
				w.Header().Set("x-echo-"+strings.ToLower(h), strings.Join(v, "|"))
			}
		}
		w.Header().Set("content-type", "text/plain")
		w.Write([]byte("path=" + r.URL.RequestURI() + " len=" + strconv.Itoa(len(body))))
	}))
	b.Server.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}
	b.Start()
	t.Cleanup(b.Close)
	return b
}

func backendAddr(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

func proxyTo(t *testing.T, be string, hcmExtra string) *proc {
	return proxyWithTimeout(t, be, "", hcmExtra)
}

// proxyWithTimeout is proxyTo with a route timeout ("" for the default).
func proxyWithTimeout(t *testing.T, be, timeout, hcmExtra string) *proc {
	action := "{ cluster: backend }"
	if timeout != "" {
		action = "{ cluster: backend, timeout: " + timeout + " }"
	}
	return startSluice(t, listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: `+action+`
`, staticCluster("backend", "", be), hcmExtra))
}

// hangingBackend accepts requests and never answers (until the test ends).
func hangingBackend(t *testing.T) string {
	release := make(chan struct{})
	be := scriptedBackend(t, func(c net.Conn, br *bufio.Reader) { <-release })
	t.Cleanup(func() { close(release) })
	return be
}

func TestDirectResponseDefaultConfig(t *testing.T) {
	p := startSluice(t, listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    direct_response: { status: 200, body: { inline_string: "hello from sluice\n" } }
`, "", ""))
	resp, err := newClient(t).Get(p.URL("/"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from sluice\n" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	lines := p.AccessLines(1)
	if len(lines) != 1 || lines[0]["status"] != float64(200) || lines[0]["details"] != "direct_response" || lines[0]["path"] != "/" {
		t.Fatalf("access log = %v", lines)
	}
	if lines[0]["conn_id"] == nil || lines[0]["stream_id"] == nil {
		t.Fatalf("access log lacks ids: %v", lines[0])
	}
}

func TestKeepAliveReusesConnections(t *testing.T) {
	be := newEchoBackend(t)
	p := proxyTo(t, backendAddr(be.Server), "")
	c, err := net.Dial("tcp", p.Addr("main"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := 0; i < 20; i++ {
		fmt.Fprintf(c, "GET /ka/%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("path=/ka/%d len=0", i); string(body) != want {
			t.Fatalf("request %d: body %q, want %q", i, body, want)
		}
		if resp.Close {
			t.Fatalf("request %d: proxy closed a keep-alive connection", i)
		}
	}
	// One downstream connection on one worker: one pooled upstream connection.
	if n := be.conns.Load(); n != 1 {
		t.Fatalf("backend saw %d connections for 20 sequential requests, want 1", n)
	}
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	be := newEchoBackend(t)
	p := proxyTo(t, backendAddr(be.Server), "")
	c, err := net.Dial("tcp", p.Addr("main"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var batch strings.Builder
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&batch, "GET /pipe/%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	batch.WriteString("POST /pipe/5 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	if _, err := io.WriteString(c, batch.String()); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i := 0; i < 6; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf("path=/pipe/%d len=0", i)
		if i == 5 {
			want = "path=/pipe/5 len=5"
		}
		if string(body) != want {
			t.Fatalf("response %d: %q, want %q", i, body, want)
		}
	}
}

func TestChunkedUploadAndDownload(t *testing.T) {
	// Backend streams a chunked response in pieces.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("x-got", fmt.Sprintf("%d %s", len(body), strings.Join(r.TransferEncoding, ",")))
		w.Header().Set("x-sha", fmt.Sprintf("%x", sha256.Sum256(body)))
		fl := w.(http.Flusher)
		for i := 0; i < 10; i++ {
			fmt.Fprintf(w, "chunk-%d;", i)
			fl.Flush()
		}
	}))
	t.Cleanup(down.Close)
	p := proxyTo(t, backendAddr(down), "")
	raw := "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
		"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"
	out := rawExchange(t, p.Addr("main"), raw)
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
	if err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	body, _ := io.ReadAll(resp.Body)
	if got := resp.Header.Get("x-got"); got != "11 chunked" {
		t.Fatalf("backend got %q, want 11 bytes chunked", got)
	}
	if want := fmt.Sprintf("%x", sha256.Sum256([]byte("hello world"))); resp.Header.Get("x-sha") != want {
		t.Fatalf("upload body corrupted")
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("download not chunked: %v", resp.TransferEncoding)
	}
	want := ""
	for i := 0; i < 10; i++ {
		want += fmt.Sprintf("chunk-%d;", i)
	}
	if string(body) != want {
		t.Fatalf("download %q", body)
	}
}

// rss returns the process's peak resident set size in KiB.
func peakRSS(t *testing.T, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// patternReader yields n deterministic bytes without holding them.
type patternReader struct{ n, off int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n-r.off {
		p = p[:r.n-r.off]
	}
	for i := range p {
		p[i] = byte((r.off + int64(i)) * 7)
	}
	r.off += int64(len(p))
	return len(p), nil
}

func TestLargeBodiesStreamWithBoundedMemory(t *testing.T) {
	const size = 256 << 20
	var upHash atomic.Value
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			h := sha256.New()
			n, _ := io.Copy(h, r.Body)
			upHash.Store(fmt.Sprintf("%d:%x", n, h.Sum(nil)))
			w.WriteHeader(204)
			return
		}
		w.Header().Set("content-length", strconv.Itoa(size))
		io.Copy(w, &patternReader{n: size})
	}))
	t.Cleanup(be.Close)
	p := proxyTo(t, backendAddr(be), "")
	client := newClient(t)

	// Download: a slow-ish reader must not make sluice buffer the body.
	resp, err := client.Get(p.URL("/big"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	want := sha256.New()
	io.Copy(want, &patternReader{n: size})
	if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatal("download corrupted")
	}

	// Upload of the same size, streamed.
	req, _ := http.NewRequest("POST", p.URL("/big"), &patternReader{n: size})
	req.ContentLength = size
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("upload status %d", resp.StatusCode)
	}
	if got, want := upHash.Load(), fmt.Sprintf("%d:%x", size, want.Sum(nil)); got != want {
		t.Fatalf("upload: backend got %v, want %v", got, want)
	}
	// 256 MiB went through each way; the proxy's peak memory must stay a
	// small fraction of that (buffers are bounded by watermarks).
	if kb := peakRSS(t, p.Cmd.Process.Pid); kb > 96<<10 {
		t.Fatalf("peak RSS %d KiB while streaming 256 MiB: buffering is not bounded", kb)
	}
}

func TestHeaderHandling(t *testing.T) {
	be := newEchoBackend(t)
	p := proxyTo(t, backendAddr(be.Server), `use_remote_address: true
via: "1.1 sluice"
`)
	req, _ := http.NewRequest("GET", p.URL("/h"), nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("Connection", "keep-alive, X-Drop")
	req.Header.Set("X-Drop", "secret")
	req.Header.Set("Keep-Alive", "timeout=5")
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("x-echo-x-forwarded-for"); got != "203.0.113.7, 127.0.0.1" {
		t.Errorf("x-forwarded-for = %q", got)
	}
	if got := resp.Header.Get("x-echo-x-forwarded-proto"); got != "http" {
		t.Errorf("x-forwarded-proto = %q", got)
	}
	if got := resp.Header.Get("x-echo-x-request-id"); len(got) != 36 || got[14] != '4' {
		t.Errorf("x-request-id = %q, want a generated UUIDv4", got)
	}
	if got := resp.Header.Get("x-echo-keep-alive"); got != "" {
		t.Errorf("hop-by-hop keep-alive forwarded: %q", got)
	}
	if got := resp.Header.Get("x-echo-via"); got != "1.1 sluice" {
		t.Errorf("request via = %q", got)
	}
	if got := resp.Header.Get("via"); got != "1.1 sluice" {
		t.Errorf("response via = %q", got)
	}
	// A request id from an internal client is kept.
	req, _ = http.NewRequest("GET", p.URL("/h"), nil)
	req.Header.Set("X-Request-Id", "keep-me")
	resp, err = newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("x-echo-x-request-id"); got != "keep-me" {
		t.Errorf("internal x-request-id = %q, want kept", got)
	}
}

func TestConcurrentClients(t *testing.T) {
	be := newEchoBackend(t)
	p := proxyTo(t, backendAddr(be.Server), "")
	client := newClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				path := fmt.Sprintf("/c/%d/%d", g, i)
				resp, err := client.Post(p.URL(path), "text/plain", strings.NewReader(path))
				if err != nil {
					errs <- err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := fmt.Sprintf("path=%s len=%d", path, len(path)); string(body) != want {
					errs <- fmt.Errorf("%s: %q", path, body)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestRequestTrailersReachBackend: a chunked upload with trailers goes
// through the router (which stops request headers, as the terminal filter)
// with its trailers intact.
func TestRequestTrailersReachBackend(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "body=%s trailer=%s", body, r.Trailer.Get("X-Checksum"))
	}))
	t.Cleanup(be.Close)
	p := proxyTo(t, backendAddr(be), "")
	out := rawExchange(t, p.Addr("main"), "POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\nConnection: close\r\n\r\n"+
		"5\r\nhello\r\n0\r\nX-Checksum: abc123\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
	if err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "body=hello trailer=abc123" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

// TestClientGoneEndsStoppedStream: when the client closes while its request
// waits (here on an upstream that never answers), the stream ends at once
// with DC, not at the route timeout.
func TestClientGoneEndsStoppedStream(t *testing.T) {
	p := proxyWithTimeout(t, hangingBackend(t), "60s", "")
	c, err := net.Dial("tcp", p.Addr("main"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
	// Wait until the proxy forwarded it, then hang up.
	waitStat(t, p, "cluster.backend.upstream_rq_total", 1)
	c.Close()
	l := p.AccessLines(1)
	if len(l) != 1 || l[0]["response_flags"] != "DC" {
		t.Fatalf("access log %v", l)
	}
}

// TestEveryConnectionNamedHeaderIsStripped: Connection may name any number
// of hop-by-hop headers, in one field or several; none reaches the
// backend (before, only the first 8 were removed).
func TestEveryConnectionNamedHeaderIsStripped(t *testing.T) {
	be := newHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var names []string
		for k := range r.Header {
			names = append(names, strings.ToLower(k))
		}
		sort.Strings(names)
		w.Header().Set("x-seen", strings.Join(names, ","))
	}))
	p := proxyTo(t, be, "")
	req, _ := http.NewRequest("GET", p.URL("/"), nil)
	var named []string
	for i := 1; i <= 12; i++ {
		h := fmt.Sprintf("X-Hop-%d", i)
		named = append(named, h)
		req.Header.Set(h, "secret")
	}
	req.Header.Set("X-End-To-End", "kept")
	req.Header["Connection"] = []string{strings.Join(named[:10], ", "), "keep-alive, " + strings.Join(named[10:], ",")}
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	seen := resp.Header.Get("x-seen")
	if strings.Contains(seen, "x-hop-") || strings.Contains(seen, "connection") {
		t.Fatalf("backend saw %s", seen)
	}
	if !strings.Contains(seen, "x-end-to-end") {
		t.Fatalf("an end-to-end header was stripped: %s", seen)
	}
}

// TestPaddedForwardedForCannotForgeATrustedHop: with
// xff_num_trusted_hops: 1 the client is the rightmost x-forwarded-for
// entry. A client padding the header past 256 bytes with internal
// addresses must still be judged by that entry (external here), so its
// x-request-id is replaced; before, the walk saw only a truncated copy and
// trusted the padding.
func TestPaddedForwardedForCannotForgeATrustedHop(t *testing.T) {
	be := newEchoBackend(t)
	p := proxyTo(t, backendAddr(be.Server), `use_remote_address: true
xff_num_trusted_hops: 1
`)
	for _, tc := range []struct {
		xff  string
		kept bool
	}{
		{"203.0.113.7", false}, // external client: id replaced
		{"10.1.2.3", true},     // internal client: id kept
		// The first 256 bytes end with an internal address; the real
		// client (external) comes after them.
		{"10.0.0.1," + strings.Repeat(" ", 239) + "10.0.0.2, 203.0.113.7", false},
	} {
		req, _ := http.NewRequest("GET", p.URL("/h"), nil)
		req.Header.Set("X-Forwarded-For", tc.xff)
		req.Header.Set("X-Request-Id", "client-chosen")
		resp, err := newClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("x-echo-x-request-id")
		if kept := got == "client-chosen"; kept != tc.kept {
			t.Errorf("xff of %d bytes ending %q: x-request-id %q (kept %v, want %v)",
				len(tc.xff), tc.xff[max(0, len(tc.xff)-12):], got, kept, tc.kept)
		}
	}
}
