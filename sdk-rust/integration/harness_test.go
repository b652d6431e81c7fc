package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var (
	// sluiceBin and moduleDir are built once by TestMain.
	sluiceBin string
	moduleDir string
)

// repoRoot is the repository root (this package is sdk-rust/integration).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

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
		sluiceBin = filepath.Join(dir, "sluice")
		moduleDir = filepath.Join(dir, "modules")
		steps := [][]string{{"make", "-s", "-C", "sdk-rust", "OUT=" + moduleDir}}
		// SLUICE_BIN runs the tests against an already built binary.
		if bin := os.Getenv("SLUICE_BIN"); bin != "" {
			sluiceBin = bin
		} else {
			steps = append(steps, []string{"go", "build", "-o", sluiceBin, "./cmd/sluice"})
		}
		for _, s := range steps {
			cmd := exec.Command(s[0], s[1:]...)
			cmd.Dir = repoRoot()
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", strings.Join(s, " "), err)
				return 1
			}
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
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	mu     sync.Mutex
	logs   bytes.Buffer
	addrs  map[string]string
	admin  string
	exited chan struct{}
	err    error
}

// startSluice writes yaml to a file, runs `sluice run -c FILE` and waits
// (bounded) until it logged "sluice started". The process is killed in
// t.Cleanup.
func startSluice(t testing.TB, yaml string) *proc {
	t.Helper()
	p, err := launch(t, yaml)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// launch starts sluice; it returns an error (with the logs) if the process
// exits during start-up.
func launch(t testing.TB, yaml string) (*proc, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sluiceBin, "run", "-c", path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, addrs: map[string]string{}, exited: make(chan struct{})}
	ready := make(chan struct{})
	go p.readLogs(stderr, ready)
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("sluice logs:\n%s", p.Logs())
		}
	})
	select {
	case <-ready:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("sluice exited during start-up (%v):\n%s", p.err, p.Logs())
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("sluice did not start within 30s:\n%s", p.Logs())
	}
}

// readLogs keeps every stderr line and learns the listener addresses from
// the JSON log ("listening" records carry the bound address, so port 0
// works).
func (p *proc) readLogs(r io.Reader, ready chan struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	started := false
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.logs.WriteString(line + "\n")
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil {
			switch rec["msg"] {
			case "listening":
				p.addrs[fmt.Sprint(rec["listener"])] = fmt.Sprint(rec["address"])
			case "admin listening":
				p.admin = fmt.Sprint(rec["address"])
			case "sluice started":
				if !started {
					started = true
					close(ready)
				}
			}
		}
		p.mu.Unlock()
	}
	p.err = p.cmd.Wait()
	close(p.exited)
}

func (p *proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (p *proc) url(path string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "http://" + p.addrs["main"] + path
}

func (p *proc) adminURL(path string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "http://" + p.admin + path
}

// waitLog waits (bounded) until a log line contains every needle.
func (p *proc) waitLog(needles ...string) string {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(p.Logs(), "\n") {
			all := true
			for _, n := range needles {
				all = all && strings.Contains(line, n)
			}
			if all {
				return line
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no log line with %q", needles)
		}
		// Logs arrive through a pipe; poll at a modest pace.
		time.Sleep(20 * time.Millisecond)
	}
}

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
