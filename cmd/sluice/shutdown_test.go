package main

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A module that never deletes its schedulers and commits through them from
// a thread of its own for the life of the process: sluice keeps at most
// 4096 schedulers of ended streams per worker and reclaims the oldest past
// that (counted, logged once), refuses the commits through the stale
// handles, delivers those of a stream still running while the process
// drains, and exits cleanly (status 0) with the thread still committing.
func TestModuleThreadCommitsThroughDrainAndExit(t *testing.T) {
	be := newHeldUploads(t)
	p := startSluice(t, listenerConfig(moduleFilter(t, "leak", "sched_leak", "sched_leak", "32"), `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: { cluster: backend, timeout: 60s }
`, staticCluster("backend", "", be.addr), ""))
	const quick, perStream, perWorker = 300, 32, 4096
	c := newClient(t)
	for i := 0; i < quick; i++ {
		if resp, body := get(t, c, p.URL("/quick"), nil); resp.StatusCode != 200 || body != "done" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	// Every stream has ended: each scheduler is either kept (at most
	// perWorker per worker) or was reclaimed as leaked.
	var leaked, kept int64
	deadline := time.Now().Add(20 * time.Second) // the last stream's destroy may follow its answer
	for {
		leaked, kept = adminStat(t, p, "module.schedulers_leaked"), adminStat(t, p, "module.schedulers_live")
		if leaked+kept == quick*perStream || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if leaked+kept != quick*perStream || kept > 2*perWorker || leaked < quick*perStream-2*perWorker {
		t.Fatalf("schedulers_leaked %d + schedulers_live %d, want %d with at most %d kept", leaked, kept, quick*perStream, 2*perWorker)
	}
	p.WaitStat(t, "module.scheduler_commits_rejected_stale", func(v int64) bool { return v > 0 })
	p.WaitLog("module leaks schedulers")

	// One stream stays open (its upstream holds the answer) while sluice
	// drains: the thread's commits through its schedulers are delivered.
	answer := make(chan string, 1)
	go func() {
		resp, err := newClient(t).Post(p.URL("/held"), "text/plain", strings.NewReader("x"))
		if err != nil {
			answer <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer <- resp.Status + " " + string(b)
	}()
	recvWithin(t, be.uploaded, "the held request at the backend")
	p.Cmd.Process.Signal(syscall.SIGTERM)
	p.WaitLog(`"msg":"draining"`)
	delivered := adminStat(t, p, "module.scheduler_commits")
	p.WaitStat(t, "module.scheduler_commits", func(v int64) bool { return v > delivered })
	if v := adminStat(t, p, "module.schedulers_live"); v != kept+perStream {
		t.Fatalf("module.schedulers_live = %d during the drain, want %d (the open stream's %d more)", v, kept+perStream, perStream)
	}

	be.release()
	if got := recvWithin(t, answer, "the held request's answer"); got != "200 OK done" {
		t.Fatalf("the request in flight during the drain: %s", got)
	}
	if err := p.WaitExit(15 * time.Second); err != nil {
		t.Fatalf("exit with the module thread committing: %v\n%s", err, p.Logs())
	}
	if logs := p.Logs(); strings.Count(logs, "module leaks schedulers") != 1 ||
		strings.Contains(logs, "panic") || strings.Contains(logs, "SIGSEGV") {
		t.Fatalf("logs:\n%s", logs)
	}
}

// A hook that blocks is not contained: it holds its worker, and a drain
// that begins meanwhile waits for it. The watchdog has reported the stuck
// worker; once the hook returns, the request in it is answered and the
// process exits normally.
func TestBlockingHookHoldsTheDrain(t *testing.T) {
	p := startSluice(t, directConfig(`concurrency: 1
watchdog: { miss_timeout: 50ms, megamiss_timeout: 100ms }`, moduleFilter(t, "block", "blocker", "blocker", "")))
	answered := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("GET", p.URL("/"), nil)
		req.Header.Set("x-block-ms", "1500")
		resp, err := newClient(t).Do(req)
		if err != nil {
			answered <- err.Error()
			return
		}
		resp.Body.Close()
		answered <- resp.Status
	}()
	p.WaitStat(t, "server.watchdog_mega_miss", func(v int64) bool { return v == 1 })
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if got := recvWithin(t, answered, "the blocked request's answer"); got != "200 OK" {
		t.Fatalf("the request inside the blocking hook: %s", got)
	}
	if err := p.WaitExit(15 * time.Second); err != nil {
		t.Fatalf("exit after the hook returned: %v", err)
	}
	p.WaitLog(`"worker stuck in one callback`, `"worker":0`)
	p.WaitLog(`"msg":"draining"`)
}
