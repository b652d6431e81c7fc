package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
)

var (
	// sluiceBin and moduleDir are built once by TestMain.
	sluiceBin string
	moduleDir string
)

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("cargo"); err != nil {
		fmt.Fprintln(os.Stderr, "sdk-rust/integration: cargo not found; the Rust toolchain is needed to build the modules")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "sluice-rust-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		moduleDir = filepath.Join(dir, "modules")
		build := exec.Command("make", "-s", "-C", "sdk-rust", "OUT="+moduleDir)
		build.Dir = sluicetest.RepoRoot()
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building the Rust modules:", err)
			return 1
		}
		// SLUICE_BIN runs the tests against an already built binary.
		if sluiceBin, err = sluicetest.Build(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		code := m.Run()
		if code == 0 {
			// Every test stops what it started (processes, servers, clients).
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, "goleak:", err)
				code = 1
			}
		}
		return code
	}()
	os.Exit(code)
}

func modulePath(name string) string { return filepath.Join(moduleDir, "lib"+name+".so") }

// proc is a running sluice.
type proc = sluicetest.Proc

// startSluice runs the binary on yaml and waits until it started; it is
// stopped in t.Cleanup.
func startSluice(t testing.TB, yaml string) *proc { return sluicetest.Start(t, sluiceBin, yaml) }

// launch is startSluice that returns start-up failures (with the logs).
func launch(t testing.TB, yaml string) (*proc, error) { return sluicetest.Launch(t, sluiceBin, yaml) }

// filter renders one module filter entry of http_filters.
func filter(name, module, filterName, configJSON string) string {
	return fmt.Sprintf("        - name: %s\n          module: %s\n          filter_name: %s\n          config: %s\n",
		name, modulePath(module), filterName, configJSON)
}

// config is a one-listener config: the given module filters, then the
// router to the backend at backendAddr.
func config(filters, backendAddr string) string {
	host, port, _ := net.SplitHostPort(backendAddr)
	return fmt.Sprintf(`concurrency: 2
drain_timeout: 1s
log: { level: info, format: json }
admin: { address: 127.0.0.1:0 }
listeners:
- name: main
  address: 127.0.0.1:0
  filter_chains:
  - filters:
    - name: http_connection_manager
      config:
        stat_prefix: ingress
        http_filters:
%s        - name: router
        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
            - match: { prefix: / }
              route: { cluster: backend, timeout: 10s }
clusters:
- name: backend
  connect_timeout: 2s
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: %s, port_value: %s } } }
`, filters, host, port)
}

// backend echoes what it got: every request header as x-echo-<name>, the
// body as the response body. /secret answers "a secret!" instead.
type backend struct {
	*httptest.Server
	requests atomic.Int64
}

func newBackend(t testing.TB) *backend {
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		for name, values := range r.Header {
			w.Header().Set("x-echo-"+strings.ToLower(name), strings.Join(values, "|"))
		}
		w.Header().Set("x-echo-content-length", fmt.Sprint(r.ContentLength))
		w.Header().Set("x-echo-transfer-encoding", strings.Join(r.TransferEncoding, ","))
		if r.URL.Path == "/secret" {
			w.Header().Set("content-length", "9")
			io.WriteString(w, "a secret!")
			return
		}
		w.Write(body)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) addr() string { return strings.TrimPrefix(b.URL, "http://") }

func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// response is what a test asserts on.
type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return response{resp.StatusCode, resp.Header, string(body)}
}

func get(t *testing.T, c *http.Client, url string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, c, req)
}
