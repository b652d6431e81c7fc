package worker

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// useIOUring is the Options.IOUring startWorker gives its workers.
// TestMain runs the suite with a read or sendmsg per connection (sluice
// where the kernel refuses io_uring), then again with reads and sends
// batched through io_uring (sluice's default) where the kernel allows it.
var useIOUring bool

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && !benchmarking() {
		if ring, err := newIORing(); err != nil {
			fmt.Printf("worker: io_uring unavailable (%v): batched reads and sends not tested\n", err)
		} else {
			ring.close()
			useIOUring = true
			fmt.Println("worker: the tests again, with reads and sends batched through io_uring")
			code = m.Run()
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// benchmarking: -bench was given. Benchmarks run once; the ring's cost
// is BenchmarkSendsOfOnePass's to show.
func benchmarking() bool {
	f := flag.Lookup("test.bench")
	return f != nil && f.Value.String() != ""
}

// waitLimit bounds every wait in these tests; reaching it is a failure
// (a hang), never a timing assertion.
const waitLimit = 20 * time.Second

var loopback = netip.MustParseAddrPort("127.0.0.1:0")

// startWorker runs a worker for the test and stops it on cleanup.
func startWorker(t testing.TB, opts Options) *Worker {
	t.Helper()
	opts.IOUring = opts.IOUring || useIOUring
	w, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if on, err := w.UsingIOUring(); on != opts.IOUring {
		t.Fatalf("UsingIOUring = %v (%v), asked for %v", on, err, opts.IOUring)
	}
	go w.Run()
	t.Cleanup(func() { stopWorker(t, w) })
	return w
}

func stopWorker(t testing.TB, w *Worker) {
	t.Helper()
	w.Stop()
	select {
	case <-w.Done():
	case <-time.After(waitLimit):
		t.Fatalf("worker %d did not stop", w.Index())
	}
}

// onLoop runs fn on w's loop and waits for it.
func onLoop(t testing.TB, w *Worker, fn func()) {
	t.Helper()
	done := make(chan struct{})
	w.Post(func() { fn(); close(done) })
	select {
	case <-done:
	case <-w.Done():
		t.Fatalf("worker stopped before running posted fn")
	case <-time.After(waitLimit):
		t.Fatalf("posted fn did not run")
	}
}

// recv waits for a value on ch.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// listen starts a listener on w (port 0) and returns its address.
func listen(t testing.TB, w *Worker, onAccept func(*Conn)) netip.AddrPort {
	t.Helper()
	var addr netip.AddrPort
	var err error
	onLoop(t, w, func() {
		var l *Listener
		l, err = w.Listen(loopback, onAccept)
		if err == nil {
			addr = l.Addr()
		}
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	return addr
}

// funcHandler adapts functions to ConnHandler; nil fields are no-ops.
type funcHandler struct {
	connect  func(c *Conn, err error)
	data     func(c *Conn)
	writable func(c *Conn)
	close    func(c *Conn, err error)
}

func (h *funcHandler) OnConnect(c *Conn, err error) {
	if h.connect != nil {
		h.connect(c, err)
	}
}
func (h *funcHandler) OnData(c *Conn) {
	if h.data != nil {
		h.data(c)
	}
}
func (h *funcHandler) OnWritable(c *Conn) {
	if h.writable != nil {
		h.writable(c)
	}
}
func (h *funcHandler) OnClose(c *Conn, err error) {
	if h.close != nil {
		h.close(c, err)
	}
}

// echoHandler writes input back, pausing reads while the output is above
// its high watermark (the proxy's flow-control pattern).
type echoHandler struct {
	tidErr func(where string) // called when a callback runs off the loop thread
	closed chan error
}

func (e *echoHandler) checkTID(c *Conn, where string) {
	if e.tidErr != nil && unix.Gettid() != c.Worker().TID() {
		e.tidErr(where)
	}
}

func (e *echoHandler) OnConnect(c *Conn, err error) { e.checkTID(c, "OnConnect") }
func (e *echoHandler) OnData(c *Conn) {
	e.checkTID(c, "OnData")
	if in := c.Input(); len(in) > 0 {
		c.Write(in)
		c.Consume(len(in))
	}
	if c.ReadEOF() {
		c.CloseWrite()
	}
	if c.AboveHighWatermark() {
		c.PauseReading()
	}
}
func (e *echoHandler) OnWritable(c *Conn) {
	e.checkTID(c, "OnWritable")
	c.ResumeReading()
}
func (e *echoHandler) OnClose(c *Conn, err error) {
	e.checkTID(c, "OnClose")
	if e.closed != nil {
		e.closed <- err
	}
}

// waitNoConns waits (in loop round trips, bounded by waitLimit) until the
// worker has no open connection: closes that follow a peer's FIN have no
// callback to wait on.
func waitNoConns(t testing.TB, w *Worker) {
	t.Helper()
	waitUntil(t, w, "no open connections", func() bool { return w.Stats().OpenConns == 0 })
}

// waitUntil re-checks cond after each loop round trip, failing after
// waitLimit: for state changes that have no callback to wait on.
func waitUntil(t testing.TB, w *Worker, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		onLoop(t, w, func() {})
	}
}
