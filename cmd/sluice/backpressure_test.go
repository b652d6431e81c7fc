package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// currentRSS is the process's resident set size in KiB.
func currentRSS(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// dialSmallWindow connects with a tiny receive buffer, so a client that
// does not read pushes back on sluice after a few KiB.
func dialSmallWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pipelineWithoutReading writes pipelined GETs for d and never reads a byte
// of the answers. Writes that block (sluice stopped reading: the goal) just
// time out and are retried until d has passed.
func pipelineWithoutReading(c net.Conn, path string, d time.Duration) (written int64) {
	batch := bytes.Repeat([]byte("GET "+path+" HTTP/1.1\r\nhost: x\r\n\r\n"), 512)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Write(batch)
		written += int64(n)
		if err != nil && !os.IsTimeout(err) {
			return written
		}
	}
	return written
}

// TestPipeliningClientThatNeverReadsIsBounded: a client pipelines GETs for
// an 8 KiB body on a socket it never reads. sluice must stop taking
// requests while the connection's output is above its high watermark
// (per_connection_buffer_limit_bytes), so its memory stays bounded however
// long the client goes on; before, every pipelined request added a response
// to memory (1.2 GB in 30 s). Both a direct response (answered inside the
// parse loop) and a proxied one (answered from an upstream callback) are
// covered.
func TestPipeliningClientThatNeverReadsIsBounded(t *testing.T) {
	body := strings.Repeat("x", 8<<10)
	be := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
	backend := newHTTPBackend(t, be)
	const limit = 64 << 10
	for _, path := range []string{"/direct", "/proxied"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			p := startSluice(t, fmt.Sprintf(`concurrency: 1
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
        http_filters: [{ name: router }]
        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
            - match: { path: /direct }
              direct_response: { status: 200, body: { inline_string: %q } }
            - match: { prefix: / }
              route: { cluster: backend }
clusters:
%s`, limit, body, staticCluster("backend", "", backend)))
			pid := p.Cmd.Process.Pid
			before := currentRSS(t, pid)
			c := dialSmallWindow(t, p.Addr("main"))
			// RSS over time for bench/RESULTS.md (go test -v; a longer run
			// with SLUICE_PIPELINE_SECONDS=10).
			stop := make(chan struct{})
			sampled := make(chan []int)
			go func() {
				var kb []int
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				for {
					select {
					case <-tick.C:
						kb = append(kb, currentRSS(t, pid))
					case <-stop:
						sampled <- kb
						return
					}
				}
			}()
			written := pipelineWithoutReading(c, path, pipelineDuration())
			close(stop)
			t.Logf("RSS KiB: start %d, each second %v; %d bytes of requests written", before, <-sampled, written)

			// The worker holds at most the high watermark plus the one
			// response that crossed it.
			buffered := adminStat(t, p, "worker.0.tx_bytes_buffered")
			if max := int64(limit + len(body) + 1024); buffered > max {
				t.Errorf("%d bytes of output buffered for a client that does not read; bound %d", buffered, max)
			}
			if grown := currentRSS(t, pid) - before; grown > 24<<10 {
				t.Errorf("RSS grew by %d KiB while a client pipelined %d bytes of requests without reading", grown, written)
			}
			// The worker is not stuck: another client is served meanwhile.
			resp, got := get(t, newClient(t), p.URL(path), nil)
			if resp.StatusCode != 200 || got != body {
				t.Fatalf("second client: %d, %d bytes", resp.StatusCode, len(got))
			}
			// Reading now delivers complete, in-order responses: the
			// connection was paused, not broken.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			head := make([]byte, 17)
			if _, err := io.ReadFull(c, head); err != nil || string(head) != "HTTP/1.1 200 OK\r\n" {
				t.Fatalf("first response after resuming: %q, %v", head, err)
			}
		})
	}
}

// pipelineDuration is how long the non-reading client goes on: 3 s, or
// SLUICE_PIPELINE_SECONDS for a longer measurement.
func pipelineDuration() time.Duration {
	if n, err := strconv.Atoi(os.Getenv("SLUICE_PIPELINE_SECONDS")); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 3 * time.Second
}

// newHTTPBackend serves h on a loopback port for the test's lifetime.
func newHTTPBackend(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
