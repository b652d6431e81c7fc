package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitLimit = 20 * time.Second

const twoWorkers = `
concurrency: 2
drain_timeout: 2s
admin: { address: 127.0.0.1:0 }
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
`

func startServer(t *testing.T, yaml string) *Server {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func ready(t *testing.T, s *Server) (int, string) {
	t.Helper()
	a, _ := s.AdminAddr()
	resp, err := http.Get("http://" + a.String() + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestDeadWorkerStopsTheProcess: a worker whose loop ends on its own (its
// epoll set broke) makes the server raise Fatal, /ready name it, and a
// drain still finish instead of waiting forever on the dead loop.
func TestDeadWorkerStopsTheProcess(t *testing.T) {
	s := startServer(t, twoWorkers)
	if code, body := ready(t, s); code != 200 || body != "LIVE\n" {
		t.Fatalf("/ready before: %d %q", code, body)
	}
	s.workers[1].Stop() // what a failing epoll_wait does to its own loop
	select {
	case err := <-s.Fatal():
		if err.Error() != "worker 1 stopped unexpectedly" {
			t.Fatalf("fatal: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("no fatal error for a dead worker")
	}
	if code, body := ready(t, s); code != 503 || body != "UNHEALTHY: worker 1 stopped\n" {
		t.Fatalf("/ready after: %d %q", code, body)
	}
	drained := make(chan int, 1)
	go func() { drained <- s.Drain(0, time.Second) }()
	select {
	case <-drained:
	case <-time.After(waitLimit):
		t.Fatal("drain hangs on a dead worker")
	}
}

// TestWatchdogIgnoresIdleWorkers: workers asleep in epoll_wait for longer
// than every watchdog timeout are healthy.
func TestWatchdogIgnoresIdleWorkers(t *testing.T) {
	s := startServer(t, strings.Replace(twoWorkers, "concurrency: 2", "concurrency: 2\nwatchdog: { miss_timeout: 10ms, megamiss_timeout: 20ms, kill_timeout: 30ms }", 1))
	time.Sleep(200 * time.Millisecond) // idle for ten times kill_timeout
	if code, body := ready(t, s); code != 200 {
		t.Fatalf("/ready of an idle server: %d %q", code, body)
	}
	select {
	case err := <-s.Fatal():
		t.Fatalf("fatal on an idle server: %v", err)
	default:
	}
	if n := s.dog.miss.Load(); n != 0 {
		t.Fatalf("watchdog_miss = %d on idle workers", n)
	}
}

// /stats shows the process's goroutines (for leak watching) and the
// overload manager's state even without an overload config.
func TestProcessAndOverloadStats(t *testing.T) {
	s := startServer(t, twoWorkers)
	got := map[string]statValue{}
	for _, st := range s.stats() {
		got[st.name] = st
	}
	if g := got["server.goroutines"]; g.kind != "gauge" || g.value < 1 {
		t.Fatalf("server.goroutines = %+v", g)
	}
	for name, kind := range map[string]string{
		"overload.heap_bytes":                        "gauge",
		"overload.shed_new_streams.active":           "gauge",
		"overload.stop_accepting_connections.active": "gauge",
		"overload.disable_keepalive.active":          "gauge",
		"overload.activations":                       "counter",
		"overload.downstream_cx_active":              "gauge",
		"listener.main.downstream_cx_active":         "gauge",
		"listener.main.downstream_cx_overflow":       "counter",
	} {
		if st, ok := got[name]; !ok || st.kind != kind {
			t.Errorf("%s: %+v, want a %s", name, st, kind)
		}
	}
}
