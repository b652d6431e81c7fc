package logging

import (
	"bytes"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestEntriesArriveInOrderAndSyncWaitsForThem(t *testing.T) {
	var out lockedBuffer
	w := NewWriter(&out, 0)
	defer w.Close()
	var want bytes.Buffer
	for i := 0; i < 1000; i++ {
		line := []byte("entry " + string(rune('a'+i%26)) + "\n")
		want.Write(line)
		w.Write(line)
	}
	w.Sync()
	if out.String() != want.String() {
		t.Fatalf("got %d bytes, want %d", len(out.String()), want.Len())
	}
}

// TestWriteNeverBlocksOnAStuckDestination: stderr piped into a process that
// does not read. Writes return at once; what does not fit is dropped and
// counted; Sync and Close give up instead of hanging.
func TestWriteNeverBlocksOnAStuckDestination(t *testing.T) {
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(pw, 64<<10)
	entry := bytes.Repeat([]byte("x"), 1000)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10000; i++ { // 10 MB against a 64 KiB pipe and a 64 KiB buffer
			w.Write(entry)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Write blocked on a destination that does not read")
	}
	if d := w.Dropped(); d == 0 || d > 10000 {
		t.Fatalf("dropped %d of 10000", d)
	}
	w.Sync()
	w.Close()
	r.Close() // unblocks the writer goroutine (EPIPE)
	pw.Close()
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		t.Fatal("writer goroutine still stuck after the reader went away")
	}
}
