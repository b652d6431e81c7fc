package ctest

import (
	"bytes"
	"context"
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

// docBlock is one fenced block marked with `<!-- doc-test: KIND -->` on
// the line before it: setup (run in order), run (start sluice, replacing
// the one running), curl (run, compare its output with the expect block
// after it).
type docBlock struct{ kind, text string }

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

// server is a sluice the guide started.
type server struct {
	cmd    *exec.Cmd
	exited chan error
	logs   lockedBuffer
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// The C authoring guide, executed as written in an empty directory: its
// setup steps (sluice, hello.c, the fake-host unit test, the Makefile, the
// configs), each `sluice run` it shows, and every command whose output it
// documents. The only change: its ports become free ports.
func TestCAuthoringGuideWorksAsWritten(t *testing.T) {
	for _, tool := range []string{"gcc", "make", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	raw, err := os.ReadFile(filepath.Join(sluicetest.RepoRoot(), "docs", "authoring-c.md"))
	if err != nil {
		t.Fatal(err)
	}
	port, admin := freePort(t), freePort(t)
	doc := strings.NewReplacer("10080", port, "19901", admin).Replace(string(raw))
	blocks := docBlocks(t, doc)
	dir := t.TempDir()
	env := append(os.Environ(), "SLUICE="+sluicetest.RepoRoot())
	workdir := func() string {
		if _, err := os.Stat(filepath.Join(dir, "hello-filter")); err == nil {
			return filepath.Join(dir, "hello-filter")
		}
		return dir
	}
	var srv *server
	t.Cleanup(func() {
		if srv != nil {
			srv.stop()
		}
	})
	runs, curls := 0, 0
	for i := 0; i < len(blocks); i++ {
		b := blocks[i]
		switch b.kind {
		case "setup":
			cmd := stepCommand(t, "set -eu\n"+b.text)
			cmd.Dir, cmd.Env = workdir(), env
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("setup step failed: %v\n%s\n--- step:\n%s", err, out, b.text)
			}
		case "run":
			if srv != nil {
				srv.stop() // the guide's `kill %1; wait`
			}
			var line string
			for _, l := range strings.Split(strings.TrimSpace(b.text), "\n") {
				if !strings.HasPrefix(l, "kill ") {
					line = strings.TrimSuffix(strings.TrimSpace(l), " &")
				}
			}
			srv = &server{exited: make(chan error, 1)}
			srv.cmd = exec.Command("bash", "-c", "exec "+line)
			srv.cmd.Dir, srv.cmd.Env = workdir(), env
			srv.cmd.Stdout, srv.cmd.Stderr = &srv.logs, &srv.logs
			if err := srv.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func(s *server) { s.exited <- s.cmd.Wait() }(srv)
			waitListening(t, "127.0.0.1:"+port, srv)
			runs++
		case "curl":
			if i+1 >= len(blocks) || blocks[i+1].kind != "expect" {
				t.Fatalf("curl block %q has no expect block after it", b.text)
			}
			cmd := stepCommand(t, b.text)
			cmd.Dir, cmd.Env = workdir(), env
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v\n%s", b.text, err, out)
			}
			got := strings.ReplaceAll(string(out), "\r\n", "\n")
			if want := blocks[i+1].text; got != want {
				t.Errorf("%s\ngot:\n%s\nthe guide says:\n%s", strings.TrimSpace(b.text), got, want)
			}
			curls++
			i++
		default:
			t.Fatalf("unknown or stray doc-test kind %q", b.kind)
		}
	}
	if runs < 2 || curls < 8 {
		t.Fatalf("guide lost doc-test blocks: %d runs, %d checked outputs", runs, curls)
	}
}

func waitListening(t *testing.T, addr string, s *server) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-s.exited:
			t.Fatalf("sluice exited: %v\n%s", err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sluice not listening on %s after 30s\n%s", addr, s.logs.String())
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not synchronisation
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

// stepCommand runs one shell step of the guide with a deadline: a step
// that hangs (say, a `sluice validate` that never returns) fails the test
// and its whole process group is killed instead of outliving the test.
func stepCommand(t *testing.T, script string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}
