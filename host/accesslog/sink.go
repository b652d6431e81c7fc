// Package accesslog is where access-log lines go: a file (or the process's
// stdout/stderr) written by one goroutine of its own, fed by per-worker
// buffers, so that a slow disk or a pipe nobody reads can never stall a
// worker. When the sink falls behind, lines are dropped and counted instead.
//
// Formatting is the caller's business (host/hcm renders Envoy's text and
// JSON formats); a Sink only moves whole lines.
//
// # Threads
//
// Write and Flush are loop-thread only, and each worker writes only into its
// own buffer, so the data path takes no lock that another goroutine holds
// for longer than a channel operation. Full buffers (and, every
// FlushInterval, partly filled ones) are handed to the writer goroutine over
// a bounded queue with a non-blocking send; a full queue means the sink is
// behind and the buffer's lines are dropped (Dropped counts them). Open,
// Reopen, Close and the counters are for other goroutines.
package accesslog

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluiceproxy/sluice/host/worker"
)

const (
	// bufferSize is one hand-off unit: big enough that a busy worker hands
	// over a few times per second, small enough that a burst of them is
	// cheap to hold.
	bufferSize = 64 << 10
	// FlushInterval bounds how long a line waits in a worker's buffer.
	FlushInterval = 100 * time.Millisecond
	// queuedPerWorker is how many full buffers may wait for the writer per
	// worker before lines are dropped: 4 × 64 KiB per worker.
	queuedPerWorker = 4
	// closeWait bounds Close when the file does not take data any more.
	closeWait = 2 * time.Second
)

// Sink is one access-log destination shared by every worker.
type Sink struct {
	path   string
	f      *os.File
	owned  bool                    // opened by us (closed and reopened); false for stdout/stderr
	next   atomic.Pointer[os.File] // Reopen's new file, taken by the writer
	queue  chan *buffer
	free   chan *buffer
	perW   []workerBuf
	stop   chan struct{} // closed by Close
	done   chan struct{} // closed when the writer has ended
	closed atomic.Bool

	dropped     atomic.Uint64 // lines lost because the writer was behind
	writeFailed atomic.Uint64 // lines lost to write errors
	written     atomic.Uint64 // lines written
}

type buffer struct {
	b     []byte
	lines int
}

// workerBuf is one worker's current buffer and flush timer; only that
// worker touches it (and Close, after the workers stopped).
type workerBuf struct {
	cur   *buffer
	timer *worker.Timer
	flush func()
	_     [40]byte // keep workers' slots on separate cache lines
}

// Open opens path for appending (created 0644 if missing); "/dev/stdout" and
// "/dev/stderr" are the process's own streams. workers is the number of
// workers that will write.
func Open(path string, workers int) (*Sink, error) {
	var f *os.File
	owned := false
	switch path {
	case "/dev/stdout":
		f = os.Stdout
	case "/dev/stderr":
		f = os.Stderr
	default:
		var err error
		f, err = openFile(path)
		if err != nil {
			return nil, err
		}
		owned = true
	}
	return newSink(path, f, owned, workers), nil
}

func newSink(path string, f *os.File, owned bool, workers int) *Sink {
	workers = max(workers, 1)
	depth := queuedPerWorker * workers
	s := &Sink{
		path:  path,
		f:     f,
		owned: owned,
		queue: make(chan *buffer, depth),
		// Buffers in circulation: the queue's, one being written, one
		// current per worker.
		free: make(chan *buffer, depth+1+workers),
		perW: make([]workerBuf, workers),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go s.writeLoop()
	return s
}

func openFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

// Path is the destination as configured.
func (s *Sink) Path() string { return s.path }

// Write appends one complete line (with its newline) to w's buffer. It
// never blocks: when the writer is behind, lines are dropped and counted.
// Loop thread of w only.
func (s *Sink) Write(w *worker.Worker, line []byte) {
	if len(line) == 0 || s.closed.Load() {
		return
	}
	wb := &s.perW[w.Index()%len(s.perW)]
	if wb.cur == nil {
		wb.cur = s.getBuffer()
	}
	if len(wb.cur.b)+len(line) > cap(wb.cur.b) && len(wb.cur.b) > 0 {
		s.handOff(wb)
		wb.cur = s.getBuffer()
	}
	wb.cur.b = append(wb.cur.b, line...) // a line longer than a buffer grows it once
	wb.cur.lines++
	if len(wb.cur.b) >= cap(wb.cur.b) {
		s.handOff(wb)
		return
	}
	if wb.timer == nil {
		wb.flush = func() { s.Flush(w) }
		wb.timer = w.AfterFunc(FlushInterval, wb.flush)
	} else if !wb.timer.Pending() {
		wb.timer.Reset(FlushInterval)
	}
}

// Flush hands w's partly filled buffer to the writer. Loop thread of w only.
func (s *Sink) Flush(w *worker.Worker) {
	wb := &s.perW[w.Index()%len(s.perW)]
	if wb.cur != nil && len(wb.cur.b) > 0 {
		s.handOff(wb)
	}
}

// handOff queues wb's buffer for the writer, or drops its lines when the
// queue is full; either way wb is left without a current buffer.
func (s *Sink) handOff(wb *workerBuf) {
	b := wb.cur
	wb.cur = nil
	select {
	case s.queue <- b:
	default:
		s.dropped.Add(uint64(b.lines))
		s.putBuffer(b)
	}
}

func (s *Sink) getBuffer() *buffer {
	select {
	case b := <-s.free:
		return b
	default:
		return &buffer{b: make([]byte, 0, bufferSize)}
	}
}

func (s *Sink) putBuffer(b *buffer) {
	if cap(b.b) > bufferSize {
		return // an over-long line's buffer is not kept
	}
	b.b, b.lines = b.b[:0], 0
	select {
	case s.free <- b:
	default:
	}
}

// writeLoop is the only goroutine that writes to the file. A write that
// blocks (a pipe nobody reads, a stalled disk) holds up only this loop; the
// workers go on and drop lines.
func (s *Sink) writeLoop() {
	defer close(s.done)
	for {
		select {
		case b := <-s.queue:
			s.writeBuffer(b)
			s.putBuffer(b)
		case <-s.stop:
			// Closing: write what was queued before, then end.
			for {
				select {
				case b := <-s.queue:
					s.writeBuffer(b)
				default:
					return
				}
			}
		}
	}
}

func (s *Sink) writeBuffer(b *buffer) {
	if f := s.next.Swap(nil); f != nil {
		old := s.f
		s.f = f
		old.Close()
	}
	if _, err := s.f.Write(b.b); err != nil {
		s.writeFailed.Add(uint64(b.lines))
		return
	}
	s.written.Add(uint64(b.lines))
}

// Reopen opens the path again and switches to the new file before the next
// write (after logrotate renamed the old one: SIGUSR1). Standard streams
// are left alone. Never blocks on the writer.
func (s *Sink) Reopen() error {
	if !s.owned || s.closed.Load() {
		return nil
	}
	f, err := openFile(s.path)
	if err != nil {
		return err
	}
	if old := s.next.Swap(f); old != nil {
		old.Close()
	}
	return nil
}

// ErrCloseTimeout: Close gave up waiting for a writer stuck on its file.
var ErrCloseTimeout = errors.New("accesslog: the file did not take the last lines in time")

// Close writes what the workers still hold and closes the file. Call it
// once every worker that wrote has stopped (their buffers are then read
// here). It waits at most a couple of seconds for a stuck file.
func (s *Sink) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	for i := range s.perW {
		wb := &s.perW[i]
		if wb.cur != nil && len(wb.cur.b) > 0 {
			s.handOff(wb)
		}
	}
	// stop, not close(queue): a late Write can never send on a closed
	// channel. A writer stuck on its file ends once the file lets go.
	close(s.stop)
	timeout := time.NewTimer(closeWait)
	defer timeout.Stop()
	select {
	case <-s.done:
	case <-timeout.C:
		return ErrCloseTimeout
	}
	if f := s.next.Swap(nil); f != nil {
		f.Close()
	}
	if s.owned {
		return s.f.Close()
	}
	return nil
}

// Stats are a sink's counters, in lines.
type Stats struct {
	Written     uint64
	Dropped     uint64 // the writer was behind: never blocks a worker
	WriteFailed uint64
}

// Stats reads the counters. Any goroutine.
func (s *Sink) Stats() Stats {
	return Stats{Written: s.written.Load(), Dropped: s.dropped.Load(), WriteFailed: s.writeFailed.Load()}
}

// Registry shares one Sink per path (two listeners logging to /dev/stdout
// write through one writer).
type Registry struct {
	mu      sync.Mutex
	workers int
	sinks   map[string]*Sink
	// checkOnly: Open checks that a file could be opened for appending
	// and opens nothing (sluice validate).
	checkOnly bool
}

// CheckOnly makes Open check each path (the file writable, or its
// directory writable when the file does not exist yet) without opening or
// creating anything, for a configuration that is validated, not run. The
// sinks it returns must not be written to.
func (r *Registry) CheckOnly() { r.checkOnly = true }

// NewRegistry makes a registry for sinks written by the given number of
// workers.
func NewRegistry(workers int) *Registry {
	return &Registry{workers: workers, sinks: make(map[string]*Sink)}
}

// Open returns the sink for path, opening it on first use.
func (r *Registry) Open(path string) (*Sink, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.sinks[path]; s != nil {
		return s, nil
	}
	var s *Sink
	var err error
	if r.checkOnly {
		s, err = checkWritable(path, r.workers)
	} else {
		s, err = Open(path, r.workers)
	}
	if err != nil {
		return nil, err
	}
	r.sinks[path] = s
	return s, nil
}

// checkWritable answers for path what Open would, as the same error,
// without creating the file; the sink it returns writes nowhere.
func checkWritable(path string, workers int) (*Sink, error) {
	if path != "/dev/stdout" && path != "/dev/stderr" {
		if err := openWouldFail(path); err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
	}
	return newSink(path, nil, false, workers), nil
}

// openWouldFail is the errno openFile would fail with, or nil, found
// without creating anything: a directory cannot be opened for writing
// (EISDIR, which access(2) alone would not show), a file that does not
// exist needs a writable, searchable directory, one that exists needs write
// permission; anything stat(2) refuses (ENOTDIR, ELOOP, EACCES) open(2)
// refuses the same way.
func openWouldFail(path string) error {
	var st unix.Stat_t
	switch err := unix.Stat(path, &st); {
	case err == unix.ENOENT:
		return unix.Access(filepath.Dir(path), unix.W_OK|unix.X_OK)
	case err != nil:
		return err
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return unix.EISDIR
	}
	return unix.Access(path, unix.W_OK)
}

// Each visits every open sink.
func (r *Registry) Each(fn func(*Sink)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.sinks {
		fn(s)
	}
}

// Stats sums the counters of every sink.
func (r *Registry) Stats() Stats {
	var t Stats
	r.Each(func(s *Sink) {
		st := s.Stats()
		t.Written += st.Written
		t.Dropped += st.Dropped
		t.WriteFailed += st.WriteFailed
	})
	return t
}

// Reopen reopens every file sink.
func (r *Registry) Reopen() error {
	var errs []error
	r.Each(func(s *Sink) {
		if err := s.Reopen(); err != nil {
			errs = append(errs, err)
		}
	})
	return errors.Join(errs...)
}

// Close closes every sink (after the workers stopped).
func (r *Registry) Close() error {
	var errs []error
	r.Each(func(s *Sink) {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	})
	return errors.Join(errs...)
}
