package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/abi"
	"github.com/sluiceproxy/sluice/host/module/moduletest"
)

// moduleFilter renders one http_filters entry for a test module.
func moduleFilter(t *testing.T, name, module, filterName, config string) string {
	if config == "" {
		config = "{}"
	}
	return fmt.Sprintf("- name: %s\n  module: %s\n  filter_name: %s\n  config: %s\n", name, moduletest.Build(t, module), filterName, config)
}

const directRoute = `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    direct_response: { status: 200, body: { inline_string: "from the route" } }
`

func get(t *testing.T, c *http.Client, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// TestExternalCacheModule is the seed's scenario: the lookup runs on the
// module's threads, the scheduler wakes the filter on its worker, which then
// answers from the cache or continues to the route.
func TestExternalCacheModule(t *testing.T) {
	p := startSluice(t, listenerConfig(moduleFilter(t, "cache", "external_cache", "external_cache", ""), directRoute, "", ""))
	c := newClient(t)
	resp, body := get(t, c, p.URL("/"), map[string]string{"cache-key": "existing"})
	if resp.StatusCode != 200 || resp.Header.Get("cached") != "yes" || body != "cached_response_body" {
		t.Fatalf("hit: %d cached=%q %q", resp.StatusCode, resp.Header.Get("cached"), body)
	}
	resp, body = get(t, c, p.URL("/"), map[string]string{"cache-key": "other"})
	if resp.StatusCode != 200 || resp.Header.Get("cached") != "" || body != "from the route" {
		t.Fatalf("miss: %d cached=%q %q", resp.StatusCode, resp.Header.Get("cached"), body)
	}
	resp, body = get(t, c, p.URL("/"), nil)
	if resp.StatusCode != 200 || body != "from the route" {
		t.Fatalf("no key: %d %q", resp.StatusCode, body)
	}
}

func TestPassthroughAndHeaderMutatorModules(t *testing.T) {
	be := newEchoBackend(t)
	filters := moduleFilter(t, "pass", "passthrough", "passthrough", "") +
		moduleFilter(t, "mutate", "header_mutator", "header_mutator",
			`{"request_set": {"x-added": "by-module"}, "request_remove": ["x-removed"], "response_set": {"x-resp": "set"}, "response_remove": ["x-backend-te"]}`)
	p := startSluice(t, listenerConfig(filters, `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: { cluster: backend }
`, staticCluster("backend", "", backendAddr(be.Server)), ""))
	resp, _ := get(t, newClient(t), p.URL("/m"), map[string]string{"x-removed": "1"})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for k, want := range map[string]string{"x-echo-x-added": "by-module", "x-echo-x-removed": "", "x-resp": "set", "x-backend-te": ""} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if n, err := strconv.Atoi(resp.Header.Get("x-request-header-count")); err != nil || n < 5 {
		t.Errorf("x-request-header-count = %q (batch header read)", resp.Header.Get("x-request-header-count"))
	}
}

func TestBodyRewriterModuleOnChunkedBodies(t *testing.T) {
	be := newEchoBackend(t)
	p := startSluice(t, listenerConfig(moduleFilter(t, "rw", "body_rewriter", "body_rewriter", `{"from": "cat", "to": "dog"}`), `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: { cluster: backend }
`, staticCluster("backend", "", backendAddr(be.Server)), ""))
	// A chunked upload whose "cat"s straddle chunk boundaries.
	raw := "POST /cat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
		"2\r\nca\r\n4\r\nt ca\r\n1\r\nt\r\n0\r\n\r\n"
	out := rawExchange(t, p.Addr("main"), raw)
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
	if err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	body, _ := io.ReadAll(resp.Body)
	// The backend echoes "path=/cat len=7"; the response passes the rewriter
	// too, so its "cat" becomes "dog".
	if string(body) != "path=/dog len=7" {
		t.Fatalf("body %q", body)
	}
	if want := fmt.Sprintf("%x", sha256sum("dog dog")); resp.Header.Get("x-backend-body-sha") != want {
		t.Fatalf("backend did not receive the rewritten body")
	}
}

// TestThreadAffinityUnderLoad runs the affinity checker on many concurrent
// keep-alive connections across 2 workers: every hook, including
// on_scheduled after a commit from a module thread, must run on the thread
// that created the filter.
func TestThreadAffinityUnderLoad(t *testing.T) {
	p := startSluice(t, listenerConfig(moduleFilter(t, "aff", "thread_affinity", "thread_affinity", ""), directRoute, "", ""))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", p.Addr("main"))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for i := 0; i < 40; i++ {
				fmt.Fprintf(c, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					errs <- err
					return
				}
				io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Header.Get("x-thread-affinity") != "ok" {
					errs <- fmt.Errorf("status %d affinity %q", resp.StatusCode, resp.Header.Get("x-thread-affinity"))
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

func TestMetricsModuleInAdmin(t *testing.T) {
	p := startSluice(t, listenerConfig(moduleFilter(t, "m", "metrics", "metrics", ""), directRoute, "", ""))
	c := newClient(t)
	for i := 0; i < 3; i++ {
		get(t, c, p.URL("/"), nil)
	}
	_, stats := get(t, c, p.AdminURL("/stats"), nil)
	for _, want := range []string{"module.m.requests_total: 3\n", "module.m.request_header_count_count: 3\n"} {
		if !strings.Contains(stats, want) {
			t.Errorf("/stats lacks %q:\n%s", want, stats)
		}
	}
	_, prom := get(t, c, p.AdminURL("/stats/prometheus"), nil)
	for _, want := range []string{
		"# TYPE sluice_module_metric_requests_total counter\nsluice_module_metric_requests_total{filter=\"m\"} 3\n",
		"sluice_module_metric_requests_by_method{filter=\"m\",method=\"GET\"} 3\n",
		"sluice_module_metric_header_bytes_count{filter=\"m\",method=\"GET\"} 3\n",
		"sluice_module_filter_panics{filter=\"m\"} 0\n",
		"# TYPE sluice_module_scheduler_commits counter\n",
	} {
		if !strings.Contains(prom, want) {
			t.Errorf("/stats/prometheus lacks %q:\n%s", want, prom)
		}
	}
	if strings.Contains(prom, "sluice_module_m_") {
		t.Errorf("/stats/prometheus still has an unlabeled per-entry name:\n%s", prom)
	}
}

func TestInvalidStatusModuleIsContained(t *testing.T) {
	p := startSluice(t, listenerConfig(moduleFilter(t, "bad", "invalid_status", "invalid_status", ""), directRoute, "", ""))
	c := newClient(t)
	for i := 0; i < 3; i++ {
		resp, _ := get(t, c, p.URL("/"), nil)
		if resp.StatusCode != 500 {
			t.Fatalf("status %d, want 500", resp.StatusCode)
		}
	}
	l := p.AccessLines(3)
	if l[0]["response_flags"] != "FF" {
		t.Fatalf("flags %v", l[0]["response_flags"])
	}
	_, stats := get(t, c, p.AdminURL("/stats"), nil)
	if !strings.Contains(stats, "module.invalid_status: 3\n") {
		t.Errorf("invalid statuses not counted:\n%s", stats)
	}
	// Logged once per rate window, not once per request.
	if n := strings.Count(p.Logs(), "invalid status"); n != 1 {
		t.Errorf("invalid status logged %d times, want once", n)
	}
}

// TestBadModulesStopStartup asserts each bad module's exact start-up error.
func TestBadModulesStopStartup(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "not_elf.so")
	os.WriteFile(notELF, []byte("hello"), 0o644)
	writable := filepath.Join(dir, "writable.so")
	data, _ := os.ReadFile(moduletest.Build(t, "passthrough"))
	os.WriteFile(writable, data, 0o644)
	os.Chmod(writable, 0o666)
	const fpath = "listeners[0].filter_chains[0].filters[0].config.http_filters[0]"
	cases := []struct {
		name, module, filterName, config, want string
	}{
		{"missing file", filepath.Join(dir, "missing.so"), "x", "", fpath + `.module: load module "` + filepath.Join(dir, "missing.so") + `": file does not exist`},
		{"not elf", notELF, "x", "", fpath + `.module: load module "` + notELF + `": not an ELF shared object (bad magic number)`},
		{"writable", writable, "passthrough", "", fpath + `.module: load module "` + writable + `": file is writable by group or others (mode 0666); remove that permission or set allow_insecure_permissions: true`},
		{"no program init", moduletest.Build(t, "no_program_init"), "x", "", "missing required symbol sluice_on_program_init"},
		{"no abi version", moduletest.Build(t, "no_module_abi_version"), "x", "", "missing required symbol sluice_module_abi_version"},
		{"no config new", moduletest.Build(t, "no_http_filter_config_new"), "x", "", "missing required symbol sluice_on_http_filter_config_new"},
		{"no config destroy", moduletest.Build(t, "no_http_filter_config_destroy"), "x", "", "missing required symbol sluice_on_http_filter_config_destroy"},
		{"no filter new", moduletest.Build(t, "no_http_filter_new"), "x", "", "missing required symbol sluice_on_http_filter_new"},
		{"no filter destroy", moduletest.Build(t, "no_http_filter_destroy"), "x", "", "missing required symbol sluice_on_http_filter_destroy"},
		{"no request headers", moduletest.Build(t, "no_http_filter_request_headers"), "x", "", "missing required symbol sluice_on_http_filter_request_headers"},
		{"no response headers", moduletest.Build(t, "no_http_filter_response_headers"), "x", "", "missing required symbol sluice_on_http_filter_response_headers"},
		{"abi major", moduletest.Build(t, "abi_major_mismatch"), "x", "", "module ABI version 3.1 is incompatible with this host's ABI " + abi.VersionString() + " (major versions must match); rebuild the module against abi/sluice_abi.h 2.x"},
		{"abi 1 module", moduletest.Build(t, "abi_v1"), "x", "", "module ABI version 1.0 is incompatible with this host's ABI " + abi.VersionString() + " (major versions must match); rebuild the module against abi/sluice_abi.h 2.x"},
		{"init failure", moduletest.Build(t, "init_failure"), "x", "", "sluice_on_program_init returned false (the module failed to initialise)"},
		{"config rejected", moduletest.Build(t, "config_rejected"), "strict", `{"ok": false}`, fpath + `.config: module "` + moduletest.Build(t, "config_rejected") + `", filter "strict": config rejected by the module: field "ok" must be true`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "bad.yaml")
			conf := tc.config
			if conf == "" {
				conf = "{}"
			}
			filters := fmt.Sprintf("- name: f\n  module: %s\n  filter_name: %s\n  config: %s\n", tc.module, tc.filterName, conf)
			writeConfig(t, cfg, listenerConfig(filters, directRoute, "", ""))
			out, err := exec.Command(sluiceBin, "run", "-c", cfg).CombinedOutput()
			if err == nil {
				t.Fatalf("started with a bad module:\n%s", out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, cfg+": ") || !strings.Contains(last, tc.want) {
				t.Fatalf("error:\n%s\nwant it to start with %q and contain %q", last, cfg+": ", tc.want)
			}
			if strings.Contains(last, "load module") && !strings.Contains(last, `"`+tc.module+`"`) {
				t.Fatalf("error does not name the module file: %s", last)
			}
			// validate loads the modules too: the same one-line error.
			vout, err := exec.Command(sluiceBin, "validate", "-c", cfg).CombinedOutput()
			vlines := strings.Split(strings.TrimSpace(string(vout)), "\n")
			if err == nil || vlines[len(vlines)-1] != last {
				t.Fatalf("validate: err=%v\n%s\nwant the last line %q", err, vout, last)
			}
			// --no-modules checks the config alone.
			vout, err = exec.Command(sluiceBin, "validate", "--no-modules", "-c", cfg).CombinedOutput()
			if err != nil || string(vout) != cfg+": ok\n" {
				t.Fatalf("validate --no-modules: err=%v\n%s", err, vout)
			}
		})
	}
}

// TestValidateRunsModuleConfigs: a good config with modules validates
// (each module loaded, its config_new and config_destroy run); inspect
// applies the same permission check as run.
func TestValidateRunsModuleConfigsAndInspectChecksPermissions(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "good.yaml")
	writeConfig(t, cfg, listenerConfig(moduleFilter(t, "strict", "config_rejected", "strict", `{"ok": true}`), directRoute, "", ""))
	out, err := exec.Command(sluiceBin, "validate", "-c", cfg).CombinedOutput()
	if err != nil || string(out) != cfg+": ok\n" {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	so := filepath.Join(t.TempDir(), "writable.so")
	b, _ := os.ReadFile(moduletest.Build(t, "passthrough"))
	os.WriteFile(so, b, 0o666)
	os.Chmod(so, 0o666)
	out, err = exec.Command(sluiceBin, "module", "inspect", so).CombinedOutput()
	want := `load module "` + so + `": file is writable by group or others (mode 0666); remove that permission or set allow_insecure_permissions: true` + "\n"
	if err == nil || string(out) != want {
		t.Fatalf("inspect of a writable module: err=%v\n%s", err, out)
	}
	out, err = exec.Command(sluiceBin, "module", "inspect", "--allow-insecure-permissions", so).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "missing required hooks: none\n") {
		t.Fatalf("inspect --allow-insecure-permissions: err=%v\n%s", err, out)
	}
}

func sha256sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// adminStat is the value of an integer stat on the admin /stats page.
func adminStat(t *testing.T, p *proc, name string) int64 {
	t.Helper()
	return p.Stat(t, name)
}

// waitStat polls a counter until it reaches want (bounded).
func waitStat(t *testing.T, p *proc, name string, want int64) {
	t.Helper()
	p.WaitStat(t, name, func(n int64) bool { return n == want })
}

// TestCommitAfterDestroyIsRefused: the module's thread commits only after
// the stream it belonged to was destroyed (here: ended by the route
// timeout). The commit is refused and counted; the proxy keeps serving.
func TestCommitAfterDestroyIsRefused(t *testing.T) {
	p := startSluice(t, listenerConfig(moduleFilter(t, "late", "commit_after_destroy", "commit_after_destroy", ""), `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: { cluster: nowhere, timeout: 200ms }
`, staticCluster("nowhere", "", "127.0.0.1:9"), ""))
	resp, body := get(t, newClient(t), p.URL("/"), nil)
	if resp.StatusCode != 504 || body != "upstream request timeout" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	waitStat(t, p, "module.scheduler_commits_rejected_stale", 1)
	if n := adminStat(t, p, "module.scheduler_commits"); n != 0 {
		t.Fatalf("a late commit was delivered (%d)", n)
	}
	resp, _ = get(t, newClient(t), p.URL("/"), nil)
	if resp.StatusCode != 504 {
		t.Fatalf("proxy unhealthy after a late commit: %d", resp.StatusCode)
	}
}

// TestCommitStormIsContained: one module thread commits 200,000 events as
// fast as it can; its scheduler's queue takes what it can hold and refuses
// the rest (counted), everything taken is delivered in order on the
// worker, and the request still completes.
func TestCommitStormIsContained(t *testing.T) {
	p := startSluice(t, listenerConfig(moduleFilter(t, "storm", "commit_storm", "commit_storm", ""), directRoute, "", ""))
	resp, body := get(t, newClient(t), p.URL("/"), nil)
	if resp.StatusCode != 200 || body != "from the route" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	delivered := adminStat(t, p, "module.scheduler_commits")
	refused := adminStat(t, p, "module.scheduler_commits_rejected_full")
	if delivered < 1 || delivered+refused < 200001 {
		t.Fatalf("delivered %d + refused %d < 200001 commits", delivered, refused)
	}
	if n := adminStat(t, p, "module.scheduler_commits_dropped"); n != 0 {
		t.Fatalf("dropped %d commits of a live stream", n)
	}
}

func TestModuleInspect(t *testing.T) {
	so := moduletest.Build(t, "external_cache")
	out, err := exec.Command(sluiceBin, "module", "inspect", so).CombinedOutput()
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	for _, want := range []string{
		"module: " + so + "\n",
		"ABI version: " + abi.VersionString() + " (host " + abi.VersionString() + ": compatible)\n",
		"filter kinds: http\n",
		"  sluice_on_http_filter_scheduled (optional)\n",
		"missing required hooks: none\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	bad := moduletest.Build(t, "no_http_filter_new")
	out, err = exec.Command(sluiceBin, "module", "inspect", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "missing required hooks: sluice_on_http_filter_new\n") {
		t.Fatalf("inspect of a module lacking a hook: err=%v\n%s", err, out)
	}
	mismatch := moduletest.Build(t, "abi_major_mismatch")
	out, err = exec.Command(sluiceBin, "module", "inspect", mismatch).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "ABI version: 3.1 (host "+abi.VersionString()+": INCOMPATIBLE: rebuild against abi/sluice_abi.h 2.x)\n") {
		t.Fatalf("inspect of an incompatible module: err=%v\n%s", err, out)
	}
}

// TestModuleMainThreadLogsAndShutdown: the lifecycle module's config-level
// scheduler delivers on the module main thread, its log_filter line carries
// the same conn_id and stream_id as the access log, and on SIGTERM sluice
// runs its program shutdown hook (which joins its threads) and exits
// cleanly.
func TestModuleMainThreadLogsAndShutdown(t *testing.T) {
	p := startSluice(t, listenerConfig(moduleFilter(t, "lc", "lifecycle", "lc", ""), directRoute, "", ""))
	resp, body := get(t, newClient(t), p.URL("/"), nil)
	if resp.StatusCode != 200 || body != "from the route" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	line := p.WaitLog("lifecycle saw the request")
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	access := p.AccessLines(1)
	if len(access) != 1 || rec["filter"] != "lc" || rec["conn_id"] == nil ||
		rec["conn_id"] != access[0]["conn_id"] || rec["stream_id"] != access[0]["stream_id"] {
		t.Fatalf("module line %v vs access line %v", rec, access)
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if err := p.WaitExit(10 * time.Second); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.Logs())
	}
	if !strings.Contains(p.Logs(), "lifecycle shutdown: background threads joined (3 config events)") {
		t.Fatalf("shutdown hook did not run:\n%s", p.Logs())
	}
}

// TestModuleTimer: the timers module holds a request until its timer
// fires on the worker, then answers; the disabled and deleted timers never
// fire (the module would answer 500 "wrong timer" otherwise).
func TestModuleTimer(t *testing.T) {
	p := startSluice(t, listenerConfig(moduleFilter(t, "tm", "timers", "tm", ""), directRoute, "", ""))
	start := time.Now()
	resp, body := get(t, newClient(t), p.URL("/"), map[string]string{"x-delay-ms": "40"})
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "timer fired after ") {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if elapsed := time.Since(start); elapsed < 40*time.Millisecond {
		t.Fatalf("answered after %v, before the 40 ms timer", elapsed)
	}
}

// TestModuleBodyInjection: a module gives bodies to requests and responses
// that had none. CONTINUE_AND_DONT_END_STREAM really withholds the end:
// the upstream receives the body the module injects later (and the
// client the injected response body); the "add" form creates a buffered
// body for a held request.
func TestModuleBodyInjection(t *testing.T) {
	be := newEchoBackend(t)
	backend := `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: /direct }
    direct_response: { status: 200 }
  - match: { prefix: / }
    route: { cluster: backend }
`
	cluster := staticCluster("backend", "", backendAddr(be.Server))
	for _, tc := range []struct{ config, body string }{
		{`{"request": "inject"}`, "injected request body"},
		{`{"request": "add"}`, "added request body"},
	} {
		p := startSluice(t, listenerConfig(moduleFilter(t, "inj", "inject", "inject", tc.config), backend, cluster, ""))
		resp, body := get(t, newClient(t), p.URL("/up"), nil)
		want := fmt.Sprintf("path=/up len=%d", len(tc.body))
		sha := fmt.Sprintf("%x", sha256.Sum256([]byte(tc.body)))
		if resp.StatusCode != 200 || body != want || resp.Header.Get("x-backend-body-sha") != sha {
			t.Fatalf("%s: got %d %q (body sha %s)", tc.config, resp.StatusCode, body, resp.Header.Get("x-backend-body-sha"))
		}
	}
	p := startSluice(t, listenerConfig(moduleFilter(t, "inj", "inject", "inject", `{"response": "inject"}`), backend, cluster, ""))
	resp, body := get(t, newClient(t), p.URL("/direct"), nil)
	if resp.StatusCode != 200 || body != "injected response body\n" {
		t.Fatalf("response injection: got %d %q", resp.StatusCode, body)
	}
}

// TestModuleOwnerCheck runs sluice as an unprivileged user (uid 4321): a
// module file owned by root or by that user loads, one owned by a third
// user is refused, with the exact error, unless allow_insecure_permissions.
func TestModuleOwnerCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running sluice as another user needs root")
	}
	const runAs, other = 4321, 5555
	dir, err := os.MkdirTemp("", "sluice-owner-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "sluice")
	data, _ := os.ReadFile(sluiceBin)
	os.WriteFile(bin, data, 0o755)
	module, _ := os.ReadFile(moduletest.Build(t, "passthrough"))
	validate := func(owner int, allow bool) (string, error) {
		so := filepath.Join(dir, fmt.Sprintf("owned_by_%d.so", owner))
		os.WriteFile(so, module, 0o755)
		if err := os.Chown(so, owner, owner); err != nil {
			t.Fatal(err)
		}
		filters := fmt.Sprintf("- name: f\n  module: %s\n  filter_name: passthrough\n  config: {}\n", so)
		if allow {
			filters += "  allow_insecure_permissions: true\n"
		}
		cfg := filepath.Join(dir, "sluice.yaml")
		yaml := strings.ReplaceAll(listenerConfig(filters, directRoute, "", ""), "%ACCESS_LOG%", "/dev/null")
		os.WriteFile(cfg, []byte(yaml), 0o644)
		cmd := exec.Command(bin, "validate", "-c", cfg)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: runAs, Gid: runAs}}
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	cfg := filepath.Join(dir, "sluice.yaml")
	for _, owner := range []int{0, runAs} {
		if out, err := validate(owner, false); err != nil || out != cfg+": ok" {
			t.Fatalf("module owned by uid %d, sluice as uid %d: %v\n%s", owner, runAs, err, out)
		}
	}
	so := filepath.Join(dir, fmt.Sprintf("owned_by_%d.so", other))
	want := cfg + `: listeners[0].filter_chains[0].filters[0].config.http_filters[0].module: load module "` + so +
		`": file is owned by uid 5555, neither root nor the user sluice runs as (uid 4321); chown it or set allow_insecure_permissions: true`
	if out, err := validate(other, false); err == nil || !strings.HasSuffix(out, want) {
		t.Fatalf("module owned by uid %d: %v\n%s\nwant the last line %q", other, err, out, want)
	}
	if out, err := validate(other, true); err != nil || out != cfg+": ok" {
		t.Fatalf("allow_insecure_permissions: %v\n%s", err, out)
	}
}
