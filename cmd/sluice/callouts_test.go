package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/module/moduletest"
)

// authService is the real authorization service the ext_authz example
// asks, keyed by the Authorization header:
//
//	Bearer good   200, x-user-id: alice (and x-other, which is not copied)
//	Bearer bad    403, "forbidden by policy"
//	Bearer boom   500
//	Bearer slow   answers 200 after 2 s (past the module's timeout)
//	Bearer hang   never answers; reports on abandoned when sluice gives up
//	(none)        401, www-authenticate: Bearer realm="sluice"
type authService struct {
	*httptest.Server
	abandoned chan struct{}
	arrived   chan struct{} // a "hang" check arrived
	mu        sync.Mutex
	seen      []string // "METHOD PATH authorization" of each check
}

func newAuthService(t *testing.T) *authService {
	t.Helper()
	a := &authService{abandoned: make(chan struct{}, 8), arrived: make(chan struct{}, 8)}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen = append(a.seen, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("authorization"))
		a.mu.Unlock()
		switch r.Header.Get("authorization") {
		case "Bearer good":
			w.Header().Set("x-user-id", "alice")
			w.Header().Set("x-other", "not copied")
		case "Bearer bad":
			w.WriteHeader(403)
			io.WriteString(w, "forbidden by policy")
		case "Bearer boom":
			w.WriteHeader(500)
		case "Bearer slow":
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		case "Bearer hang":
			a.arrived <- struct{}{}
			<-r.Context().Done()
			a.abandoned <- struct{}{}
		default:
			w.Header().Set("www-authenticate", `Bearer realm="sluice"`)
			w.WriteHeader(401)
			io.WriteString(w, "who are you?")
		}
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *authService) checks() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

// userEcho is the protected upstream: it shows what the request carried.
func userEcho(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("x-seen-user", r.Header.Get("x-user-id"))
		w.Header().Set("x-seen-other", r.Header.Get("x-other"))
		fmt.Fprintf(w, "upstream %s %s len=%d", r.Method, r.URL.RequestURI(), len(body))
	}))
	t.Cleanup(s.Close)
	return s
}

// extAuthzSluice runs sluice with the ext_authz example in front of the
// upstream, asking the cluster "authz" at authAddr.
func extAuthzSluice(t *testing.T, authAddr, upstream, moduleConfig string) *proc {
	t.Helper()
	return startSluice(t, listenerConfig(
		moduleFilter(t, "authz", "ext_authz", "ext_authz", moduleConfig), `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: { cluster: upstream }
`, staticCluster("upstream", "", upstream)+staticCluster("authz", "", authAddr), ""))
}

func request(t *testing.T, c *http.Client, method, url, auth, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// The ext_authz example over real sockets: decisions from a real
// authorization service, its timeout, the service going down, a client
// leaving mid-check, and the done hook's thread.
func TestExtAuthzModule(t *testing.T) {
	auth := newAuthService(t)
	up := userEcho(t)
	p := extAuthzSluice(t, backendAddr(auth.Server), backendAddr(up), `{"cluster": "authz", "path_prefix": "/check",
  "timeout_ms": 300, "allowed_headers": ["authorization"], "allowed_upstream_headers": ["x-user-id"],
  "status_on_error": 503}`)
	c := newClient(t)
	decisions := func(d string) string { return `module.authz.decisions{decision="` + d + `"}` }

	t.Run("allowed", func(t *testing.T) {
		resp, body := request(t, c, "POST", p.URL("/orders?id=7"), "Bearer good", "payload")
		if resp.StatusCode != 200 || body != "upstream POST /orders?id=7 len=7" ||
			resp.Header.Get("x-seen-user") != "alice" || resp.Header.Get("x-seen-other") != "" {
			t.Fatalf("%d %q user=%q other=%q", resp.StatusCode, body, resp.Header.Get("x-seen-user"), resp.Header.Get("x-seen-other"))
		}
		// The check carried the method, the prefixed path and the header.
		if got := auth.checks(); got[len(got)-1] != "POST /check/orders?id=7 Bearer good" {
			t.Fatalf("checks %q", got)
		}
		waitStat(t, p, decisions("allowed"), 1)
	})

	t.Run("denied", func(t *testing.T) {
		resp, body := request(t, c, "GET", p.URL("/orders"), "Bearer bad", "")
		if resp.StatusCode != 403 || body != "forbidden by policy" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		resp, body = request(t, c, "GET", p.URL("/orders"), "", "")
		if resp.StatusCode != 401 || body != "who are you?" || resp.Header.Get("www-authenticate") != `Bearer realm="sluice"` {
			t.Fatalf("%d %q %q", resp.StatusCode, body, resp.Header.Get("www-authenticate"))
		}
		waitStat(t, p, decisions("denied"), 2)
	})

	t.Run("service error fails closed", func(t *testing.T) {
		resp, body := request(t, c, "GET", p.URL("/orders"), "Bearer boom", "")
		if resp.StatusCode != 503 || body != "authorization check failed\n" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		waitStat(t, p, decisions("failed_closed"), 1)
	})

	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		resp, body := request(t, c, "GET", p.URL("/orders"), "Bearer slow", "")
		if resp.StatusCode != 503 || body != "authorization check failed\n" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if took := time.Since(start); took >= 2*time.Second {
			t.Fatalf("answered after %v: the 300 ms check timeout did not apply", took)
		}
		waitStat(t, p, `module.authz.callouts_failed{reason="timeout"}`, 1)
		waitStat(t, p, decisions("failed_closed"), 2)
	})

	t.Run("client leaves mid-check", func(t *testing.T) {
		conn, err := net.Dial("tcp", p.Addr("main"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer hang\r\n\r\n")
		select {
		case <-auth.arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the check never reached the service")
		}
		conn.Close()
		// The stream ended, so sluice cancelled the callout: the service
		// sees the check abandoned, and it is counted.
		select {
		case <-auth.abandoned:
		case <-time.After(10 * time.Second):
			t.Fatal("the service never saw the check abandoned")
		}
		waitStat(t, p, "module.authz.callouts_cancelled", 1)
		waitStat(t, p, "module.callouts_active", 0)
		// Had the callout gone on, its 300 ms timeout would have run the
		// done hook (a failed_closed decision): give it twice that to show.
		time.Sleep(600 * time.Millisecond)
		// No done hook ran for the cancelled check (it would have made a
		// decision), and sluice still serves.
		resp, _ := request(t, c, "GET", p.URL("/after"), "Bearer good", "")
		if resp.StatusCode != 200 {
			t.Fatalf("after the cancelled check: %d", resp.StatusCode)
		}
		waitStat(t, p, decisions("allowed"), 2)
		if d, cl := adminStat(t, p, decisions("denied")), adminStat(t, p, decisions("failed_closed")); d != 2 || cl != 2 {
			t.Fatalf("decisions after the cancelled check: denied %d failed_closed %d", d, cl)
		}
	})

	t.Run("thread affinity under load", func(t *testing.T) {
		const clients, each = 16, 25
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for g := 0; g < clients; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := net.Dial("tcp", p.Addr("main"))
				if err != nil {
					errs <- err
					return
				}
				defer conn.Close()
				br := bufio.NewReader(conn)
				for i := 0; i < each; i++ {
					fmt.Fprintf(conn, "GET /load HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\n\r\n")
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						errs <- err
						return
					}
					io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || resp.Header.Get("x-seen-user") != "alice" {
						errs <- fmt.Errorf("status %d user %q", resp.StatusCode, resp.Header.Get("x-seen-user"))
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
		waitStat(t, p, decisions("allowed"), 2+clients*each)
		// Every done hook ran on the thread that created its filter.
		if n := adminStat(t, p, "module.authz.wrong_thread"); n != 0 {
			t.Fatalf("%d done hooks ran on another thread", n)
		}
	})

	t.Run("service down", func(t *testing.T) {
		auth.Close()
		resp, body := request(t, c, "GET", p.URL("/orders"), "Bearer good", "")
		if resp.StatusCode != 503 || body != "authorization check failed\n" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		waitStat(t, p, decisions("failed_closed"), 3)
		if n := adminStat(t, p, `module.authz.callouts_failed{reason="connect_failure"}`); n < 1 {
			t.Fatalf("callouts_failed{reason=connect_failure} = %d", n)
		}
	})
	started := adminStat(t, p, "module.authz.callouts_started")
	ended := adminStat(t, p, "module.authz.callouts_succeeded") + adminStat(t, p, "module.authz.callouts_cancelled")
	for _, r := range []string{"timeout", "connect_failure", "reset"} {
		if _, stats := get(t, c, p.AdminURL("/stats"), nil); strings.Contains(stats, `callouts_failed{reason="`+r+`"}`) {
			ended += adminStat(t, p, `module.authz.callouts_failed{reason="`+r+`"}`)
		}
	}
	if started != ended {
		t.Fatalf("callouts started %d, ended %d", started, ended)
	}
}

// With failure_mode_allow the request goes on when the service cannot
// answer (here: nothing listens).
func TestExtAuthzFailOpen(t *testing.T) {
	up := userEcho(t)
	p := extAuthzSluice(t, freePort(t), backendAddr(up), `{"cluster": "authz", "failure_mode_allow": true}`)
	resp, body := request(t, newClient(t), "GET", p.URL("/open"), "Bearer good", "")
	if resp.StatusCode != 200 || body != "upstream GET /open len=0" || resp.Header.Get("x-seen-user") != "" {
		t.Fatalf("%d %q user=%q", resp.StatusCode, body, resp.Header.Get("x-seen-user"))
	}
	waitStat(t, p, `module.authz.decisions{decision="failed_open"}`, 1)
	waitStat(t, p, `module.authz.callouts_failed{reason="connect_failure"}`, 1)
}

// A bad ext_authz config stops start-up (and validate) with the module's
// reason, naming the file and the YAML path.
func TestExtAuthzBadConfig(t *testing.T) {
	so := moduletest.Build(t, "ext_authz")
	const fpath = "listeners[0].filter_chains[0].filters[0].config.http_filters[0].config"
	for _, tc := range []struct{ config, cause string }{
		{`{}`, `field "cluster" is required`},
		{`{"cluster": "authz", "timeout": 5}`, `unknown field "timeout" (allowed: cluster, path_prefix, timeout_ms, allowed_headers, allowed_upstream_headers, failure_mode_allow, status_on_error)`},
		{`{"cluster": "authz", "allowed_headers": "authorization"}`, `field "allowed_headers" must be an array of header names`},
		{`{"cluster": "authz", "status_on_error": 99}`, `field "status_on_error" must be between 200 and 599`},
	} {
		cfg := filepath.Join(t.TempDir(), "bad.yaml")
		filters := fmt.Sprintf("- name: authz\n  module: %s\n  filter_name: ext_authz\n  config: %s\n", so, tc.config)
		os.WriteFile(cfg, []byte(listenerConfig(filters, directRoute, "", "")), 0o644)
		out, err := exec.Command(sluiceBin, "validate", "-c", cfg).CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		want := fmt.Sprintf(`%s: %s: module "%s", filter "ext_authz": config rejected by the module: %s`, cfg, fpath, so, tc.cause)
		if err == nil || lines[len(lines)-1] != want {
			t.Errorf("config %s: err=%v\n%s\nwant the last line %q", tc.config, err, out, want)
		}
	}
}
