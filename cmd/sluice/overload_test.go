package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// keepAlive is one client connection sending requests one after another.
type keepAlive struct {
	c  net.Conn
	br *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr string) *keepAlive {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAlive{c: c, br: bufio.NewReader(c)}
}

// get sends one GET and reads the response; an error means the server
// closed the connection instead of answering.
func (k *keepAlive) get(path string) (*http.Response, string, error) {
	k.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(k.c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

func (k *keepAlive) mustGet(t *testing.T, path string) {
	t.Helper()
	resp, body, err := k.get(path)
	if err != nil || resp.StatusCode != 200 || body != "from the route" {
		t.Fatalf("GET %s on a kept connection: %v %v %q", path, err, resp, body)
	}
}

// Past a listener's max_connections, and past
// global_downstream_max_connections across listeners, new connections are
// closed right after accept and counted, while the connections already
// open keep working; a closed connection frees its slot.
func TestMaxConnections(t *testing.T) {
	cfg := listenerConfig("", directRoute, "", "")
	cfg = strings.Replace(cfg, "  address: 127.0.0.1:0\n", "  address: 127.0.0.1:0\n  max_connections: 3\n", 1)
	cfg = strings.Replace(cfg, "listeners:\n", "overload: { global_downstream_max_connections: 5 }\nlisteners:\n", 1)
	// A second listener with no bound of its own, sharing the global one.
	second := cfg[strings.Index(cfg, "- name: main"):strings.Index(cfg, "clusters:")]
	second = strings.Replace(strings.Replace(second, "- name: main", "- name: second", 1), "  max_connections: 3\n", "", 1)
	second = strings.Replace(second, "stat_prefix: ingress", "stat_prefix: second", 1)
	cfg = strings.Replace(cfg, "clusters:", second+"clusters:", 1)
	p := startSluice(t, cfg)

	var main []*keepAlive
	for i := 0; i < 3; i++ {
		k := dialKeepAlive(t, p.Addr("main"))
		k.mustGet(t, "/a")
		main = append(main, k)
	}
	over := dialKeepAlive(t, p.Addr("main"))
	if resp, _, err := over.get("/over"); err == nil {
		t.Fatalf("a 4th connection to a listener with max_connections 3 was answered: %v", resp.Status)
	}
	if n := p.WaitStat(t, "listener.main.downstream_cx_overflow", func(v int64) bool { return v >= 1 }); n != 1 {
		t.Fatalf("listener.main.downstream_cx_overflow = %d, want 1", n)
	}
	for _, k := range main {
		k.mustGet(t, "/still")
	}

	var others []*keepAlive
	for i := 0; i < 2; i++ {
		k := dialKeepAlive(t, p.Addr("second"))
		k.mustGet(t, "/b")
		others = append(others, k)
	}
	if resp, _, err := dialKeepAlive(t, p.Addr("second")).get("/over"); err == nil {
		t.Fatalf("a 6th connection with global_downstream_max_connections 5 was answered: %v", resp.Status)
	}
	p.WaitStat(t, "overload.downstream_global_cx_overflow", func(v int64) bool { return v == 1 })
	if v := adminStat(t, p, "overload.downstream_cx_active"); v != 5 {
		t.Fatalf("overload.downstream_cx_active = %d, want 5", v)
	}
	if v := adminStat(t, p, "listener.second.downstream_cx_overflow"); v != 0 {
		t.Fatalf("listener.second.downstream_cx_overflow = %d: the global bound refused it", v)
	}
	for _, k := range append(main, others...) {
		k.mustGet(t, "/still")
	}

	main[0].c.Close()
	p.WaitStat(t, "listener.main.downstream_cx_active", func(v int64) bool { return v == 2 })
	dialKeepAlive(t, p.Addr("main")).mustGet(t, "/after")
}

// heldUploads is a backend that reads each request body whole and then
// holds the answer until release; uploaded reports each body read.
type heldUploads struct {
	addr     string
	uploaded chan struct{}
	release  func()
}

func newHeldUploads(t *testing.T) *heldUploads {
	held := make(chan struct{})
	h := &heldUploads{uploaded: make(chan struct{}, 64)}
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			io.Copy(io.Discard, r.Body)
			h.uploaded <- struct{}{}
			<-held
		}
		w.Write([]byte("done"))
	}))
	t.Cleanup(be.Close)
	var once sync.Once
	h.release = func() { once.Do(func() { close(held) }) }
	t.Cleanup(h.release)
	h.addr = backendAddr(be)
	return h
}

// overloadedSluice runs a sluice whose heap a test can push past
// overload.max_heap_bytes (64 MiB; release at 48 MiB) the way a proxy's
// heap grows: request bodies kept for retries while their upstream holds
// the answer. Module filter "passthrough" runs on every stream.
func overloadedSluice(t *testing.T, actions string) (*proc, *heldUploads) {
	cfg, be := overloadConfig(t, actions)
	return startSluice(t, cfg), be
}

// overloadConfig is overloadedSluice's configuration and backend.
func overloadConfig(t *testing.T, actions string) (string, *heldUploads) {
	be := newHeldUploads(t)
	cfg := listenerConfig(moduleFilter(t, "passthrough", "passthrough", "passthrough", "{}"), `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    per_request_buffer_limit_bytes: 33554432
    route:
      cluster: backend
      timeout: 60s
      retry_policy: { retry_on: 5xx, num_retries: 1 }
`, staticCluster("backend", "", be.addr), "stream_buffer_limit_bytes: 33554432")
	cfg = strings.Replace(cfg, "listeners:\n", `overload:
  refresh_interval: 20ms
  max_heap_bytes: 67108864
  release_heap_bytes: 50331648
  actions: [`+actions+`]
listeners:
`, 1)
	return cfg, be
}

// growHeap sends six uploads of 16 MiB (96 MiB kept) and waits until the
// backend read them all and the actions are on; the uploads' outcomes
// arrive on the channel once the backend is released.
func growHeap(t *testing.T, p *proc, be *heldUploads, action string) chan string {
	results := make(chan string, 6)
	for i := 0; i < 6; i++ {
		go func() {
			resp, err := newClient(t).Post(p.URL("/upload"), "application/octet-stream", bytes.NewReader(make([]byte, 16<<20)))
			if err != nil {
				results <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- resp.Status + " " + string(b)
		}()
	}
	for i := 0; i < 6; i++ {
		recvWithin(t, be.uploaded, "an upload reaching the backend")
	}
	p.WaitStat(t, "overload."+action+".active", func(v int64) bool { return v == 1 })
	p.WaitLog("overload: heap above overload.max_heap_bytes; actions on")
	return results
}

// releaseHeap lets the uploads finish and waits until the actions are off.
func releaseHeap(t *testing.T, p *proc, be *heldUploads, results chan string, action string) {
	be.release()
	for i := 0; i < 6; i++ {
		if r := recvWithin(t, results, "an upload's answer"); r != "200 OK done" {
			t.Fatalf("upload: %s", r)
		}
	}
	p.WaitStat(t, "overload."+action+".active", func(v int64) bool { return v == 0 })
	p.WaitLog("overload: heap below overload.release_heap_bytes; actions off")
}

// Past overload.max_heap_bytes new streams are shed with 503 (flag OM,
// gRPC: UNAVAILABLE) before any filter runs and keep-alive is off; once
// the heap is back under release_heap_bytes, requests are served again.
func TestOverloadShedsNewStreamsAndRecovers(t *testing.T) {
	p, be := overloadedSluice(t, "shed_new_streams, disable_keepalive")
	if v := adminStat(t, p, "overload.shed_new_streams.active"); v != 0 {
		t.Fatalf("shedding before any load: %d", v)
	}
	before := adminStat(t, p, "module.filters_created")
	results := growHeap(t, p, be, "shed_new_streams")

	// New streams are shed: 503 with Connection: close, no filter created.
	created := adminStat(t, p, "module.filters_created")
	resp, text, err := dialKeepAlive(t, p.Addr("main")).get("/new")
	if err != nil || resp.StatusCode != 503 || text != "overloaded\n" || !resp.Close {
		t.Fatalf("request while overloaded: %v %v %q", err, resp, text)
	}
	o := grpcCall(t, h2cClient(t), p.URL("/pkg.Svc/Method"), []byte{0, 0, 0, 0, 0})
	if o.httpStatus != 200 || o.status != "14" || !o.trailersOnly {
		t.Fatalf("gRPC call while overloaded: %+v", o)
	}
	if n := adminStat(t, p, "module.filters_created"); n != created {
		t.Fatalf("%d module filters created for shed streams", n-created)
	}
	if n := adminStat(t, p, "http.ingress.downstream_rq_overload_close"); n != 2 {
		t.Fatalf("downstream_rq_overload_close = %d, want 2", n)
	}
	if n := adminStat(t, p, "http.ingress.downstream_cx_overload_disable_keepalive"); n < 2 {
		t.Fatalf("downstream_cx_overload_disable_keepalive = %d, want ≥ 2", n)
	}
	shed := 0
	for _, l := range p.AccessLines(2) {
		if l["response_flags"] == "OM" {
			shed++
			// gRPC's answer is an HTTP 200 carrying grpc-status 14.
			want := map[string]float64{"/new": 503, "/pkg.Svc/Method": 200}[fmt.Sprint(l["path"])]
			if l["status"] != want || l["details"] != "overload" {
				t.Fatalf("access log of a shed stream: %v", l)
			}
		}
	}
	if shed != 2 {
		t.Fatalf("%d access-log lines flagged OM, want 2:\n%v", shed, p.AccessLines(0))
	}

	releaseHeap(t, p, be, results, "shed_new_streams")
	k := dialKeepAlive(t, p.Addr("main"))
	resp, text, err = k.get("/after")
	if err != nil || resp.StatusCode != 200 || text != "done" || resp.Close {
		t.Fatalf("request after recovery: %v %v %q", err, resp, text)
	}
	if n := adminStat(t, p, "overload.activations"); n != 1 {
		t.Fatalf("overload.activations = %d, want 1", n)
	}
	if n := adminStat(t, p, "module.filters_created"); n <= before {
		t.Fatalf("module filters not created again after recovery (%d, before %d)", n, before)
	}
}

// With stop_accepting_connections, an overloaded sluice takes no new
// connection (the kernel keeps them in the listen backlog) while the open
// ones are served — with disable_keepalive, their next answer says
// Connection: close and the connection ends; once the heap is back, the
// waiting connection is taken and answered. /overload shows the state.
func TestOverloadStopsAccepting(t *testing.T) {
	p, be := overloadedSluice(t, "stop_accepting_connections, disable_keepalive")
	open := dialKeepAlive(t, p.Addr("main"))
	if resp, text, err := open.get("/before"); err != nil || resp.StatusCode != 200 || text != "done" {
		t.Fatalf("before: %v %v %q", err, resp, text)
	}
	results := growHeap(t, p, be, "stop_accepting_connections")

	resp, err := http.Get(p.AdminURL("/overload"))
	if err != nil {
		t.Fatal(err)
	}
	var snap struct {
		Active       bool     `json:"active"`
		HeapBytes    int64    `json:"heap_bytes"`
		MaxHeapBytes int64    `json:"max_heap_bytes"`
		Actions      []string `json:"actions"`
	}
	json.NewDecoder(resp.Body).Decode(&snap)
	resp.Body.Close()
	if !snap.Active || snap.HeapBytes < snap.MaxHeapBytes || snap.MaxHeapBytes != 64<<20 || fmt.Sprint(snap.Actions) != "[stop_accepting_connections disable_keepalive]" {
		t.Fatalf("/overload while overloaded: %+v", snap)
	}

	// The connection made now waits in the backlog, unanswered; the one
	// already open is served.
	answered := dialKeepAlive(t, p.Addr("main")).getLater("/waited")
	if resp, text, err := open.get("/during"); err != nil || resp.StatusCode != 200 || text != "done" || !resp.Close {
		t.Fatalf("an open connection while not accepting: %v %v %q (want 200 with Connection: close)", err, resp, text)
	}
	open.c.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := open.br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the connection stayed open after Connection: close (%d, %v)", n, err)
	}
	if n := adminStat(t, p, "http.ingress.downstream_cx_overload_disable_keepalive"); n != 1 {
		t.Fatalf("downstream_cx_overload_disable_keepalive = %d, want 1", n)
	}
	if n := adminStat(t, p, "http.ingress.downstream_rq_overload_close"); n != 0 {
		t.Fatalf("downstream_rq_overload_close = %d without shed_new_streams", n)
	}
	answeredAfterRelease(t, p, be, results, answered, "200 OK done")
}

// answeredAfterRelease checks that the request of a connection made while
// not accepting is still unanswered, lifts the overload, and checks that
// the request is then answered want.
func answeredAfterRelease(t *testing.T, p *proc, be *heldUploads, results chan string, answered <-chan string, want string) {
	t.Helper()
	select {
	case got := <-answered:
		t.Fatalf("a connection made while not accepting was answered: %s", got)
	default:
	}
	releaseHeap(t, p, be, results, "stop_accepting_connections")
	if got := recvWithin(t, answered, "the waiting connection's answer"); got != want {
		t.Fatalf("the connection that waited: %s, want %s", got, want)
	}
}

// A listener that a reload adds while the overload manager holds
// accepting off starts paused like the others (accepting is paused per
// worker, not per socket), and accepts once the actions are off.
func TestListenerAddedDuringOverloadStartsPaused(t *testing.T) {
	cfg, be := overloadConfig(t, "stop_accepting_connections")
	// The uploads that fill the heap are the old generation's streams: let
	// them outlive the reload's drain.
	cfg = strings.Replace(cfg, "drain_timeout: 5s", "drain_timeout: 120s", 1)
	p := startSluice(t, cfg)
	results := growHeap(t, p, be, "stop_accepting_connections")

	replaceConfig(t, p, strings.Replace(cfg, "listeners:\n", "listeners:\n"+directListener("extra", "extra"), 1))
	if code, body := postReload(t, p); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	p.WaitLog(`"msg":"listening"`, `"listener":"extra"`)
	// The kernel completes the handshake; the request waits.
	answered := dialKeepAlive(t, p.Addr("extra")).getLater("/waited")
	// The reload returned after every worker switched; the admin answers
	// come after several more loop turns. The connection is still waiting.
	p.WaitStat(t, "overload.stop_accepting_connections.active", func(v int64) bool { return v == 1 })
	if n := adminStat(t, p, "http.extra.downstream_cx_total"); n != 0 {
		t.Fatalf("the new listener accepted %d connections while accepting is off", n)
	}
	answeredAfterRelease(t, p, be, results, answered, "200 OK extra")
}

// getLater sends one GET from a goroutine; its outcome ("200 OK body" or
// the error) arrives on the channel.
func (k *keepAlive) getLater(path string) <-chan string {
	answered := make(chan string, 1)
	go func() {
		resp, text, err := k.get(path)
		if err != nil {
			answered <- err.Error()
			return
		}
		answered <- resp.Status + " " + text
	}()
	return answered
}

func recvWithin[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// A reload keeps a listener's sockets and its connection count, and
// applies its new max_connections to them: lowered to 1, a second
// connection is refused and counted; raised again, it is taken.
func TestMaxConnectionsFollowsAReload(t *testing.T) {
	base := listenerConfig("", directRoute, "", "")
	withMax := func(n int) string {
		return strings.Replace(base, "  address: 127.0.0.1:0\n", fmt.Sprintf("  address: 127.0.0.1:0\n  max_connections: %d\n", n), 1)
	}
	p := startSluice(t, withMax(3))
	addr := p.Addr("main")
	old := dialKeepAlive(t, addr)
	old.mustGet(t, "/before")

	replaceConfig(t, p, withMax(1))
	if code, body := postReload(t, p); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	// The old generation's idle connection is drained: its slot is free.
	p.WaitStat(t, "listener.main.downstream_cx_active", func(v int64) bool { return v == 0 })
	first := dialKeepAlive(t, addr)
	first.mustGet(t, "/one")
	if resp, _, err := dialKeepAlive(t, addr).get("/two"); err == nil {
		t.Fatalf("a 2nd connection after lowering max_connections to 1 was answered: %v", resp.Status)
	}
	p.WaitStat(t, "listener.main.downstream_cx_overflow", func(v int64) bool { return v == 1 })
	first.mustGet(t, "/still")

	replaceConfig(t, p, withMax(2))
	if code, body := postReload(t, p); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	p.WaitStat(t, "listener.main.downstream_cx_active", func(v int64) bool { return v == 0 })
	dialKeepAlive(t, addr).mustGet(t, "/a")
	dialKeepAlive(t, addr).mustGet(t, "/b")
	if n := adminStat(t, p, "listener.main.downstream_cx_overflow"); n != 1 {
		t.Fatalf("listener.main.downstream_cx_overflow = %d after raising the bound, want still 1", n)
	}
}
