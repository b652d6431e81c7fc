package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// heldBackend answers "finished" to each request once the test calls
// release (or ends); started gets one value per request that arrived.
func heldBackend(t *testing.T) (addr string, started chan struct{}, release func()) {
	started = make(chan struct{}, 8)
	held := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-held
		w.Write([]byte("finished"))
	}))
	t.Cleanup(be.Close)
	var once sync.Once
	release = func() { once.Do(func() { close(held) }) }
	t.Cleanup(release) // before be.Close, which waits for its handlers
	return backendAddr(be), started, release
}

// withDrainDelay starts a sluice proxying to be with drain_delay set.
func withDrainDelay(t *testing.T, be, delay string) *proc {
	cfg := listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: { cluster: backend }
`, staticCluster("backend", "", be), "")
	return startSluice(t, strings.Replace(cfg, "drain_timeout: 5s", "drain_delay: "+delay+"\ndrain_timeout: 5s", 1))
}

func readyAnswer(t *testing.T, p *proc) (int, string) {
	t.Helper()
	resp, err := http.Get(p.AdminURL("/ready"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitDraining polls /ready (bounded) until it answers 503 DRAINING.
func waitDraining(t *testing.T, p *proc) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := readyAnswer(t, p)
		if code == 503 && body == "DRAINING\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready still %d %q", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitRefused waits (bounded) until the listener refuses connections.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// During drain_delay /ready fails while new connections are still taken
// and served: the window in which a load balancer or Kubernetes stops
// sending. A second SIGTERM ends the wait at once (exit 1).
func TestDrainDelayServesWhileNotReady(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	t.Cleanup(be.Close)
	p := withDrainDelay(t, backendAddr(be), "60s")
	if code, body := readyAnswer(t, p); code != 200 || body != "LIVE\n" {
		t.Fatalf("/ready before: %d %q", code, body)
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	waitDraining(t, p)
	for i := 0; i < 3; i++ {
		c := newClient(t) // a new connection each time
		resp, body := get(t, c, p.URL("/during-delay"), nil)
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request during drain_delay: %d %q", resp.StatusCode, body)
		}
	}
	p.WaitLog(`"msg":"draining"`, `"delay":60`)
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if err := p.WaitExit(10 * time.Second); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("second SIGTERM: exit %v", err)
	}
	p.WaitLog("second signal: stopping now")
}

// After drain_delay the listeners close; a request in flight finishes and
// sluice exits 0.
func TestDrainDelayThenListenersClose(t *testing.T) {
	be, started, release := heldBackend(t)
	p := withDrainDelay(t, be, "300ms")
	done := getInBackground(t, p.URL("/inflight"))
	<-started
	p.Cmd.Process.Signal(syscall.SIGTERM)
	waitDraining(t, p)
	closing := p.WaitLog("closing listeners; draining connections")
	draining := p.WaitLog(`"msg":"draining"`)
	if d := logTime(t, closing).Sub(logTime(t, draining)); d < 300*time.Millisecond {
		t.Fatalf("listeners closed %v after the drain began, drain_delay is 300ms", d)
	}
	waitRefused(t, p.Addr("main"))
	release()
	if got := <-done; got != "200 OK finished" {
		t.Fatalf("in-flight request: %s", got)
	}
	if err := p.WaitExit(10 * time.Second); err != nil {
		t.Fatalf("exit: %v", err)
	}
}

// getInBackground sends a GET from a goroutine; its outcome ("200 OK
// body" or the error) arrives on the channel.
func getInBackground(t *testing.T, url string) <-chan string {
	done := make(chan string, 1)
	go func() {
		resp, err := newClient(t).Get(url)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- resp.Status + " " + string(b)
	}()
	return done
}

func logTime(t *testing.T, line string) time.Time {
	t.Helper()
	var rec struct{ Ts string }
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", rec.Ts)
	if err != nil {
		t.Fatalf("log time %q: %v", rec.Ts, err)
	}
	return ts
}

// `sluice drain` (the Kubernetes preStop hook) drains the running sluice
// and returns once it has; the SIGTERM that follows stops it at once,
// without a second drain.
func TestDrainCommand(t *testing.T) {
	be, started, release := heldBackend(t)
	p := withDrainDelay(t, be, "0s")
	done := getInBackground(t, p.URL("/inflight"))
	<-started
	if out, err := exec.Command(sluiceBin, "ready", "-admin", p.AdminAddr()).CombinedOutput(); err != nil || string(out) != "LIVE\n" {
		t.Fatalf("sluice ready before the drain: %v %q", err, out)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(sluiceBin, "drain", "-admin", p.AdminAddr())
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitDraining(t, p)
	waitRefused(t, p.Addr("main"))
	select {
	case err := <-exited:
		t.Fatalf("sluice drain returned before the drain finished: %v %q %q", err, out.String(), errOut.String())
	default:
	}
	release()
	if got := <-done; got != "200 OK finished" {
		t.Fatalf("in-flight request: %s", got)
	}
	select {
	case err := <-exited:
		if err != nil || out.String() != "drained\n" {
			t.Fatalf("sluice drain: %v, stdout %q, stderr %q", err, out.String(), errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sluice drain did not return after the drain")
	}
	// Still running, still not ready: the pod gets its SIGTERM next.
	ready := exec.Command(sluiceBin, "ready", "-admin", p.AdminAddr())
	outReady, err := ready.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || string(outReady) != "DRAINING\n" {
		t.Fatalf("sluice ready after the drain: %v %q", err, outReady)
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if err := p.WaitExit(5 * time.Second); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if n := strings.Count(p.Logs(), `"msg":"draining"`); n != 1 {
		t.Fatalf("%d drains, want 1:\n%s", n, p.Logs())
	}
}

// The admin endpoint listens on every address here, as in a pod where the
// kubelet probes /ready: a POST from another address than loopback is
// refused, and the usage errors of `sluice drain` are exact.
func TestDrainEndpointRefusesRemoteCallers(t *testing.T) {
	local := nonLoopbackAddr(t)
	cfg := strings.Replace(listenerConfig("", directRoute, "", ""), "admin: { address: 127.0.0.1:0 }", "admin: { address: 0.0.0.0:0 }", 1)
	p := startSluice(t, cfg)
	_, port, _ := net.SplitHostPort(p.AdminAddr())
	resp, err := http.Post("http://"+net.JoinHostPort(local, port)+"/drain_listeners", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || string(b) != "forbidden: only from a loopback address\n" {
		t.Fatalf("POST from %s: %d %q", local, resp.StatusCode, b)
	}
	if code, body := readyAnswer(t, p); code != 200 || body != "LIVE\n" {
		t.Fatalf("/ready: %d %q", code, body)
	}
	// -admin with the wildcard address reaches it on loopback.
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"drain"}, 2, "sluice drain: -c FILE or -admin ADDR is required\n"},
		{[]string{"drain", "-admin", "localhost:9901"}, 2, "sluice drain: -admin \"localhost:9901\": want IP:port\n"},
		{[]string{"drain", "-admin", "1.2.3.4:1", "-c", "x.yaml"}, 2, "sluice drain: give -c FILE or -admin ADDR, not both\n"},
		{[]string{"ready"}, 2, "sluice ready: -c FILE or -admin ADDR is required\n"},
		{[]string{"ready", "-c", "/nonexistent.yaml"}, 2, "sluice ready: /nonexistent.yaml: cannot read: no such file or directory\n"},
		{[]string{"ready", "-admin", "127.0.0.1:1"}, 1, "sluice ready: Get \"http://127.0.0.1:1/ready\": dial tcp 127.0.0.1:1: connect: connection refused\n"},
	} {
		var stderr bytes.Buffer
		cmd := exec.Command(sluiceBin, c.args...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != c.code || stderr.String() != c.err {
			t.Fatalf("sluice %v: exit %d %q, want %d %q", c.args, code, stderr.String(), c.code, c.err)
		}
	}
	out, err := exec.Command(sluiceBin, "drain", "-admin", "0.0.0.0:"+port).CombinedOutput()
	if err != nil || string(out) != "drained\n" {
		t.Fatalf("sluice drain -admin 0.0.0.0:%s: %v %q", port, err, out)
	}
	waitDraining(t, p)
}

// nonLoopbackAddr is an IPv4 address of this host that is not loopback.
func nonLoopbackAddr(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Skip("this host has no non-loopback IPv4 address to call from")
	return ""
}

// -c finds the admin endpoint in the config; a wildcard address is called
// on loopback of its family.
func TestAdminTarget(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ admin, want string }{
		{"0.0.0.0:9901", "127.0.0.1:9901"},
		{"'[::]:9901'", "[::1]:9901"},
		{"10.1.2.3:9901", "10.1.2.3:9901"},
	} {
		path := filepath.Join(dir, "sluice.yaml")
		cfg := strings.Replace(adminlessConfig(dir), "listeners:", "admin: { address: "+c.admin+" }\nlisteners:", 1)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := adminTarget(path, "")
		if err != nil || got.String() != c.want {
			t.Fatalf("admin %s: %v %v, want %s", c.admin, got, err, c.want)
		}
	}
	noAdmin := filepath.Join(dir, "noadmin.yaml")
	os.WriteFile(noAdmin, []byte(adminlessConfig(dir)), 0o644)
	if _, err := adminTarget(noAdmin, ""); err == nil || err.Error() != noAdmin+": no admin endpoint configured" {
		t.Fatalf("no admin: %v", err)
	}
}

// adminlessConfig is a valid config without an admin endpoint whose
// access log goes to dir.
func adminlessConfig(dir string) string {
	cfg := strings.Replace(listenerConfig("", directRoute, "", ""), "admin: { address: 127.0.0.1:0 }\n", "", 1)
	return strings.ReplaceAll(cfg, "%ACCESS_LOG%", filepath.Join(dir, "access.log"))
}
