package cluster

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait; reaching it means a hang, never a timing
// assertion.
const waitLimit = 20 * time.Second

func startWorkers(t testing.TB, n int) []*worker.Worker {
	t.Helper()
	ws := make([]*worker.Worker, n)
	for i := range ws {
		w, err := worker.New(worker.Options{Index: i})
		if err != nil {
			t.Fatalf("worker.New: %v", err)
		}
		go w.Run()
		ws[i] = w
		t.Cleanup(func() {
			w.Stop()
			select {
			case <-w.Done():
			case <-time.After(waitLimit):
				t.Errorf("worker %d did not stop", w.Index())
			}
		})
	}
	return ws
}

// newTestCluster builds a one-cluster manager over ws; it is closed before
// the workers stop (cleanups run last-in first-out).
func newTestCluster(t testing.TB, ws []*worker.Worker, s Settings) *Cluster {
	t.Helper()
	if s.Name == "" {
		s.Name = "backend"
	}
	m, err := NewManagerWithSettings([]Settings{s}, ws, nil)
	if err != nil {
		t.Fatalf("NewManagerWithSettings: %v", err)
	}
	t.Cleanup(m.Close)
	return m.Get(s.Name)
}

// onLoop runs fn on w's loop and waits for it.
func onLoop(t testing.TB, w *worker.Worker, fn func()) {
	t.Helper()
	done := make(chan struct{})
	w.Post(func() { fn(); close(done) })
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("posted fn did not run")
	}
}

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

// waitStats polls the cluster's stats through worker round trips (each
// poll waits for a loop turn, not for a clock) until cond holds.
func waitStats(t testing.TB, w *worker.Worker, c *Cluster, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		var s Stats
		onLoop(t, w, func() { s = c.Stats() })
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; stats %+v", what, s)
		}
	}
}

func getReq(path string) *headers.Map {
	m := &headers.Map{}
	m.AddString(":method", "GET")
	m.AddString(":scheme", "http")
	m.AddString(":authority", "backend.test")
	m.AddString(":path", path)
	return m
}

func reqWith(method, path string, kv ...string) *headers.Map {
	m := getReq(path)
	m.SetString(":method", method)
	for i := 0; i < len(kv); i += 2 {
		m.AddString(kv[i], kv[i+1])
	}
	return m
}

// recorder is a ResponseHandler that logs every event as a line and sends
// the request it was given when the pool is ready. All fields are written
// on the worker and read by the test after done is closed.
type recorder struct {
	req      *headers.Map
	body     [][]byte     // request body pieces; empty = end with headers
	trailers *headers.Map // request trailers (chunked uploads)

	events   []string
	stream   *Stream
	host     netip.AddrPort
	status   int
	resp     headers.Map
	respTr   headers.Map
	got      []byte
	failure  FailureReason
	reset    ResetReason
	err      error
	final    string // "end", "failure", "reset"
	done     chan struct{}
	onReady  func(r *recorder, s *Stream) // replaces the default send
	onData   func(r *recorder, p []byte, end bool)
	onHeader func(r *recorder, h *headers.Map, end bool)
	writable int
	info     bool // also implement InformationalHandler (via infoRecorder)
}

// infoRecorder is a recorder that also wants 1xx heads.
type infoRecorder struct{ *recorder }

func (i infoRecorder) OnResponse1xx(h *headers.Map) { i.log("1xx %d", h.Status()) }

func (r *recorder) handler() ResponseHandler {
	if r.info {
		return infoRecorder{r}
	}
	return r
}

func newRecorder(req *headers.Map) *recorder {
	return &recorder{req: req, done: make(chan struct{})}
}

func (r *recorder) log(format string, a ...any) {
	r.events = append(r.events, fmt.Sprintf(format, a...))
}

func (r *recorder) finish(kind string) {
	r.final = kind
	r.stream = nil
	close(r.done)
}

func (r *recorder) OnPoolReady(s *Stream, host netip.AddrPort) {
	r.stream, r.host = s, host
	r.log("ready")
	if r.onReady != nil {
		r.onReady(r, s)
		return
	}
	r.sendAll(s)
}

func (r *recorder) sendAll(s *Stream) {
	end := len(r.body) == 0 && r.trailers == nil
	s.SendHeaders(r.req, end)
	for i, p := range r.body {
		s.SendData(p, i == len(r.body)-1 && r.trailers == nil)
	}
	if r.trailers != nil {
		s.SendTrailers(r.trailers)
	}
}

func (r *recorder) OnPoolFailure(reason FailureReason, err error) {
	r.failure, r.err = reason, err
	r.log("failure %v", reason)
	r.finish("failure")
}

func (r *recorder) OnResponseHeaders(h *headers.Map, end bool) {
	r.status = h.Status()
	r.resp.CopyFrom(h)
	r.log("headers %d end=%v", r.status, end)
	if r.onHeader != nil {
		r.onHeader(r, h, end)
	}
	if end {
		r.finish("end")
	}
}

func (r *recorder) OnResponseData(p []byte, end bool) {
	r.got = append(r.got, p...)
	if r.onData != nil {
		r.onData(r, p, end)
	} else {
		r.log("data %d end=%v", len(p), end)
	}
	if end {
		r.finish("end")
	}
}

func (r *recorder) OnResponseTrailers(t *headers.Map) {
	r.respTr.CopyFrom(t)
	r.log("trailers %d", t.Len())
	r.finish("end")
}

func (r *recorder) OnReset(reason ResetReason, err error) {
	r.reset, r.err = reason, err
	r.log("reset %v", reason)
	r.finish("reset")
}

func (r *recorder) OnUpstreamWritable() { r.writable++ }

func (r *recorder) eventString() string { return strings.Join(r.events, ", ") }

func (r *recorder) wait(t testing.TB) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(waitLimit):
		t.Fatalf("stream did not finish; events so far unknown (racy to read)")
	}
}

// start opens a stream on w and returns once NewStream has returned.
func start(t testing.TB, w *worker.Worker, c *Cluster, r *recorder) (returned *Stream) {
	t.Helper()
	onLoop(t, w, func() { returned = c.NewStream(w, r.handler()) })
	return returned
}

// roundTrip runs one request to completion.
func roundTrip(t testing.TB, w *worker.Worker, c *Cluster, r *recorder) *recorder {
	t.Helper()
	start(t, w, c, r)
	r.wait(t)
	// The pool finishes its bookkeeping after the final callback returns,
	// in the same loop turn: one round trip through the loop covers it.
	onLoop(t, w, func() {})
	return r
}

// rawServer is a scripted TCP backend: each accepted connection is handed
// to script with its index. It records how many connections it accepted.
type rawServer struct {
	ln    net.Listener
	addr  netip.AddrPort
	conns atomic.Int32
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  []net.Conn
}

func newRawServer(t testing.TB, script func(i int, c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, addr: netip.MustParseAddrPort(ln.Addr().String())}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			i := int(s.conns.Add(1)) - 1
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				script(i, c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *rawServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// readRequest reads one request (head and body) or returns nil at EOF.
func readRequest(br *bufio.Reader) (*http.Request, []byte) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, nil
	}
	return req, body
}

// connCounter counts the connections an httptest server accepts.
type connCounter struct{ n atomic.Int32 }

func (cc *connCounter) hook(_ net.Conn, st http.ConnState) {
	if st == http.StateNew {
		cc.n.Add(1)
	}
}
