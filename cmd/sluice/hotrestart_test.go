package main

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
)

// TestHotRestartTakesOverSockets: a second sluice started with --takeover
// serves on the first one's listening sockets (same address, nothing
// re-bound), the first drains and exits 0, and 20 busy keep-alive clients
// see no failed request across the handover. The new process serves the
// admin endpoint and takes over hot_restart.socket for the next upgrade.
func TestHotRestartTakesOverSockets(t *testing.T) {
	backend := namedBackend(t, "a")
	cfg := "hot_restart: { socket: \"%DIR%/hot-restart.sock\" }\n" +
		listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: { cluster: backend }
`, staticCluster("backend", "", backend), "")
	old := startSluice(t, cfg)
	addr := old.Addr("main")

	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 20, MaxConnsPerHost: 20}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	var failures, requests atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get("http://" + addr + "/")
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for requests.Load() < 200 {
		time.Sleep(5 * time.Millisecond) // let the load start
	}

	next, err := sluicetest.Relaunch(t, sluiceBin, old, "--takeover")
	if err != nil {
		t.Fatal(err)
	}
	if got := next.Addr("main"); got != addr {
		t.Fatalf("new process listens on %s, want the old address %s", got, addr)
	}
	old.WaitLog(`"msg":"hot restart: a new process took over; draining"`)
	if err := old.WaitExit(15 * time.Second); err != nil {
		t.Fatalf("old process exit: %v\n%s", err, old.Logs())
	}
	at := requests.Load()
	for requests.Load() < at+200 {
		time.Sleep(5 * time.Millisecond) // load served by the new process alone
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed across the handover; first: %v", n, requests.Load(), firstErr.Load())
	}
	if !strings.Contains(next.Logs(), `"msg":"taking over listening sockets","listener":"main","sockets":2`) {
		t.Fatalf("the new process did not inherit the sockets:\n%s", next.Logs())
	}
	if got := adminStat(t, next, "http.ingress.downstream_rq_total"); got == 0 {
		t.Fatal("the new process served nothing")
	}
	// The new process can itself be taken over: it serves the socket.
	out, err := exec.Command(sluiceBin, "run", "-c", old.Config).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "hot_restart.socket: "+strings.TrimSuffix(old.Config, "sluice.yaml")+"hot-restart.sock: another process serves it") {
		t.Fatalf("a third sluice without --takeover: %v\n%s", err, out)
	}
}

// TestHotRestartWithoutOldProcess: --takeover with nobody to take over
// from fails start-up naming the socket.
func TestHotRestartWithoutOldProcess(t *testing.T) {
	dir := t.TempDir()
	cfgPath := dir + "/sluice.yaml"
	writeConfig(t, cfgPath, "hot_restart: { socket: \""+dir+"/none.sock\" }\n"+listenerConfig("", directRoute, "", ""))
	out, err := exec.Command(sluiceBin, "run", "-c", cfgPath, "--takeover").CombinedOutput()
	want := cfgPath + ": hot_restart.socket: no sluice to take over at " + dir + "/none.sock: dial unix " + dir + "/none.sock: connect: no such file or directory"
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("err=%v\n%s\nwant %q", err, out, want)
	}
}
