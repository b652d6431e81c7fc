package integration

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
)

// docBlock is one fenced block of docs/authoring-rust.md marked with a
// `<!-- doc-test: KIND -->` comment on the line before it.
type docBlock struct {
	kind string // setup | run | curl | expect
	text string
}

func docBlocks(t *testing.T, doc string) []docBlock {
	t.Helper()
	var out []docBlock
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		kind, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "<!-- doc-test: ")
		if !ok {
			continue
		}
		kind = strings.TrimSuffix(kind, " -->")
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			t.Fatalf("line %d: doc-test marker not followed by a fenced block", i+1)
		}
		var body []string
		j := i + 2
		for ; j < len(lines) && lines[j] != "```"; j++ {
			body = append(body, lines[j])
		}
		out = append(out, docBlock{kind, strings.Join(body, "\n") + "\n"})
		i = j
	}
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// The authoring guide, executed as written: its setup commands in an
// empty directory (crates, code, cargo test, builds, YAML), then each
// sluice the guide runs (a `run` block stops the one before it; `run DIR`
// runs in crate DIR, plain `run` in the first crate, greeter), each
// followed by its curl commands with their documented output. The only
// change: the guide's ports 10080 and 19901 become free ports.
func TestAuthoringGuideWorksAsWritten(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(sluicetest.RepoRoot(), "docs", "authoring-rust.md"))
	if err != nil {
		t.Fatal(err)
	}
	port, admin := freePort(t), freePort(t)
	doc := strings.NewReplacer("10080", port, "19901", admin).Replace(string(raw))
	blocks := docBlocks(t, doc)
	var setup strings.Builder
	type exchange struct{ cmd, want string }
	type server struct {
		crate, run string
		curls      []exchange
	}
	var servers []*server
	for i, b := range blocks {
		kind, crate, _ := strings.Cut(b.kind, " ")
		switch kind {
		case "setup":
			setup.WriteString(b.text)
		case "run":
			if crate == "" {
				crate = "greeter"
			}
			servers = append(servers, &server{crate: crate, run: b.text})
		case "curl":
			if i+1 >= len(blocks) || blocks[i+1].kind != "expect" {
				t.Fatalf("curl block %q has no expect block after it", b.text)
			}
			if len(servers) == 0 {
				t.Fatalf("curl block %q before any run block", b.text)
			}
			s := servers[len(servers)-1]
			s.curls = append(s.curls, exchange{b.text, blocks[i+1].text})
		case "expect":
		default:
			t.Fatalf("unknown doc-test kind %q", b.kind)
		}
	}
	// The greeter and the network filter guard.
	if setup.Len() == 0 || len(servers) != 2 {
		t.Fatalf("guide lost its doc-test blocks: setup=%d servers=%d", setup.Len(), len(servers))
	}

	dir := t.TempDir()
	env := append(os.Environ(), "SLUICE="+sluicetest.RepoRoot())
	script := "set -eu\n" + setup.String()
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("setup steps failed: %v\n%s", err, out)
	}

	for _, s := range servers {
		if len(s.curls) == 0 {
			t.Fatalf("run block %q has no curl block after it", s.run)
		}
		crate := filepath.Join(dir, s.crate)
		stop := runGuideServer(t, crate, s.run, env, port)
		for _, c := range s.curls {
			cmd := exec.Command("bash", "-c", c.cmd)
			cmd.Dir, cmd.Env = crate, env
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", c.cmd, err)
			}
			if string(out) != c.want {
				t.Errorf("%s\ngot:\n%s\nthe guide says:\n%s", strings.TrimSpace(c.cmd), out, c.want)
			}
		}
		stop()
	}
}

// runGuideServer starts the guide's run command in crate and waits until
// it listens on port; stop (also run by t.Cleanup) ends it and waits.
func runGuideServer(t *testing.T, crate, run string, env []string, port string) (stop func()) {
	t.Helper()
	server := exec.Command("bash", "-c", "exec "+run)
	server.Dir, server.Env = crate, env
	var logs lockedBuffer
	server.Stdout, server.Stderr = &logs, &logs
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- server.Wait() }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			server.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				server.Process.Kill()
				<-exited
			}
		})
	}
	t.Cleanup(stop)
	waitListening(t, "127.0.0.1:"+port, exited, &logs)
	return stop
}

// waitListening polls until addr accepts connections (bounded), failing
// early if the server exited.
func waitListening(t *testing.T, addr string, exited chan error, logs *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("sluice exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sluice not listening on %s after 30s\n%s", addr, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockedBuffer collects a child's output while the test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
