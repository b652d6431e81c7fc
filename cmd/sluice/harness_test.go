package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
)

// sluiceBin is the real binary under test, built once by TestMain.
var sluiceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if sluiceBin, err = sluicetest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
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

// proc is a running sluice.
type proc = sluicetest.Proc

// startSluice runs the binary on yaml ("%ACCESS_LOG%" becomes a file the
// test can read with AccessLines).
func startSluice(t *testing.T, yaml string) *proc { return sluicetest.Start(t, sluiceBin, yaml) }

// writeConfig writes yaml to path for commands run without startSluice
// (validate, a run expected to fail), with "%ACCESS_LOG%" pointing beside
// it: left as is, the literal name would be created in the working
// directory.
func writeConfig(t *testing.T, path, yaml string) {
	t.Helper()
	yaml = strings.ReplaceAll(yaml, "%ACCESS_LOG%", filepath.Join(filepath.Dir(path), "access.log"))
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
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
