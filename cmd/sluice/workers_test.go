package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
)

// directConfig is a one-listener config answering every request directly,
// with extra top-level YAML and http filters.
func directConfig(top, filters string) string {
	return fmt.Sprintf(`%s
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
        http_filters:
%s
        - name: router
        route_config:
          virtual_hosts:
%s
`, top, indent(filters, 8), indent(directRoute, 10))
}

// TestConcurrencyFollowsTheCPUQuota: without a concurrency key, sluice runs
// as many workers as the Go runtime may use CPUs (GOMAXPROCS, which honours
// cgroup quotas), not one per host CPU; more than that is allowed but
// warned about.
func TestConcurrencyFollowsTheCPUQuota(t *testing.T) {
	p, err := sluicetest.LaunchEnv(t, sluiceBin, directConfig("", ""), []string{"GOMAXPROCS=1"})
	if err != nil {
		t.Fatal(err)
	}
	if n := adminStat(t, p, "server.concurrency"); n != 1 {
		t.Fatalf("server.concurrency = %d with GOMAXPROCS=1", n)
	}
	if strings.Contains(p.Logs(), "concurrency is above") {
		t.Fatalf("warned without cause:\n%s", p.Logs())
	}

	p, err = sluicetest.LaunchEnv(t, sluiceBin, directConfig("concurrency: 3", ""), []string{"GOMAXPROCS=1"})
	if err != nil {
		t.Fatal(err)
	}
	line := p.WaitLog(`"concurrency is above the CPUs this process may use`)
	if !strings.Contains(line, `"concurrency":3`) || !strings.Contains(line, `"gomaxprocs":1`) {
		t.Fatalf("warning lacks the figures: %s", line)
	}
	if n := adminStat(t, p, "server.concurrency"); n != 3 {
		t.Fatalf("server.concurrency = %d, configured 3", n)
	}
}

// TestWatchdogReportsAStuckWorker: a module hook that sleeps (the mistake
// the ABI warns against) keeps its worker in one callback. The watchdog
// counts the miss, /ready answers 503 naming the worker while it is stuck,
// and LIVE again once the hook returned.
func TestWatchdogReportsAStuckWorker(t *testing.T) {
	p := startSluice(t, directConfig(`concurrency: 1
watchdog: { miss_timeout: 50ms, megamiss_timeout: 100ms }`, moduleFilter(t, "block", "blocker", "blocker", "")))
	client := newClient(t)
	answered := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", p.URL("/"), nil)
		req.Header.Set("x-block-ms", "1500")
		resp, err := client.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()

	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := get(t, client, p.AdminURL("/ready"), nil)
		if resp.StatusCode == 503 {
			if !strings.HasPrefix(body, "UNHEALTHY: worker 0 stuck in one callback for ") {
				t.Fatalf("/ready while stuck: %q", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/ready never reported the stuck worker")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code := <-answered; code != 200 {
		t.Fatalf("the blocked request got %d", code)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		resp, body := get(t, client, p.AdminURL("/ready"), nil)
		if resp.StatusCode == 200 && body == "LIVE\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready after the hook returned: %d %q", resp.StatusCode, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := adminStat(t, p, "server.watchdog_mega_miss"); n != 1 {
		t.Fatalf("server.watchdog_mega_miss = %d, want 1", n)
	}
	if n := adminStat(t, p, "server.watchdog_miss"); n != 1 {
		t.Fatalf("server.watchdog_miss = %d, want 1", n)
	}
	p.WaitLog(`"worker stuck in one callback`, `"worker":0`)
}

// TestWatchdogKillTimeoutStopsTheProcess: past kill_timeout a stuck worker
// cannot be recovered in-process; sluice exits 1 with a clear log line so
// its supervisor restarts it.
func TestWatchdogKillTimeoutStopsTheProcess(t *testing.T) {
	p := startSluice(t, directConfig(`concurrency: 1
drain_timeout: 1s
watchdog: { miss_timeout: 50ms, megamiss_timeout: 100ms, kill_timeout: 300ms }`, moduleFilter(t, "block", "blocker", "blocker", "")))
	go func() {
		req, _ := http.NewRequest("GET", p.URL("/"), nil)
		req.Header.Set("x-block-ms", "20000")
		if resp, err := newClient(t).Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if err := p.WaitExit(20 * time.Second); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("exit: %v", err)
	}
	p.WaitLog(`"worker stuck past watchdog.kill_timeout; stopping sluice"`)
	p.WaitLog(`"stopping after a fatal worker failure"`, `worker 0 stuck in one callback for`)
}

// TestListenerAddressHeldByAnotherProcess: every worker's socket uses
// SO_REUSEPORT, which would let sluice join a port another process holds
// with SO_REUSEPORT and silently take part of its traffic. sluice refuses
// to start instead, naming the listener's YAML path.
func TestListenerAddressHeldByAnotherProcess(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		return serr
	}}
	other, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	addr := other.Addr().String()
	cfg := strings.Replace(directConfig("concurrency: 2", ""), "address: 127.0.0.1:0\n  filter_chains", "address: "+addr+"\n  filter_chains", 1)
	_, err = sluicetest.Launch(t, sluiceBin, cfg)
	want := fmt.Sprintf("sluice.yaml: listeners[0].address: %s already in use by another process\n", addr)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("start-up on a port held by another process: %v\nwant %q", err, want)
	}

	// The same for a second sluice on the first one's port.
	other.Close()
	first := startSluice(t, cfg)
	_, err = sluicetest.Launch(t, sluiceBin, cfg)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second sluice on the same port: %v", err)
	}
	if resp, body := get(t, newClient(t), first.URL("/"), nil); resp.StatusCode != 200 || body != "from the route" {
		t.Fatalf("first sluice: %d %q", resp.StatusCode, body)
	}
}
