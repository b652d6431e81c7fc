package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/module/moduletest"
)

// replaceConfig swaps the running config file for yaml the way an
// operator's tooling should: a new file renamed over the old one.
func replaceConfig(t *testing.T, p *proc, yaml string) {
	t.Helper()
	yaml = strings.ReplaceAll(yaml, "%ACCESS_LOG%", p.AccessLog)
	tmp := p.Config + ".new"
	if err := os.WriteFile(tmp, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p.Config); err != nil {
		t.Fatal(err)
	}
}

// postReload asks the admin endpoint to reload and returns its answer.
func postReload(t *testing.T, p *proc) (int, string) {
	t.Helper()
	resp, err := http.Post(p.AdminURL("/reload"), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

// namedBackend answers every request with its name in x-backend.
func namedBackend(t *testing.T, name string) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-backend", name)
		io.WriteString(w, "from "+name)
	}))
	t.Cleanup(s.Close)
	return backendAddr(s)
}

// reloadRoundConfig is round r of the reload test: /round answers the
// round's number (a route that changes), / goes to the backend cluster,
// whose endpoint is the round's backend, and odd rounds have a listener
// "extra-r" (added, and removed again by the next round).
func reloadRoundConfig(r int, backend string) string {
	vhosts := fmt.Sprintf(`
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: /round }
    direct_response: { status: 200, body: { inline_string: "round-%d" } }
  - match: { prefix: / }
    route: { cluster: backend }
`, r)
	cfg := listenerConfig("", vhosts, staticCluster("backend", "", backend), "")
	if r%2 == 1 {
		// Into the listeners list, which ends where the clusters begin.
		i := strings.Index(cfg, "\nclusters:\n")
		name := fmt.Sprintf("extra-%d", r)
		cfg = cfg[:i] + "\n" + strings.TrimSuffix(directListener(name, name), "\n") + cfg[i:]
	}
	return cfg
}

// directListener is a listeners entry whose every request is answered 200
// with body, by a connection manager with stat_prefix "extra".
func directListener(name, body string) string {
	return fmt.Sprintf(`- name: %s
  address: 127.0.0.1:0
  filter_chains:
  - filters:
    - name: http_connection_manager
      config:
        stat_prefix: extra
        http_filters: [{ name: router }]
        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
            - match: { prefix: / }
              direct_response: { status: 200, body: { inline_string: %q } }
`, name, body)
}

// TestReloadUnderLoad: 50 keep-alive HTTP/1 connections and one HTTP/2
// connection stay busy while the config is reloaded 20 times (a route
// changed each time, a listener added and removed, the cluster's endpoint
// changed). No request fails; every HTTP/1 request started after a reload
// returned, on a connection dialed after it, sees that reload's routes; the added listeners serve and the
// removed ones refuse.
func TestReloadUnderLoad(t *testing.T) {
	backends := []string{namedBackend(t, "a"), namedBackend(t, "b")}
	render := func(r int) string { return reloadRoundConfig(r, backends[r%2]) }
	p := startSluice(t, render(0))

	var round atomic.Int64 // the last reload that returned
	var failures atomic.Int64
	var requests atomic.Int64
	var stale atomic.Int64
	var failMu sync.Mutex
	var firstFailure error
	fail := func(err error) {
		failures.Add(1)
		failMu.Lock()
		if firstFailure == nil {
			firstFailure = err
		}
		failMu.Unlock()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Each connection remembers the round current when it was dialed: a
	// connection dialed after a reload returned must get that reload's
	// routes (one dialed before may be the old generation's, which
	// answers its first request and closes).
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		r := round.Load()
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &roundConn{Conn: c, round: r}, nil
	}
	h1 := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 50, MaxConnsPerHost: 50, DialContext: dial}
	t.Cleanup(h1.CloseIdleConnections)
	h1c := &http.Client{Transport: h1, Timeout: 20 * time.Second}
	// check sends one request and checks the answer; a /round answer
	// must come from the round current when its connection was dialed,
	// or a later one.
	check := func(c *http.Client, url string, h1 bool) {
		started := int64(-1)
		req, _ := http.NewRequest("GET", url, nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) {
				if rc, ok := info.Conn.(*roundConn); ok {
					started = rc.round
				}
			},
		}))
		resp, err := c.Do(req)
		if err != nil {
			fail(err)
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		requests.Add(1)
		if err != nil || resp.StatusCode != 200 {
			fail(fmt.Errorf("GET %s: status %d, body %q, err %v", url, resp.StatusCode, body, err))
			return
		}
		if n, ok := strings.CutPrefix(string(body), "round-"); ok {
			got, _ := strconv.ParseInt(n, 10, 64)
			if got < started {
				stale.Add(1)
				if h1 {
					fail(fmt.Errorf("HTTP/1 connection dialed in round %d answered by round %d", started, got))
				}
			}
		}
	}
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				path := "/round"
				if n%2 == 1 {
					path = "/backend"
				}
				check(h1c, p.URL(path), true)
			}
		}(i)
	}
	h2c := h2cClient(t)
	for i := 0; i < 4; i++ { // streams multiplexed on the HTTP/2 connection
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				check(h2c, p.URL("/round"), false)
			}
		}()
	}

	fresh := newClient(t)
	prevExtra := ""
	for r := 1; r <= 20; r++ {
		replaceConfig(t, p, render(r))
		if code, body := postReload(t, p); code != 200 {
			t.Fatalf("reload %d: %d %s", r, code, body)
		}
		round.Store(int64(r))
		// A new connection gets the new route and the new endpoint.
		fresh.CloseIdleConnections()
		if _, body := get(t, fresh, p.URL("/round"), nil); body != fmt.Sprintf("round-%d", r) {
			t.Fatalf("after reload %d: /round answered %q", r, body)
		}
		if resp, _ := get(t, fresh, p.URL("/backend"), nil); resp.Header.Get("x-backend") != []string{"a", "b"}[r%2] {
			t.Fatalf("after reload %d: backend %q", r, resp.Header.Get("x-backend"))
		}
		if r%2 == 1 {
			name := fmt.Sprintf("extra-%d", r)
			p.WaitLog(`"msg":"listening"`, `"listener":"`+name+`"`)
			prevExtra = p.Addr(name)
			if _, body := get(t, fresh, "http://"+prevExtra+"/", nil); body != name {
				t.Fatalf("listener %s answered %q", name, body)
			}
		} else if prevExtra != "" {
			if c, err := net.DialTimeout("tcp", prevExtra, time.Second); err == nil {
				c.Close()
				t.Fatalf("removed listener %s still accepts", prevExtra)
			}
		}
	}
	close(stop)
	wg.Wait()
	// The HTTP/2 connection learns of each reload by a GOAWAY: its next
	// streams go to a new connection, with the last routes.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, h2c, p.URL("/round"), nil)
		if body == "round-20" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HTTP/2 client still gets %q after the last reload", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed; first: %v", n, requests.Load(), firstFailure)
	}
	if requests.Load() < 1000 {
		t.Fatalf("only %d requests during the reloads: the load did not run", requests.Load())
	}
	if got := adminStat(t, p, "config.reload_success"); got != 20 {
		t.Fatalf("config.reload_success = %d", got)
	}
	// Counters carry over from generation to generation.
	if got := adminStat(t, p, "http.ingress.downstream_rq_total"); got < requests.Load() {
		t.Fatalf("http.ingress.downstream_rq_total = %d after %d requests: reset by a reload", got, requests.Load())
	}
	// Every replaced generation is released once its connections ended.
	h1.CloseIdleConnections()
	h2c.Transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	waitStat(t, p, "config.generations_retiring", 0)
	t.Logf("%d requests, %d HTTP/2 answers from the round before", requests.Load(), stale.Load())
}

// roundConn is a client connection that knows the reload round it was
// dialed in.
type roundConn struct {
	net.Conn
	round int64
}

// modulesList reads /modules.
func modulesList(t *testing.T, p *proc) []map[string]any {
	t.Helper()
	_, body := get(t, newClient(t), p.AdminURL("/modules"), nil)
	var out []map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("/modules: %v\n%s", err, body)
	}
	return out
}

// waitModules polls /modules until ok accepts it (bounded).
func waitModules(t *testing.T, p *proc, what string, ok func([]map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms := modulesList(t, p)
		if ok(ms) {
			return ms
		}
		if time.Now().After(deadline) {
			t.Fatalf("/modules never showed %s: %v", what, ms)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func installModule(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// TestReloadModuleVersion replaces a module file by a new version at the
// same path and reloads: streams v1 holds on its scheduler finish with v1
// (v1's thread commits them after the reload, and v1's hooks answer), new
// streams get v2, and v1 is unloaded after its last stream — its
// program_shutdown runs, /modules and module.modules_unloaded show it.
func TestReloadModuleVersion(t *testing.T) {
	dir := t.TempDir()
	so := filepath.Join(dir, "versioned.so")
	installModule(t, moduletest.Build(t, "versioned_v1"), so)
	release := filepath.Join(dir, "release")
	filters := fmt.Sprintf("- name: versioned\n  module: %s\n  filter_name: versioned\n  config: { release_file: %q }\n", so, release)
	cfg := listenerConfig(filters, directRoute, "", "")
	p := startSluice(t, cfg)
	c := newClient(t)
	if resp, _ := get(t, c, p.URL("/"), nil); resp.Header.Get("x-version") != "1" {
		t.Fatalf("x-version %q before the reload", resp.Header.Get("x-version"))
	}
	// Two streams stop on v1's scheduler.
	type answer struct {
		version, held string
		err           error
	}
	held := make(chan answer, 2)
	for range 2 {
		go func() {
			cl := newClient(t)
			req, _ := http.NewRequest("GET", p.URL("/held"), nil)
			req.Header.Set("x-hold", "1")
			resp, err := cl.Do(req)
			if err != nil {
				held <- answer{err: err}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			held <- answer{version: resp.Header.Get("x-version"), held: resp.Header.Get("x-held")}
		}()
	}
	v1 := waitModules(t, p, "two live v1 filters", func(ms []map[string]any) bool {
		return len(ms) == 1 && ms[0]["live_filters"] == float64(2)
	})[0]

	installModule(t, moduletest.Build(t, "versioned_v2"), so)
	if code, body := postReload(t, p); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	ms := modulesList(t, p)
	if len(ms) != 2 {
		t.Fatalf("/modules after the reload: %v", ms)
	}
	for _, m := range ms {
		if m["path"] != v1["path"] {
			t.Fatalf("module path %v, want %v", m["path"], v1["path"])
		}
		switch m["sha256"] {
		case v1["sha256"]:
			if m["state"] != "draining" || m["live_filters"] != float64(2) {
				t.Fatalf("v1 after the reload: %v", m)
			}
		default:
			if m["state"] != "active" {
				t.Fatalf("v2 after the reload: %v", m)
			}
		}
	}
	c.CloseIdleConnections()
	if resp, _ := get(t, c, p.URL("/"), nil); resp.Header.Get("x-version") != "2" {
		t.Fatalf("new stream got x-version %q, want 2", resp.Header.Get("x-version"))
	}
	select {
	case a := <-held:
		t.Fatalf("a held stream finished before its release: %+v", a)
	default:
	}
	// v1's thread commits the held streams now; v1's hooks finish them.
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		a := <-held
		if a.err != nil || a.version != "1" || a.held != "released-by-v1" {
			t.Fatalf("held stream: %+v, want x-version 1 and x-held released-by-v1", a)
		}
	}
	waitModules(t, p, "v1 unloaded", func(ms []map[string]any) bool {
		return len(ms) == 1 && ms[0]["sha256"] != v1["sha256"] && ms[0]["state"] == "active"
	})
	waitStat(t, p, "module.modules_unloaded", 1)
	if _, err := os.Stat(release + ".v1-shutdown"); err != nil {
		t.Fatalf("v1's program_shutdown did not run: %v", err)
	}
	if _, err := os.Stat(release + ".v2-shutdown"); err == nil {
		t.Fatal("v2's program_shutdown ran while v2 serves")
	}
	if resp, _ := get(t, c, p.URL("/"), nil); resp.Header.Get("x-version") != "2" {
		t.Fatalf("x-version %q after v1 was unloaded", resp.Header.Get("x-version"))
	}
}

// TestReloadBrokenConfigChangesNothing: a reload whose config does not
// load — a bad value at a YAML path, a missing module, a module whose
// config_new fails — answers 400 with the error, counts a failure, and
// the running configuration keeps serving, modules included.
func TestReloadBrokenConfigChangesNothing(t *testing.T) {
	good := listenerConfig(moduleFilter(t, "mut", "header_mutator", "header_mutator", `{"request_set": {"x-added": "yes"}}`), directRoute, "", "")
	p := startSluice(t, good)
	c := newClient(t)
	missing := filepath.Join(t.TempDir(), "missing.so")
	rejected := moduletest.Build(t, "config_rejected")
	const fpath = "listeners[0].filter_chains[0].filters[0].config.http_filters[0]"
	cases := []struct {
		name, yaml, want string
	}{
		{"bad value", strings.Replace(good, "drain_timeout: 5s", "drain_timeout: -1s", 1),
			p.Config + ": drain_timeout: must not be negative"},
		{"missing module", listenerConfig(fmt.Sprintf("- name: f\n  module: %s\n  filter_name: x\n  config: {}\n", missing), directRoute, "", ""),
			p.Config + ": " + fpath + `.module: load module "` + missing + `": file does not exist`},
		{"config_new fails", listenerConfig(fmt.Sprintf("- name: f\n  module: %s\n  filter_name: strict\n  config: {\"ok\": false}\n", rejected), directRoute, "", ""),
			p.Config + ": " + fpath + `.config: module "` + rejected + `", filter "strict": config rejected by the module: field "ok" must be true`},
	}
	before := modulesList(t, p)
	for i, tc := range cases {
		replaceConfig(t, p, tc.yaml)
		code, body := postReload(t, p)
		if code != 400 || body != "reload failed: "+tc.want+"\n" {
			t.Fatalf("%s: reload answered %d %q\nwant 400 %q", tc.name, code, body, "reload failed: "+tc.want+"\n")
		}
		if got := adminStat(t, p, "config.reload_failure"); got != int64(i+1) {
			t.Fatalf("%s: config.reload_failure = %d", tc.name, got)
		}
		resp, body := get(t, c, p.URL("/"), nil)
		if resp.StatusCode != 200 || body != "from the route" {
			t.Fatalf("%s: after the failed reload: %d %q", tc.name, resp.StatusCode, body)
		}
		after := modulesList(t, p)
		if fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("%s: /modules changed:\n%v\n%v", tc.name, before, after)
		}
		quoted := strconv.Quote(tc.want) // as the JSON log has it
		p.WaitLog(`"msg":"reload failed; the running configuration keeps serving"`, quoted[1:len(quoted)-1])
	}
	if got := adminStat(t, p, "config.reload_success"); got != 0 {
		t.Fatalf("config.reload_success = %d", got)
	}
}

// TestReloadTriggers: SIGHUP reloads; watch: true reloads when the file
// changes; /reload is POST-only and loopback-only like the other mutating
// admin endpoints.
func TestReloadTriggers(t *testing.T) {
	cfg := func(body string, watch bool) string {
		c := listenerConfig("", strings.Replace(directRoute, "from the route", body, 1), "", "")
		if watch {
			c = "watch: true\n" + c
		}
		return c
	}
	p := startSluice(t, cfg("one", false))
	c := newClient(t)
	replaceConfig(t, p, cfg("two", false))
	p.Cmd.Process.Signal(syscall.SIGHUP)
	p.WaitLog(`"msg":"configuration reloaded"`)
	c.CloseIdleConnections()
	if _, body := get(t, c, p.URL("/"), nil); body != "two" {
		t.Fatalf("after SIGHUP: %q", body)
	}
	// watch: true is itself applied by a reload.
	replaceConfig(t, p, cfg("three", true))
	if code, body := postReload(t, p); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	replaceConfig(t, p, cfg("four", true))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.CloseIdleConnections()
		if _, body := get(t, c, p.URL("/"), nil); body == "four" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watched file's change was not applied")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, body := get(t, c, p.AdminURL("/reload"), nil)
	if resp.StatusCode != 405 || body != "method not allowed: use POST\n" {
		t.Fatalf("GET /reload: %d %q", resp.StatusCode, body)
	}
}

// TestReloadWithTLS: a TLS listener kept by a reload keeps its socket; a
// TLS connection made before answers from the old chain and is closed
// after its response, a new one gets the new chain; the certificate
// files are watched for the new configuration.
func TestReloadWithTLS(t *testing.T) {
	e := newTLSEnv(t)
	render := func(chain string) string {
		return tlsListenerConfig("", "", []string{directChain(chain, "", e.downstreamTLS("default", ""))}, "", "")
	}
	p := startSluice(t, render("one"))
	cfg := e.clientConfig("localhost")
	old, err := tls.Dial("tcp", p.Addr("main"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	old.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(old)
	roundTrip := func() (*http.Response, string) {
		t.Helper()
		io.WriteString(old, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	if _, body := roundTrip(); body != "chain=one" {
		t.Fatalf("before the reload: %q", body)
	}
	replaceConfig(t, p, render("two"))
	if code, body := postReload(t, p); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	// The connection made before is idle: the drain closed it. A request
	// on it gets nothing; a new connection gets the new chain.
	if _, body := httpsGet(t, p.Addr("main"), cfg, "/"); body != "chain=two" {
		t.Fatalf("new TLS connection after the reload: %q", body)
	}
	io.WriteString(old, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if _, err := http.ReadResponse(br, nil); err == nil {
		t.Fatal("the idle pre-reload connection still answers")
	}
	// The reloaded configuration watches the certificate files too.
	e.rotateDefault(t, p.Addr("main"), cfg)
}
