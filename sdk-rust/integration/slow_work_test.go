package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every hook of every stream ran on the thread that created the filter
// (the module checks gettid() in each, on_scheduled included), while the
// work and the commits happened on the module's pool threads.
func TestSlowWorkKeepsThreadAffinity(t *testing.T) {
	be := newBackend(t)
	p := startSluice(t, config(filter("slow", "slow_work", "slow_work", `{"threads": 2, "steps": 3, "work_us": 300}`), be.addr()))
	c := newClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := get(t, c, p.URL(fmt.Sprintf("/w/%d", i)))
			// new_filter, request headers, 3 x on_scheduled, response headers
			if r.status != 200 || r.header.Get("x-slow-work-affinity") != "ok" ||
				r.header.Get("x-slow-work-hooks") != "6" || r.header.Get("x-echo-x-slow-work-steps") != "3" {
				errs <- fmt.Errorf("request %d: %d affinity=%q hooks=%q steps=%q body=%q", i, r.status,
					r.header.Get("x-slow-work-affinity"), r.header.Get("x-slow-work-hooks"),
					r.header.Get("x-echo-x-slow-work-steps"), r.body)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// stream_complete (which counts) runs after the response was sent:
	// poll the admin endpoint, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for {
		stats := adminStats(t, p)
		done, _ := stat(stats, "module.slow.completed")
		if done == "64" {
			if v, ok := stat(stats, "module.slow.affinity_violations"); !ok || v != "0" {
				t.Fatalf("affinity_violations = %q (found %v) in /stats:\n%s", v, ok, stats)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("module.slow.completed = %q, want 64; /stats:\n%s", done, stats)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func adminStats(t *testing.T, p *proc) string {
	t.Helper()
	resp, err := http.Get(p.AdminURL("/stats"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// stat finds the value of "NAME: VALUE" in /stats output.
func stat(stats, name string) (string, bool) {
	for _, line := range strings.Split(stats, "\n") {
		n, value, ok := strings.Cut(line, ": ")
		if ok && n == name {
			return value, true
		}
	}
	return "", false
}

// The client gives up while the module's work is pending; the module
// commits only after its filter was destroyed. The proxy refuses those
// commits (and counts them) and keeps serving.
func TestSlowWorkCommitsAfterTheStreamEndedAreDropped(t *testing.T) {
	be := newBackend(t)
	// The stream ends when the proxy sees the client leave, or at the
	// latest at the (short) route timeout.
	yaml := strings.Replace(config(filter("slow", "slow_work", "slow_work", `{"steps": 3, "work_us": 0, "after_destroy": true}`), be.addr()),
		"timeout: 10s", "timeout: 1s", 1)
	p := startSluice(t, yaml)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.URL("/gone"), nil)
	if resp, err := newClient(t).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the request completed (%d) although the module never resumes it", resp.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		stats := adminStats(t, p)
		// ABI 2: once the filter is destroyed its scheduler handle is
		// stale, so every try of the first step is refused (the example
		// gives up after 1000) and nothing is ever queued.
		stale, _ := stat(stats, "module.scheduler_commits_rejected_stale")
		commits, _ := stat(stats, "module.scheduler_commits")
		if stale == "1000" && commits == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want 1000 commits refused as stale, none accepted; /stats:\n%s", stats)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := be.requests.Load(); n != 0 {
		t.Fatalf("backend saw %d requests", n)
	}
}
