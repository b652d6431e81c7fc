package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

// freePort reserves a loopback port and releases it for the caller.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestProcessLogThatNeverDrainsDoesNotStallWorkers: sluice's stderr is a
// pipe nobody reads, with debug logging (a line per connection, written on
// the workers). Requests keep being answered; the log entries that did not
// fit are dropped and counted in log.dropped.
func TestProcessLogThatNeverDrainsDoesNotStallWorkers(t *testing.T) {
	addr, admin := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "sluice.yaml")
	os.WriteFile(cfg, []byte(strings.NewReplacer("127.0.0.1:0", addr, "ADMIN", admin).Replace(`concurrency: 2
log: { level: debug, format: json }
admin: { address: ADMIN }
listeners:
- name: main
  address: 127.0.0.1:0
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
            - match: { prefix: / }
              direct_response: { status: 200, body: { inline_string: "ok" } }
`)), 0o644)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sluiceBin, "run", "-c", cfg)
	cmd.Stderr = w // never read
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		r.Close() // the stuck log write fails, so the process can exit
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := client.Get("http://" + admin + "/ready"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sluice did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A new connection per request: each writes debug lines on a worker,
	// ~800 KB in all against a 256 KiB buffer and a 64 KiB pipe.
	for i := 0; i < 8000; i++ {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp.Body.Close()
	}
	resp, err := client.Get("http://" + admin + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	stats, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, l := range strings.Split(string(stats), "\n") {
		if v, ok := strings.CutPrefix(l, "log.dropped: "); ok {
			if v == "0" {
				t.Fatal("log.dropped = 0 with a stderr nobody reads")
			}
			return
		}
	}
	t.Fatalf("no log.dropped in /stats:\n%s", stats)
}

// sluice validate checks that an access log could be opened without
// creating it, and refuses one that could not, with the error sluice run
// gives.
func TestValidateCreatesNoAccessLog(t *testing.T) {
	dir := t.TempDir()
	config := func(logPath string) string {
		cfg := filepath.Join(dir, "sluice.yaml")
		writeConfig(t, cfg, strings.ReplaceAll(listenerConfig("", directRoute, "", ""), "%ACCESS_LOG%", logPath))
		return cfg
	}
	log := filepath.Join(dir, "access.log")
	cfg := config(log)
	if out, err := exec.Command(sluiceBin, "validate", "-c", cfg).CombinedOutput(); err != nil || string(out) != cfg+": ok\n" {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Fatalf("validate created the access log (stat: %v)", err)
	}
	missing := filepath.Join(dir, "no-such-dir", "access.log")
	cfg = config(missing)
	want := cfg + ": listeners[0].filter_chains[0].filters[0].config.access_log[0].path: open " + missing + ": no such file or directory\n"
	out, err := exec.Command(sluiceBin, "validate", "-c", cfg).CombinedOutput()
	if err == nil || string(out) != want {
		t.Fatalf("validate with the log's directory missing: %v\n%s\nwant %s", err, out, want)
	}
}
