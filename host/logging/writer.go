// Package logging holds what sluice's process log (zap) writes through: a
// writer that never blocks its caller. Workers log (rate-limited warnings,
// module log lines) on their event-loop threads, and a log destination that
// stops taking data (stderr piped into a process that does not read, a
// stalled disk) must not stall them.
package logging

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultBufferBytes bounds what may wait for the destination.
const DefaultBufferBytes = 256 << 10

// Writer queues writes in a bounded buffer that one goroutine of its own
// copies to the destination. Write only copies under a mutex that nobody
// holds across I/O; when the buffer is full the write is dropped and
// counted. Each Write is one log entry (zap writes one entry per call).
type Writer struct {
	out io.Writer
	max int

	mu      sync.Mutex
	pending []byte
	spare   []byte
	flushed chan struct{} // closed and replaced each time pending was written

	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	dropped atomic.Uint64
}

// NewWriter starts a writer to out holding at most maxBytes (0: default).
func NewWriter(out io.Writer, maxBytes int) *Writer {
	if maxBytes <= 0 {
		maxBytes = DefaultBufferBytes
	}
	w := &Writer{
		out:     out,
		max:     maxBytes,
		flushed: make(chan struct{}),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go w.loop()
	return w
}

// Write queues p; it never blocks on the destination.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if len(w.pending)+len(p) > w.max {
		w.mu.Unlock()
		w.dropped.Add(1)
		return len(p), nil
	}
	w.pending = append(w.pending, p...)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

// Dropped is how many entries were dropped because the destination was
// behind.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Sync waits, at most a second, until what was queued before it has been
// written (zap calls it before exiting).
func (w *Writer) Sync() error {
	w.mu.Lock()
	if len(w.pending) == 0 {
		w.mu.Unlock()
		return nil
	}
	ch := w.flushed
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	select {
	case <-ch:
	case <-time.After(time.Second):
	}
	return nil
}

// Close writes what is queued (waiting at most a second) and stops.
func (w *Writer) Close() error {
	w.Sync()
	w.once.Do(func() { close(w.stop) })
	select {
	case <-w.done:
	case <-time.After(time.Second):
	}
	return nil
}

func (w *Writer) loop() {
	defer close(w.done)
	for {
		select {
		case <-w.wake:
		case <-w.stop:
			return
		}
		w.mu.Lock()
		batch := w.pending
		w.pending = w.spare[:0]
		flushed := w.flushed
		w.flushed = make(chan struct{})
		w.mu.Unlock()
		if len(batch) > 0 {
			w.out.Write(batch) // errors: nowhere better to report them
		}
		close(flushed)
		w.mu.Lock()
		w.spare = batch[:0]
		w.mu.Unlock()
	}
}
