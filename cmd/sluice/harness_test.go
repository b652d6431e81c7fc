package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// sluiceBin is the real binary under test, built once by TestMain.
var sluiceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", sluiceBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building sluice:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// proc is a running sluice process.
type proc struct {
	t         *testing.T
	cmd       *exec.Cmd
	addrs     map[string]string // listener name -> address
	admin     string
	accessLog string
	mu        sync.Mutex
	logs      bytes.Buffer
	exited    chan struct{}
	exitErr   error
}

// configTemplate fills the common parts of a test config: %ACCESS_LOG% and
// listener addresses on port 0.
func startSluice(t *testing.T, yaml string) *proc {
	t.Helper()
	dir := t.TempDir()
	access := filepath.Join(dir, "access.log")
	yaml = strings.ReplaceAll(yaml, "%ACCESS_LOG%", access)
	yaml = strings.ReplaceAll(yaml, "%DIR%", dir)
	path := filepath.Join(dir, "sluice.yaml")
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
	p := &proc{t: t, cmd: cmd, addrs: map[string]string{}, accessLog: access, exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil {
				switch rec["msg"] {
				case "listening":
					p.addrs[rec["listener"].(string)] = rec["address"].(string)
				case "admin listening":
					p.admin = rec["address"].(string)
				case "sluice started":
					if !signalled {
						signalled = true
						close(ready)
					}
				}
			}
			p.mu.Unlock()
		}
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("sluice exited during start-up: %v\n%s", p.exitErr, p.Logs())
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("sluice did not start within 20s\n%s", p.Logs())
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		if t.Failed() {
			t.Logf("sluice logs:\n%s", p.Logs())
		}
	})
	return p
}

func (p *proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (p *proc) addr(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.addrs[name]
	if !ok {
		p.t.Fatalf("no listener %q", name)
	}
	return a
}

// url is http://<listener main><path>.
func (p *proc) url(path string) string { return "http://" + p.addr("main") + path }

// waitExit waits for the process to end after a signal.
func (p *proc) waitExit(d time.Duration) error {
	select {
	case <-p.exited:
		return p.exitErr
	case <-time.After(d):
		p.t.Fatalf("sluice did not exit within %v", d)
		return nil
	}
}

// accessLines reads the JSON access log, waiting (bounded) until at least
// n lines were flushed.
func (p *proc) accessLines(n int) []map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, _ := os.ReadFile(p.accessLog)
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if l == "" {
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				p.t.Fatalf("bad access log line %q: %v", l, err)
			}
			out = append(out, rec)
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		// The access log flushes every 100 ms; poll at that pace.
		time.Sleep(50 * time.Millisecond)
	}
}

// client is a plain HTTP client that does not share connections between
// tests.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// rawExchange writes raw bytes to addr and reads until the server closes
// or the deadline passes.
func rawExchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(c)
	return string(out)
}

// listenerConfig renders a one-listener config with the given http filters
// (YAML list items, may be empty), routes (virtual_hosts YAML) and clusters.
func listenerConfig(filters, vhosts, clusters, hcmExtra string) string {
	return fmt.Sprintf(`concurrency: 2
drain_timeout: 5s
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
%s
        access_log: [{ path: "%%ACCESS_LOG%%", format: json }]
        http_filters:
%s
        - name: router
        route_config:
          virtual_hosts:
%s
clusters:
%s
`, indent(hcmExtra, 8), indent(filters, 8), indent(vhosts, 10), indent(clusters, 0))
}

func indent(s string, n int) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}

// staticCluster renders a cluster pointing at addrs ("127.0.0.1:port").
func staticCluster(name string, extra string, addrs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "- name: %s\n  connect_timeout: 2s\n", name)
	if extra != "" {
		b.WriteString(indent(extra, 2) + "\n")
	}
	b.WriteString("  load_assignment:\n    endpoints:\n    - lb_endpoints:\n")
	for _, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		fmt.Fprintf(&b, "      - endpoint: { address: { socket_address: { address: %s, port_value: %s } } }\n", host, port)
	}
	return b.String()
}
