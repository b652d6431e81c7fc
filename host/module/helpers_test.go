package module

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/ebitengine/purego"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/module/moduletest"
	"github.com/sluiceproxy/sluice/host/network"
	"github.com/sluiceproxy/sluice/host/worker"
)

// waitLimit bounds every wait in these tests; reaching it is a failure
// (a hang), never a timing assertion.
const waitLimit = 20 * time.Second

// env is a host over real workers.
type env struct {
	t       testing.TB
	workers []*worker.Worker
	host    *Host
}

func newEnv(t testing.TB, n int, opts Options) *env {
	t.Helper()
	return newEnvWithLogger(t, n, opts, zap.NewNop())
}

// newObservedEnv is newEnv with the host's log lines kept for the test.
func newObservedEnv(t testing.TB, n int, opts Options) (*env, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	return newEnvWithLogger(t, n, opts, zap.New(core)), logs
}

func newEnvWithLogger(t testing.TB, n int, opts Options, log *zap.Logger) *env {
	t.Helper()
	e := &env{t: t}
	for i := 0; i < n; i++ {
		w, err := worker.New(worker.Options{Index: i})
		if err != nil {
			t.Fatal(err)
		}
		e.workers = append(e.workers, w)
		go w.Run()
	}
	h, err := NewHostWithOptions(log, e.workers, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.host = h
	t.Cleanup(func() {
		for _, w := range e.workers {
			w.Stop()
			<-w.Done()
		}
		h.Close()
	})
	return e
}

// on runs fn on worker i and waits for it.
func (e *env) on(i int, fn func()) {
	e.t.Helper()
	done := make(chan struct{})
	e.workers[i].Post(func() { defer close(done); fn() })
	select {
	case <-done:
	case <-time.After(waitLimit):
		e.t.Fatalf("worker %d did not run the posted function", i)
	}
}

// eventually re-checks cond on worker i until it holds.
func (e *env) eventually(i int, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		ok := false
		e.on(i, func() { ok = cond() })
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("never happened: %s", what)
		}
		time.Sleep(time.Millisecond) // poll interval, not synchronisation
	}
}

func (e *env) load(name string) *Module {
	e.t.Helper()
	m, err := e.host.Load(moduletest.Build(e.t, name), false)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) factory(module, filterName, config string) *FilterFactory {
	e.t.Helper()
	ff, err := e.load(module).NewFilterFactory(filterName, []byte(config))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(ff.Close)
	return ff
}

// sym resolves a test-only function exported by a loaded module.
func sym(t testing.TB, m *Module, name string) uintptr {
	t.Helper()
	p, err := purego.Dlsym(m.lib.handle, name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// fakeBuffer is an hcm.Buffer made of separate chunks, so multi-chunk
// views are exercised.
type fakeBuffer struct{ chunks [][]byte }

func newFakeBuffer(chunks ...string) *fakeBuffer {
	b := &fakeBuffer{}
	for _, c := range chunks {
		b.chunks = append(b.chunks, []byte(c))
	}
	return b
}

func (b *fakeBuffer) Len() int {
	n := 0
	for _, c := range b.chunks {
		n += len(c)
	}
	return n
}

func (b *fakeBuffer) Chunks(fn func(p []byte) bool) {
	for _, c := range b.chunks {
		if !fn(c) {
			return
		}
	}
}

func (b *fakeBuffer) Append(p []byte) { b.chunks = append(b.chunks, append([]byte(nil), p...)) }
func (b *fakeBuffer) Prepend(p []byte) {
	b.chunks = append([][]byte{append([]byte(nil), p...)}, b.chunks...)
}
func (b *fakeBuffer) Bytes() []byte { return bytes.Join(b.chunks, nil) }

func (b *fakeBuffer) Drain(n int) {
	for n > 0 && len(b.chunks) > 0 {
		if n >= len(b.chunks[0]) {
			n -= len(b.chunks[0])
			b.chunks = b.chunks[1:]
			continue
		}
		b.chunks[0] = b.chunks[0][n:]
		n = 0
	}
}

type localReply struct {
	status  int
	hdrs    [][2]string
	body    string
	details string
}

// fakeCallbacks is a stream as the hcm would present it to one filter.
// It is only touched on its worker; events go to a channel for the test.
type fakeCallbacks struct {
	worker                 int
	req, resp, reqT, respT *headers.Map
	bufReq, bufResp        hcm.Buffer
	info                   hcm.StreamInfo
	ended                  bool
	continuedDecoding      int
	continuedEncoding      int
	clearedRoute           int
	injected               []string
	reply                  *localReply
	perFilter              map[string]any
	// onReply runs inside SendLocalReply (e.g. to end the stream at once,
	// as a connection manager without deferred deletion would);
	// onContinue inside ContinueDecoding.
	onReply, onContinue func()
	events              chan string
}

func newFakeCallbacks(worker int, reqHeaders ...string) *fakeCallbacks {
	cb := &fakeCallbacks{worker: worker, req: &headers.Map{}, events: make(chan string, 16)}
	for i := 0; i+1 < len(reqHeaders); i += 2 {
		cb.req.AddString(reqHeaders[i], reqHeaders[i+1])
	}
	cb.info = hcm.StreamInfo{ConnID: 41, StreamID: 7, WorkerIndex: worker, Protocol: "HTTP/1.1",
		Source: netip.MustParseAddrPort("10.0.0.1:5555"), Destination: netip.MustParseAddrPort("10.0.0.2:80")}
	return cb
}

func (c *fakeCallbacks) signal(ev string) {
	select {
	case c.events <- ev:
	default:
	}
}

// wait blocks until the stream reports ev.
func (c *fakeCallbacks) wait(t testing.TB, ev string) {
	t.Helper()
	select {
	case got := <-c.events:
		if got != ev {
			t.Fatalf("stream event %q, want %q", got, ev)
		}
	case <-time.After(waitLimit):
		t.Fatalf("stream event %q never came", ev)
	}
}

func (c *fakeCallbacks) ConnID() uint64              { return c.info.ConnID }
func (c *fakeCallbacks) StreamID() uint64            { return c.info.StreamID }
func (c *fakeCallbacks) WorkerIndex() int            { return c.worker }
func (c *fakeCallbacks) NewScheduler() hcm.Scheduler { return hcm.Scheduler{} }

func (c *fakeCallbacks) ContinueDecoding() bool {
	if c.ended {
		return false
	}
	c.continuedDecoding++
	if c.onContinue != nil {
		c.onContinue()
	}
	c.signal("continue_decoding")
	return true
}

func (c *fakeCallbacks) ContinueEncoding() bool {
	if c.ended {
		return false
	}
	c.continuedEncoding++
	c.signal("continue_encoding")
	return true
}

func (c *fakeCallbacks) SendLocalReply(status int, hdrs [][2]string, body []byte, details string) bool {
	if c.ended {
		return false
	}
	c.ended = true
	c.info.Status = status
	c.reply = &localReply{status: status, hdrs: hdrs, body: string(body), details: details}
	if c.onReply != nil {
		c.onReply()
	}
	c.signal("reply")
	return true
}

func (c *fakeCallbacks) RequestHeaders() *headers.Map {
	if c.ended {
		return nil
	}
	return c.req
}

func (c *fakeCallbacks) ResponseHeaders() *headers.Map {
	if c.ended {
		return nil
	}
	return c.resp
}

func (c *fakeCallbacks) RequestTrailers() *headers.Map {
	if c.ended {
		return nil
	}
	return c.reqT
}

func (c *fakeCallbacks) ResponseTrailers() *headers.Map {
	if c.ended {
		return nil
	}
	return c.respT
}

func (c *fakeCallbacks) AddRequestTrailers() *headers.Map  { c.reqT = &headers.Map{}; return c.reqT }
func (c *fakeCallbacks) AddResponseTrailers() *headers.Map { c.respT = &headers.Map{}; return c.respT }
func (c *fakeCallbacks) BufferedRequestBody() hcm.Buffer   { return c.bufReq }
func (c *fakeCallbacks) BufferedResponseBody() hcm.Buffer  { return c.bufResp }
func (c *fakeCallbacks) ClearRouteCache()                  { c.clearedRoute++ }
func (c *fakeCallbacks) InjectDecodedData(p []byte, end bool) bool {
	c.injected = append(c.injected, string(p))
	return !c.ended
}
func (c *fakeCallbacks) InjectEncodedData(p []byte, end bool) bool { return !c.ended }
func (c *fakeCallbacks) AddDecodedData(p []byte) bool              { return false }
func (c *fakeCallbacks) AddEncodedData(p []byte) bool              { return false }
func (c *fakeCallbacks) PerFilterConfig(name string) any           { return c.perFilter[name] }
func (c *fakeCallbacks) Connection() *network.Connection           { return nil }
func (c *fakeCallbacks) Ended() bool                               { return c.ended }
func (c *fakeCallbacks) Info() *hcm.StreamInfo                     { return &c.info }

// endStream is what the connection manager does when a stream finishes.
func endStream(cb *fakeCallbacks, f hcm.StreamFilter) {
	cb.ended = true
	f.OnStreamComplete()
	f.OnDestroy()
}

// headerList renders a map as "name: value" lines for comparisons.
func headerList(m *headers.Map) []string {
	var out []string
	m.Range(func(n, v []byte) bool { out = append(out, string(n)+": "+string(v)); return true })
	return out
}
