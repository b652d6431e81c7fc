package sluicetest

// Executable guides: the authoring guides (docs/authoring-c.md,
// docs/authoring-rust.md) mark their fenced blocks with
// `<!-- doc-test: KIND -->` so their tests can run them as written. These
// helpers are what those tests share: reading the marked blocks, running
// a shell step with a deadline, and running the sluice a guide starts.

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DocBlock is one fenced block marked with `<!-- doc-test: KIND -->` on
// the line before it. Kind is the marker's text (for example "setup",
// "run greeter", "curl", "expect"); Text ends with a newline.
type DocBlock struct {
	Kind string
	Text string
}

// DocBlocks returns the marked blocks of a Markdown document, in order.
// A marker not followed by a fenced block fails the test.
func DocBlocks(t testing.TB, doc string) []DocBlock {
	t.Helper()
	var out []DocBlock
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
		out = append(out, DocBlock{kind, strings.Join(body, "\n") + "\n"})
		i = j
	}
	return out
}

// FreePort returns a loopback TCP port that was free a moment ago, for
// configs (like a guide's) that must name their port.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// StepCommand is one shell step of a guide with a deadline: a step that
// hangs (say, a `sluice validate` that never returns) fails the test and
// its whole process group is killed instead of outliving the test.
func StepCommand(t testing.TB, script string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// CheckGuideOutput runs a guide's command in dir and compares its standard
// output with what the guide says it prints (CRLF read as LF).
func CheckGuideOutput(t testing.TB, dir string, env []string, command, want string) {
	t.Helper()
	cmd := StepCommand(t, command)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
	if got := strings.ReplaceAll(string(out), "\r\n", "\n"); got != want {
		t.Errorf("%s\ngot:\n%s\nthe guide says:\n%s", strings.TrimSpace(command), got, want)
	}
}

// GuideServer is a sluice a guide starts with its own command line.
type GuideServer struct {
	cmd    *exec.Cmd
	exited chan error
	logs   lockedBuffer
	once   sync.Once
}

// StartGuideServer runs command (a guide's `sluice run ...` line) with
// bash in dir and waits, bounded, until addr accepts connections. The
// server is stopped by Stop or at the end of the test.
func StartGuideServer(t testing.TB, dir string, env []string, command, addr string) *GuideServer {
	t.Helper()
	s := &GuideServer{exited: make(chan error, 1)}
	s.cmd = exec.Command("bash", "-c", "exec "+command)
	s.cmd.Dir, s.cmd.Env = dir, env
	s.cmd.Stdout, s.cmd.Stderr = &s.logs, &s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case err := <-s.exited:
			s.exited <- err // Stop waits for it too
			t.Fatalf("sluice exited: %v\n%s", err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sluice not listening on %s after 30s\n%s", addr, s.logs.String())
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not synchronisation
	}
}

// Stop sends SIGTERM and waits (killing it after 10 s); it is idempotent.
func (s *GuideServer) Stop() {
	s.once.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
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
