package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestAccessLogSinkThatNeverDrainsDoesNotStallWorkers: the access log is a
// FIFO whose reader never reads. Once the pipe is full the log's writer is
// stuck, and every request must still be answered (before, every worker
// hung after ~300 requests while /ready said LIVE); the lines that did not
// fit are dropped and counted in access_log.dropped.
func TestAccessLogSinkThatNeverDrainsDoesNotStallWorkers(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "access.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A reader that never reads: opening it first lets sluice's open for
	// writing return; the pipe then fills and stays full.
	reader, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := startSluice(t, fmt.Sprintf(`concurrency: 2
log: { level: info, format: json }
admin: { address: 127.0.0.1:0 }
listeners:
- name: main
  address: 127.0.0.1:0
  filter_chains:
  - filters:
    - name: http_connection_manager
      config:
        stat_prefix: ingress
        access_log: [{ path: %q, format: json }]
        http_filters: [{ name: router }]
        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
            - match: { prefix: / }
              direct_response: { status: 200, body: { inline_string: "ok" } }
`, fifo))
	// Cleanups run last-in first-out: the reader closes before sluice is
	// stopped, so the stuck write fails (EPIPE) and shutdown is prompt.
	t.Cleanup(func() { reader.Close() })

	client := newClient(t)
	const requests = 3000 // each access-log line is ~400 bytes: ~1.2 MB against a 64 KiB pipe
	for i := 0; i < requests; i++ {
		resp, body := get(t, client, p.URL(fmt.Sprintf("/r/%d", i)), nil)
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if d := adminStat(t, p, "access_log.dropped"); d == 0 {
		t.Fatalf("access_log.dropped = 0 after %d requests into a full pipe", requests)
	}
	resp, body := get(t, client, p.AdminURL("/ready"), nil)
	if resp.StatusCode != 200 || body != "LIVE\n" {
		t.Fatalf("/ready: %d %q", resp.StatusCode, body)
	}
}
