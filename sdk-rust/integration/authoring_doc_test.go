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
// empty directory (crate, code, cargo test, builds, YAML), then sluice as
// the guide runs it, then its curl commands with their documented output.
// The only change: the guide's port 10080 becomes a free port.
func TestAuthoringGuideWorksAsWritten(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(sluicetest.RepoRoot(), "docs", "authoring-rust.md"))
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	doc := strings.ReplaceAll(string(raw), "10080", port)
	blocks := docBlocks(t, doc)
	var setup, run strings.Builder
	type exchange struct{ cmd, want string }
	var curls []exchange
	for i, b := range blocks {
		switch b.kind {
		case "setup":
			setup.WriteString(b.text)
		case "run":
			run.WriteString(b.text)
		case "curl":
			if i+1 >= len(blocks) || blocks[i+1].kind != "expect" {
				t.Fatalf("curl block %q has no expect block after it", b.text)
			}
			curls = append(curls, exchange{b.text, blocks[i+1].text})
		case "expect":
		default:
			t.Fatalf("unknown doc-test kind %q", b.kind)
		}
	}
	if setup.Len() == 0 || run.Len() == 0 || len(curls) == 0 {
		t.Fatalf("guide lost its doc-test blocks: setup=%d run=%d curl=%d", setup.Len(), run.Len(), len(curls))
	}

	dir := t.TempDir()
	env := append(os.Environ(), "SLUICE="+sluicetest.RepoRoot())
	script := "set -eu\n" + setup.String()
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("setup steps failed: %v\n%s", err, out)
	}

	crate := filepath.Join(dir, "greeter")
	server := exec.Command("bash", "-c", "exec "+run.String())
	server.Dir, server.Env = crate, env
	var logs lockedBuffer
	server.Stdout, server.Stderr = &logs, &logs
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- server.Wait() }()
	t.Cleanup(func() {
		server.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			server.Process.Kill()
			<-exited
		}
	})
	waitListening(t, "127.0.0.1:"+port, exited, &logs)

	for _, c := range curls {
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
