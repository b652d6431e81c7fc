// Package sluicetest runs the real sluice binary for end-to-end tests: it
// builds cmd/sluice once per test process, starts it on a config, learns
// the bound addresses from its JSON log, and reads its JSON access log.
// The end-to-end suites of cmd/sluice and sdk-rust/integration share it.
package sluicetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RepoRoot is the repository root (found from this file's path).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Build compiles cmd/sluice into dir and returns the binary's path; with
// SLUICE_BIN set, it returns that binary instead (to test a release build).
func Build(dir string) (string, error) {
	if bin := os.Getenv("SLUICE_BIN"); bin != "" {
		return bin, nil
	}
	bin := filepath.Join(dir, "sluice")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = RepoRoot()
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building sluice: %w", err)
	}
	return bin, nil
}

// Proc is a running sluice.
type Proc struct {
	Cmd *exec.Cmd
	// AccessLog is the file that "%ACCESS_LOG%" in the config became.
	AccessLog string
	// Config is the config file sluice runs.
	Config string

	t      testing.TB
	mu     sync.Mutex
	logs   bytes.Buffer
	addrs  map[string]string
	admin  string
	exited chan struct{}
	err    error
}

// Start is Launch that fails the test when sluice does not start.
func Start(t testing.TB, bin, yaml string) *Proc {
	t.Helper()
	p, err := Launch(t, bin, yaml)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Launch writes yaml to a file — "%ACCESS_LOG%" and "%DIR%" replaced by a
// file and the directory of this test — runs `sluice run -c FILE` and waits
// (bounded) until it logged "sluice started". The config must log JSON. It
// returns an error with the logs when sluice exits during start-up. The
// process is stopped in t.Cleanup: SIGTERM, then SIGKILL after 2 s.
func Launch(t testing.TB, bin, yaml string) (*Proc, error) {
	t.Helper()
	return LaunchEnv(t, bin, yaml, nil)
}

// LaunchEnv is Launch with extra environment variables ("NAME=value").
func LaunchEnv(t testing.TB, bin, yaml string, env []string) (*Proc, error) {
	t.Helper()
	dir := t.TempDir()
	access := filepath.Join(dir, "access.log")
	yaml = strings.ReplaceAll(yaml, "%ACCESS_LOG%", access)
	yaml = strings.ReplaceAll(yaml, "%DIR%", dir)
	path := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-c", path)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, AccessLog: access, Config: path, t: t, addrs: map[string]string{}, exited: make(chan struct{})}
	ready := make(chan struct{})
	go p.readLogs(stderr, ready)
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(2 * time.Second):
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

// readLogs keeps every stderr line and learns the bound addresses from the
// JSON log ("listening" records carry them, so port 0 works).
func (p *Proc) readLogs(r io.Reader, ready chan struct{}) {
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
	p.err = p.Cmd.Wait()
	close(p.exited)
}

// Logs is everything sluice wrote to stderr so far.
func (p *Proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// Addr is the bound address of the named listener.
func (p *Proc) Addr(listener string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.addrs[listener]
	if !ok {
		p.t.Fatalf("no listener %q", listener)
	}
	return a
}

// URL is http://<listener "main"><path>.
func (p *Proc) URL(path string) string { return "http://" + p.Addr("main") + path }

// AdminAddr is the admin endpoint's bound address.
func (p *Proc) AdminAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.admin
}

// AdminURL is http://<admin><path>.
func (p *Proc) AdminURL(path string) string { return "http://" + p.AdminAddr() + path }

// WaitLog waits (bounded) until a log line contains every needle and
// returns it.
func (p *Proc) WaitLog(needles ...string) string {
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

// AccessLines reads the JSON access log, waiting (bounded) until at least
// n lines were flushed.
func (p *Proc) AccessLines(n int) []map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, _ := os.ReadFile(p.AccessLog)
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

// WaitExit waits for the process to end (after a signal) and returns its
// exit error.
func (p *Proc) WaitExit(d time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	case <-time.After(d):
		p.t.Fatalf("sluice did not exit within %v", d)
		return nil
	}
}
