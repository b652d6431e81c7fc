package accesslog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluiceproxy/sluice/host/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait; reaching it is a hang, not a timing result.
const waitLimit = 20 * time.Second

func startWorker(t *testing.T, index int) *worker.Worker {
	t.Helper()
	w, err := worker.New(worker.Options{Index: index})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run()
	t.Cleanup(func() {
		w.Stop()
		<-w.Done()
	})
	return w
}

// onLoop runs fn on w's loop and waits (bounded) for it to return.
func onLoop(t *testing.T, w *worker.Worker, fn func()) {
	t.Helper()
	done := make(chan struct{})
	w.Post(func() { fn(); close(done) })
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("the worker did not come back: it is blocked")
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// TestLinesFromEveryWorkerReachTheFile: lines are written whole, each
// worker's in its order, and Close writes what the workers still held.
func TestLinesFromEveryWorkerReachTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	s, err := Open(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	ws := []*worker.Worker{startWorker(t, 0), startWorker(t, 1)}
	const perWorker = 5000 // several buffers' worth each
	for i, w := range ws {
		onLoop(t, w, func() {
			for j := 0; j < perWorker; j++ {
				s.Write(w, fmt.Appendf(nil, "w%d line %05d %s\n", i, j, strings.Repeat("x", 40)))
			}
		})
	}
	for _, w := range ws {
		w.Stop()
		<-w.Done()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	for _, l := range readLines(t, path) {
		var w string
		var n int
		if _, err := fmt.Sscanf(l, "%s line %d", &w, &n); err != nil {
			t.Fatalf("torn line %q", l)
		}
		if n != next[w] {
			t.Fatalf("%s: line %d after %d", w, n, next[w]-1)
		}
		next[w]++
	}
	if next["w0"] != perWorker || next["w1"] != perWorker {
		t.Fatalf("lines written: %v", next)
	}
	if st := s.Stats(); st.Written != 2*perWorker || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPartialBufferIsFlushedWithoutMoreTraffic: one line on an otherwise
// idle worker reaches the file within the flush interval.
func TestPartialBufferIsFlushedWithoutMoreTraffic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	s, err := Open(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := startWorker(t, 0)
	onLoop(t, w, func() { s.Write(w, []byte("only line\n")) })
	deadline := time.Now().Add(waitLimit)
	for {
		if data, _ := os.ReadFile(path); string(data) == "only line\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a lone line never reached the file")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSinkThatNeverDrainsDropsAndNeverBlocks: a FIFO nobody reads. Writes
// keep returning at once; what the writer cannot take is dropped and
// counted; Close gives up instead of hanging.
func TestSinkThatNeverDrainsDropsAndNeverBlocks(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	reader, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(fifo, 1)
	if err != nil {
		t.Fatal(err)
	}
	w := startWorker(t, 0)
	line := []byte(strings.Repeat("y", 199) + "\n")
	const lines = 50000 // 10 MB against a 64 KiB pipe and a 256 KiB queue
	for round := 0; round < 10; round++ {
		onLoop(t, w, func() {
			for j := 0; j < lines/10; j++ {
				s.Write(w, line)
			}
		})
	}
	st := s.Stats()
	if st.Dropped == 0 || st.Dropped > lines {
		t.Fatalf("dropped %d of %d lines", st.Dropped, lines)
	}
	w.Stop()
	<-w.Done()
	if err := s.Close(); err != ErrCloseTimeout {
		t.Fatalf("Close on a stuck file: %v, want ErrCloseTimeout", err)
	}
	// Let the stuck writer go (goleak): reading unblocks it.
	reader.Close()
	select {
	case <-s.done:
	case <-time.After(waitLimit):
		t.Fatal("writer still stuck after the reader went away")
	}
}

// TestReopenFollowsLogRotation: after the file is renamed away, Reopen
// makes later lines go to a new file at the configured path.
func TestReopenFollowsLogRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	s, err := Open(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	w := startWorker(t, 0)
	onLoop(t, w, func() { s.Write(w, []byte("before\n")); s.Flush(w) })
	waitFor(t, path, "before\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	onLoop(t, w, func() { s.Write(w, []byte("after\n")); s.Flush(w) })
	waitFor(t, path, "after\n")
	w.Stop()
	<-w.Done()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path + ".1"); string(data) != "before\n" {
		t.Fatalf("rotated file: %q", data)
	}
}

func waitFor(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if data, _ := os.ReadFile(path); string(data) == want {
			return
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(path)
			t.Fatalf("%s: %q, want %q", path, data, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRegistrySharesOneSinkPerPath: two listeners logging to one path
// write through one sink, so their lines never tear each other.
func TestRegistrySharesOneSinkPerPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	r := NewRegistry(1)
	a, err := r.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("two sinks for one path")
	}
	if _, err := r.Open(filepath.Join(t.TempDir(), "missing", "x.log")); err == nil {
		t.Fatal("opening a file in a missing directory succeeded")
	}
	w := startWorker(t, 0)
	onLoop(t, w, func() { a.Write(w, []byte("one\n")); b.Write(w, []byte("two\n")) })
	w.Stop()
	<-w.Done()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(must(os.ReadFile(path))))
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	if strings.Join(got, ",") != "one,two" {
		t.Fatalf("lines %q", got)
	}
	if st := r.Stats(); st.Written != 2 {
		t.Fatalf("registry stats %+v", st)
	}
}

// TestCheckOnlyGivesOpensError: a registry that only checks (sluice
// validate) refuses exactly the paths a real open refuses, with the same
// error, and creates no file for the ones it accepts.
func TestCheckOnlyGivesOpensError(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.log")
	notADir := filepath.Join(dir, "plain")
	for _, f := range []string{existing, notADir} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path, err string
	}{
		{"new file", filepath.Join(dir, "new.log"), ""},
		{"existing file", existing, ""},
		{"directory", filepath.Join(dir, "sub"), "open " + filepath.Join(dir, "sub") + ": is a directory"},
		{"missing directory", filepath.Join(dir, "missing", "x.log"), "open " + filepath.Join(dir, "missing", "x.log") + ": no such file or directory"},
		{"file as directory", filepath.Join(notADir, "x.log"), "open " + filepath.Join(notADir, "x.log") + ": not a directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, statErr := os.Stat(c.path)
			checks := NewRegistry(1)
			checks.CheckOnly()
			_, checkErr := checks.Open(c.path)
			if _, err := os.Stat(c.path); os.IsNotExist(statErr) && !os.IsNotExist(err) {
				t.Fatalf("the check created %s (stat: %v)", c.path, err)
			}
			opens := NewRegistry(1)
			_, openErr := opens.Open(c.path)
			if err := errors.Join(checks.Close(), opens.Close()); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(checkErr) != fmt.Sprint(openErr) {
				t.Fatalf("check: %v\nopen:  %v", checkErr, openErr)
			}
			if got := fmt.Sprint(checkErr); (c.err == "" && checkErr != nil) || (c.err != "" && got != c.err) {
				t.Fatalf("error %q, want %q", got, c.err)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
