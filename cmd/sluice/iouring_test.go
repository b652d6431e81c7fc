package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// ioUringSends is the io_uring_sends counter summed over the two workers.
func ioUringSends(t *testing.T, p *proc) int64 {
	t.Helper()
	return adminStat(t, p, "worker.0.io_uring_sends") + adminStat(t, p, "worker.1.io_uring_sends")
}

// load sends requests on several keep-alive connections at once, so that
// iterations have output for more than one connection to send.
func load(t *testing.T, p *proc, clients, requests int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t)
			for j := 0; j < requests; j++ {
				resp, err := c.Get(p.URL(fmt.Sprintf("/r%d", j)))
				if err != nil {
					errs <- err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != "from the route" {
					errs <- fmt.Errorf("%d %q", resp.StatusCode, body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// By default the workers batch their reads and sends through io_uring where the
// kernel allows it, and say which at start-up; io_uring: off keeps every
// send a sendmsg of its own. Either way the traffic is the same; a reload
// cannot change the setting and says so.
func TestIOUringSetting(t *testing.T) {
	cfg := listenerConfig("", directRoute, "", "")
	p := startSluice(t, cfg)
	line := p.WaitLog(`io_uring`)
	on := strings.Contains(line, `"workers batch their reads and sends through io_uring"`)
	if !on && !strings.Contains(line, `"io_uring unavailable: workers read and send with a system call per connection"`) {
		t.Fatalf("start-up line about io_uring: %s", line)
	}
	load(t, p, 8, 50)
	// How many sends share an iteration is up to the scheduler (the worker
	// tests batch deterministically); without a ring there are none.
	n := ioUringSends(t, p)
	t.Logf("io_uring in use: %v; io_uring_sends after 400 requests: %d", on, n)
	if !on && n != 0 {
		t.Fatalf("%d sends counted through a ring that is not there", n)
	}

	off := startSluice(t, strings.Replace(cfg, "concurrency: 2\n", "concurrency: 2\nio_uring: off\n", 1))
	load(t, off, 8, 50)
	if n := ioUringSends(t, off); n != 0 {
		t.Fatalf("io_uring: off, yet %d sends through io_uring", n)
	}
	if strings.Contains(off.Logs(), "io_uring") {
		t.Fatalf("io_uring: off, yet the logs mention it:\n%s", off.Logs())
	}

	replaceConfig(t, off, cfg)
	if code, body := postReload(t, off); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	off.WaitLog(`"reload: this setting takes effect at the next restart"`, `"field":"io_uring"`)
}
