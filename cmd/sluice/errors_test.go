package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/http1/http1test"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
)

// TestSmugglingCases sends every malformed or ambiguous request of the
// codec's table to the real proxy: each is answered with its exact status,
// the connection is closed, the access log names the exact reason, and
// nothing reaches the backend.
func TestSmugglingCases(t *testing.T) {
	var hits sync.Map
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hits.Store(r.Header.Get("x-case"), true)
		w.Write([]byte("ok"))
	}))
	t.Cleanup(be.Close)
	p := proxyTo(t, backendAddr(be), "")
	rejected := 0
	for _, c := range http1test.Smuggling {
		conn, err := net.DialTimeout("tcp", p.Addr("main"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, c.Raw)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Errorf("%s: no response: %v", c.Name, err)
			conn.Close()
			continue
		}
		io.ReadAll(resp.Body)
		if c.Accepted() {
			if resp.StatusCode != 200 {
				t.Errorf("%s: accepted case answered %d", c.Name, resp.StatusCode)
			}
			conn.Close()
			continue
		}
		rejected++
		if resp.StatusCode != c.Status {
			t.Errorf("%s: got %d, want status %d", c.Name, resp.StatusCode, c.Status)
		}
		if !resp.Close {
			t.Errorf("%s: no Connection: close on a rejected request", c.Name)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%s: connection still open after a rejected request (%v)", c.Name, err)
		}
		conn.Close()
	}
	// Every rejection is in the access log with its exact reason.
	lines := p.AccessLines(rejected)
	byReason := map[string]int{}
	for _, l := range lines {
		if d, ok := l["details"].(string); ok {
			byReason[d]++
		}
	}
	for _, c := range http1test.Smuggling {
		if !c.Accepted() && byReason[c.Reason] == 0 {
			t.Errorf("%s: access log has no line with details %q", c.Name, c.Reason)
		}
	}
}

func firstLine(s string) string {
	if i := strings.Index(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func TestUpstreamConnectFailure(t *testing.T) {
	// A port nothing listens on.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	p := proxyTo(t, dead, "")
	resp, err := newClient(t).Get(p.URL("/x"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || string(body) != "upstream connect error or disconnect/reset before headers. reset reason: connection failure" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	l := p.AccessLines(1)[0]
	if l["response_flags"] != "UF" || l["details"] != "upstream_reset_before_response_started{connection_failure}" {
		t.Fatalf("access log %v", l)
	}
}

// scriptedBackend accepts connections and answers each request with fn.
func scriptedBackend(t *testing.T, fn func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	return sluicetest.StartTCPBackend(t, func(c *net.TCPConn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		fn(c, br)
	}).Addr
}

func TestUpstreamFailuresMapToStatuses(t *testing.T) {
	cases := []struct {
		name    string
		script  func(c net.Conn, br *bufio.Reader)
		status  int
		flags   string
		details string
	}{
		{"closes_before_response", func(c net.Conn, br *bufio.Reader) {}, 503, "UC", "upstream_reset_before_response_started{connection_termination}"},
		{"malformed_response", func(c net.Conn, br *bufio.Reader) { io.WriteString(c, "HTTP/1.1 abc OK\r\n\r\n") }, 502, "UPE", "upstream_reset_before_response_started{protocol_error}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := proxyTo(t, scriptedBackend(t, tc.script), "")
			resp, err := newClient(t).Get(p.URL("/x"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			l := p.AccessLines(1)[0]
			if l["response_flags"] != tc.flags || l["details"] != tc.details {
				t.Fatalf("access log flags %v details %v", l["response_flags"], l["details"])
			}
		})
	}
}

func TestUpstreamResetMidResponse(t *testing.T) {
	be := scriptedBackend(t, func(c net.Conn, br *bufio.Reader) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
	})
	p := proxyTo(t, be, "")
	resp, err := newClient(t).Get(p.URL("/x"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || err == nil || string(body) != "partial" {
		t.Fatalf("got %d %q err=%v; want the partial body then a broken connection", resp.StatusCode, body, err)
	}
	l := p.AccessLines(1)[0]
	if l["response_flags"] != "UR" {
		t.Fatalf("flags %v", l["response_flags"])
	}
}

func TestRouteTimeoutAnswers504(t *testing.T) {
	p := proxyWithTimeout(t, hangingBackend(t), "200ms", "")
	resp, err := newClient(t).Get(p.URL("/slow"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 504 || string(body) != "upstream request timeout" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	l := p.AccessLines(1)[0]
	if l["response_flags"] != "UT" || l["details"] != "upstream_response_timeout" {
		t.Fatalf("access log %v", l)
	}
}

func TestIdleAndHeaderTimeouts(t *testing.T) {
	p := startSluice(t, listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    direct_response: { status: 200, body: { inline_string: "ok" } }
`, "", `idle_timeout: 300ms
request_headers_timeout: 300ms`))
	// An idle keep-alive connection is closed by the proxy.
	c, err := net.Dial("tcp", p.Addr("main"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF from the idle timeout", err)
	}
	// A request head that never completes gets 408.
	out := rawExchange(t, p.Addr("main"), "GET / HTTP/1.1\r\nHost: x\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 408 ") {
		t.Fatalf("incomplete head: got %q", firstLine(out))
	}
	// So does one trickled a byte at a time: the timeout counts from the
	// head's first byte, not from the last one.
	tc, err := net.Dial("tcp", p.Addr("main"))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		head := "GET / HTTP/1.1\r\nX-Slow: " + strings.Repeat("a", 200)
		for i := 0; i < len(head); i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := tc.Write([]byte{head[i]}); err != nil {
				return
			}
		}
	}()
	tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(tc)
	if !strings.HasPrefix(string(got), "HTTP/1.1 408 ") {
		t.Fatalf("trickled head: got %q", firstLine(string(got)))
	}
}

func TestDrainOnSIGTERM(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		w.Write([]byte("finished"))
	}))
	t.Cleanup(be.Close)
	p := proxyTo(t, backendAddr(be), "")
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := newClient(t).Get(p.URL("/inflight"))
		if err != nil {
			done <- result{err: err}
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode, body: string(body)}
	}()
	<-started
	p.Cmd.Process.Signal(syscall.SIGTERM)
	// Listeners close at once: new connections are refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.Addr("main"), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting 5s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	r := <-done
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request during drain: %+v", r)
	}
	if err := p.WaitExit(10 * time.Second); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.Logs())
	}
}

// TestSignalsReopenAndHangup: SIGUSR1 reopens access logs (rotation by
// rename), SIGHUP does not stop the proxy.
func TestSignalsReopenAndHangup(t *testing.T) {
	p := startSluice(t, listenerConfig("", directRoute, "", ""))
	c := newClient(t)
	get(t, c, p.URL("/one"), nil)
	p.AccessLines(1)
	rotated := p.AccessLog + ".1"
	if err := os.Rename(p.AccessLog, rotated); err != nil {
		t.Fatal(err)
	}
	p.Cmd.Process.Signal(syscall.SIGUSR1)
	p.Cmd.Process.Signal(syscall.SIGHUP)
	// Wait for the reopen to be logged, then write a new line.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Logs(), "access logs reopened") {
		if time.Now().After(deadline) {
			t.Fatalf("no reopen logged:\n%s", p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, _ := get(t, c, p.URL("/two"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("after SIGHUP: status %d", resp.StatusCode)
	}
	l := p.AccessLines(1)
	if len(l) != 1 || l[0]["path"] != "/two" {
		t.Fatalf("new access log = %v", l)
	}
	old, _ := os.ReadFile(rotated)
	if !strings.Contains(string(old), `"path":"/one"`) || strings.Contains(string(old), `"path":"/two"`) {
		t.Fatalf("rotated log = %s", old)
	}
}

// TestMalformedBodyAfterDirectResponseIsLogged: a direct response answers
// before the request body is read; the body then turns out malformed. The
// connection closes after the 200 (nothing after a framing error can be
// trusted), and that request's access-log line says why: DPE and the
// codec's reason, with downstream_cx_protocol_error counted.
func TestMalformedBodyAfterDirectResponseIsLogged(t *testing.T) {
	p := startSluice(t, listenerConfig("", directRoute, staticCluster("unused", "", "127.0.0.1:1"), ""))
	for i, tc := range []struct{ chunk, reason string }{
		{"0x3\r\nabc\r\n", "http1.invalid_chunk_size"},
		{"12345678901234567\r\n", "http1.invalid_chunk_size"},
		{"3\r\nabcXY", "http1.invalid_chunk_terminator"},
	} {
		conn, err := net.DialTimeout("tcp", p.Addr("main"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+tc.chunk)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", tc.chunk, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "from the route" {
			t.Fatalf("%q: %d %q", tc.chunk, resp.StatusCode, body)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("%q: connection still open after a malformed body (%v)", tc.chunk, err)
		}
		conn.Close()
		lines := p.AccessLines(i + 1)
		if len(lines) != i+1 {
			t.Fatalf("%d access-log lines, want %d", len(lines), i+1)
		}
		l := lines[i]
		if l["status"] != float64(200) || l["response_flags"] != "DPE" || l["details"] != "direct_response,"+tc.reason {
			t.Fatalf("%q: access log %v", tc.chunk, l)
		}
	}
	if n := adminStat(t, p, "http.ingress.downstream_cx_protocol_error"); n != 3 {
		t.Fatalf("downstream_cx_protocol_error = %d, want 3", n)
	}

	// A well-formed body read after the answer keeps the connection, and
	// its line is clean.
	conn, err := net.DialTimeout("tcp", p.Addr("main"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	for j := 0; j < 2; j++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("pipelined response %d: %v", j, err)
		}
		io.ReadAll(resp.Body)
	}
	lines := p.AccessLines(5)
	if l := lines[3]; l["response_flags"] != "-" || l["details"] != "direct_response" || l["method"] != "POST" {
		t.Fatalf("clean line: %v", l)
	}
}
