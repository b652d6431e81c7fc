package server

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReloadInProcess reloads a running server 10 times while clients
// keep requests going (under the race detector with `go test -race`):
// each reload swaps the route's answer, keeps the listener's socket (its
// address stays), and the replaced generations are all released.
func TestReloadInProcess(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.yaml")
	write := func(body string) {
		if err := os.WriteFile(path+".new", []byte(strings.Replace(twoWorkers, `"ok"`, `"`+body+`"`, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	write("r0")
	s := startServer(t, strings.Replace(twoWorkers, `"ok"`, `"r0"`, 1))
	addr, _ := s.ListenerAddr("main")
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: waitLimit}
	var failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get("http://" + addr.String() + "/")
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	for r := 1; r <= 10; r++ {
		write(fmt.Sprintf("r%d", r))
		if err := s.Reload(path); err != nil {
			t.Fatalf("reload %d: %v", r, err)
		}
		if got, _ := s.ListenerAddr("main"); got != addr {
			t.Fatalf("reload %d moved the listener from %s to %s", r, addr, got)
		}
	}
	close(stop)
	wg.Wait()
	tr.CloseIdleConnections()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d requests failed", n)
	}
	resp, err := http.Get("http://" + addr.String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "r10" {
		t.Fatalf("after the last reload: %q", body)
	}
	if got := s.reloads.success.Load(); got != 10 {
		t.Fatalf("reload_success = %d", got)
	}
	// With the clients gone, every replaced generation is released.
	deadline := time.Now().Add(waitLimit)
	for s.reloads.retiring.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d generations still retiring", s.reloads.retiring.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Broken: the running config stays, the error names file and path.
	if err := os.WriteFile(path, []byte("concurrency: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = s.Reload(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), "concurrency: must be between 1 and 256") {
		t.Fatalf("broken reload: %v", err)
	}
	if got := s.reloads.failure.Load(); got != 1 {
		t.Fatalf("reload_failure = %d", got)
	}
}
