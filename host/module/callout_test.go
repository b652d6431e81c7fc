package module

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"
	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/abi"
	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/worker"
)

// authBackend is a real HTTP server the callouts talk to:
//
//	/check   200, x-authz = the request's x-token, body "allowed <token>"
//	/hang    never answers; reports on hung when the request is abandoned
//	/big     a 5000-byte body
//	/reset   promises 100 bytes, sends 7 and closes
type authBackend struct {
	addr    netip.AddrPort
	arrived chan struct{} // a /hang request reached the service
	hung    chan struct{} // a /hang request was abandoned by its client
}

// waitArrived waits (bounded) for a /hang request to reach the service.
func (b *authBackend) waitArrived(t *testing.T) {
	t.Helper()
	select {
	case <-b.arrived:
	case <-time.After(waitLimit):
		t.Fatal("the callout never reached the auth service")
	}
}

func newAuthBackend(t *testing.T) *authBackend {
	t.Helper()
	b := &authBackend{arrived: make(chan struct{}, 16), hung: make(chan struct{}, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hang":
			b.arrived <- struct{}{}
			<-r.Context().Done()
			b.hung <- struct{}{}
		case "/big":
			io.WriteString(w, strings.Repeat("x", 5000))
		case "/reset":
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
			buf.Flush()
			conn.Close()
		default:
			w.Header().Set("x-authz", r.Header.Get("x-token"))
			fmt.Fprintf(w, "allowed %s", r.Header.Get("x-token"))
		}
	}))
	t.Cleanup(srv.Close)
	b.addr = netip.MustParseAddrPort(srv.Listener.Addr().String())
	return b
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t testing.TB) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(l.Addr().String())
	l.Close()
	return a
}

// newCalloutEnv is newEnv with clusters: "auth" (at auth), "dead"
// (nothing listening) and "empty" (no endpoint).
func newCalloutEnv(t testing.TB, n int, opts Options, auth netip.AddrPort) *env {
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
	mgr, err := cluster.NewManagerWithSettings([]cluster.Settings{
		{Name: "auth", Endpoints: []netip.AddrPort{auth}},
		{Name: "dead", Endpoints: []netip.AddrPort{closedAddr(t)}},
		{Name: "empty"},
	}, e.workers, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Clusters = mgr
	h, err := NewHostWithOptions(zap.NewNop(), e.workers, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.host = h
	t.Cleanup(func() {
		mgr.Close()
		for _, w := range e.workers {
			w.Stop()
			<-w.Done()
		}
		h.Close()
	})
	return e
}

// counter is the value of a host per-entry counter (label "" = none).
func counter(h *Host, name, label string) int64 {
	for _, m := range h.Stats().Metrics {
		if m.Name != name {
			continue
		}
		if label == "" && len(m.Labels) == 0 || len(m.Labels) == 1 && m.Labels[0][1] == label {
			return m.Value
		}
	}
	return 0
}

func probeCall(t *testing.T, m *Module, name string, args ...uintptr) int {
	t.Helper()
	r, _, _ := purego.SyscallN(sym(t, m, name), args...)
	return int(int32(r))
}

func probeResults(t *testing.T, m *Module, n int) []int64 {
	t.Helper()
	if probeCall(t, m, "probe_wait_results", uintptr(n)) == 0 {
		t.Fatalf("the module recorded fewer than %d results", n)
	}
	out := make([]int64, 128)
	got := probeCall(t, m, "probe_results", uintptr(unsafe.Pointer(&out[0])), 128)
	return out[:got]
}

func replyHeader(r *localReply, name string) string {
	for _, h := range r.hdrs {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

// runForward starts one stream through a "forward" probe and returns the
// local reply its done hook sent.
func runForward(t *testing.T, e *env, ff *FilterFactory, token string) localReply {
	t.Helper()
	cb := newFakeCallbacks(0, ":method", "GET", ":path", "/", "x-token", token)
	var f hcm.StreamFilter
	e.on(0, func() {
		f = ff.NewFilter(cb)
		if st := f.DecodeHeaders(cb.req, true); st != hcm.HeadersStopAllIterationAndBuffer {
			t.Errorf("DecodeHeaders = %d, want StopAllIterationAndBuffer", st)
		}
	})
	cb.wait(t, "reply")
	var r localReply
	e.on(0, func() {
		r = *cb.reply
		endStream(cb, f)
	})
	return r
}

// A callout to a live service: the done hook runs on the filter's worker
// (after the starting hook returned), sees the status, the headers and
// the body, and finds the callout's handle already stale.
func TestCalloutRoundTrip(t *testing.T) {
	be := newAuthBackend(t)
	e := newCalloutEnv(t, 1, Options{}, be.addr)
	ff := e.factory("callout_probe", "probe", `{"scenario":"forward","cluster":"auth","path":"/check"}`)
	probeCall(t, ff.mod, "probe_reset")
	r := runForward(t, e, ff, "t0k3n")
	if r.status != 200 || r.body != "allowed t0k3n" {
		t.Fatalf("reply %d %q", r.status, r.body)
	}
	for name, want := range map[string]string{"x-outcome": "ok", "x-status": "200", "x-authz": "t0k3n",
		"x-same-thread": "yes", "x-cancel-in-done": fmt.Sprint(int(abi.ErrInvalidHandle))} {
		if got := replyHeader(&r, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if got := probeResults(t, ff.mod, 1); got[0] != int64(abi.OK) {
		t.Fatalf("http_callout returned %d", got[0])
	}
	if s, ok := counter(e.host, "probe.callouts_started", ""), counter(e.host, "probe.callouts_succeeded", ""); s != 1 || ok != 1 {
		t.Fatalf("started %d succeeded %d", s, ok)
	}
	e.eventually(0, "no callout in flight", func() bool { return e.host.Stats().CalloutsActive == 0 })
}

// Every way a callout can fail reaches the done hook with its outcome,
// and is counted under callouts_failed{reason}.
func TestCalloutFailures(t *testing.T) {
	be := newAuthBackend(t)
	e := newCalloutEnv(t, 1, Options{}, be.addr)
	for _, tc := range []struct {
		config, outcome, detail string
	}{
		{`"cluster":"nope","path":"/check"`, "cluster_unknown", "cluster_unknown"},
		{`"cluster":"empty","path":"/check"`, "no_healthy_upstream", cluster.ErrNoHealthyUpstream.Error()},
		{`"cluster":"dead","path":"/check"`, "connect_failure", "connection refused"},
		{`"cluster":"auth","path":"/hang","timeout_ms":"100"`, "timeout", cluster.ErrCalloutTimeout.Error()},
		{`"cluster":"auth","path":"/big","max_response":"1000"`, "response_too_large", cluster.ErrCalloutTooLarge.Error()},
		{`"cluster":"auth","path":"/reset"`, "reset", ""},
	} {
		t.Run(tc.outcome, func(t *testing.T) {
			ff := e.factory("callout_probe", "probe_"+tc.outcome, `{"scenario":"forward",`+tc.config+`}`)
			r := runForward(t, e, ff, "x")
			if got := replyHeader(&r, "x-outcome"); got != tc.outcome || r.body != "" || replyHeader(&r, "x-status") != "0" {
				t.Fatalf("outcome %q status %q body %q, want %s", got, replyHeader(&r, "x-status"), r.body, tc.outcome)
			}
			if d := replyHeader(&r, "x-detail"); !strings.Contains(d, tc.detail) || d == "" {
				t.Errorf("detail %q, want it to contain %q", d, tc.detail)
			}
			if n := counter(e.host, "probe_"+tc.outcome+".callouts_failed", tc.outcome); n != 1 {
				t.Errorf("callouts_failed{reason=%q} = %d", tc.outcome, n)
			}
		})
	}
	<-be.hung // the timed-out exchange was abandoned upstream too
}

// A stream that ends while its callout is in flight cancels it: the
// upstream exchange is abandoned, the cancellation counted, and the done
// hook never runs, not even when the answer would have come.
func TestCalloutCancelledWhenTheStreamEnds(t *testing.T) {
	be := newAuthBackend(t)
	e := newCalloutEnv(t, 1, Options{}, be.addr)
	ff := e.factory("callout_probe", "probe", `{"scenario":"forward","cluster":"auth","path":"/hang"}`)
	probeCall(t, ff.mod, "probe_reset")
	cb := newFakeCallbacks(0, ":method", "GET", ":path", "/")
	var f hcm.StreamFilter
	e.on(0, func() {
		f = ff.NewFilter(cb)
		f.DecodeHeaders(cb.req, true)
	})
	e.eventually(0, "callout in flight", func() bool { return e.host.Stats().CalloutsActive == 1 })
	probeResults(t, ff.mod, 1)
	// Cancelled before it was sent, it would never be abandoned upstream.
	be.waitArrived(t)
	e.on(0, func() { endStream(cb, f) }) // the client went away
	select {
	case <-be.hung:
	case <-time.After(waitLimit):
		t.Fatal("the auth service never saw the exchange abandoned")
	}
	if n := counter(e.host, "probe.callouts_cancelled", ""); n != 1 {
		t.Fatalf("callouts_cancelled = %d", n)
	}
	e.eventually(0, "no callout in flight", func() bool { return e.host.Stats().CalloutsActive == 0 })
	// One more loop iteration on the worker: nothing may be delivered.
	e.on(0, func() {})
	if d, l := probeCall(t, ff.mod, "probe_done_hooks"), probeCall(t, ff.mod, "probe_late_hooks"); d != 0 || l != 0 {
		t.Fatalf("done hooks %d, late hooks %d after the stream ended", d, l)
	}
}

// Cancel by the module: OK once, then the handle is stale; no hook.
func TestCalloutCancelByModule(t *testing.T) {
	be := newAuthBackend(t)
	e := newCalloutEnv(t, 1, Options{}, be.addr)
	ff := e.factory("callout_probe", "probe", `{"scenario":"cancel","cluster":"auth","path":"/check"}`)
	probeCall(t, ff.mod, "probe_reset")
	cb := newFakeCallbacks(0, ":method", "GET", ":path", "/")
	var f hcm.StreamFilter
	e.on(0, func() {
		f = ff.NewFilter(cb)
		if st := f.DecodeHeaders(cb.req, true); st != hcm.HeadersContinue {
			t.Errorf("DecodeHeaders = %d", st)
		}
	})
	got := probeResults(t, ff.mod, 3)
	if got[0] != int64(abi.OK) || got[1] != int64(abi.OK) || got[2] != int64(abi.ErrInvalidHandle) {
		t.Fatalf("start, cancel, cancel again = %v", got)
	}
	e.on(0, func() {})
	e.on(0, func() { endStream(cb, f) })
	if d := probeCall(t, ff.mod, "probe_done_hooks"); d != 0 {
		t.Fatalf("%d done hooks for a cancelled callout", d)
	}
	if n := counter(e.host, "probe.callouts_cancelled", ""); n != 1 {
		t.Fatalf("callouts_cancelled = %d", n)
	}
}

// Bad requests are refused with INVALID_ARGUMENT and start nothing.
func TestCalloutBadRequests(t *testing.T) {
	be := newAuthBackend(t)
	e := newCalloutEnv(t, 1, Options{}, be.addr)
	ff := e.factory("callout_probe", "probe", `{"scenario":"errors","cluster":"auth","path":"/check"}`)
	probeCall(t, ff.mod, "probe_reset")
	cb := newFakeCallbacks(0, ":method", "GET", ":path", "/")
	e.on(0, func() {
		f := ff.NewFilter(cb)
		f.DecodeHeaders(cb.req, true)
		endStream(cb, f)
	})
	// NULL request, NULL out, small size, no :path, unknown pseudo-header,
	// CRLF in a value, empty cluster, 65 MiB response limit, two :path.
	got := probeResults(t, ff.mod, 9)
	for i, r := range got {
		if r != int64(abi.ErrInvalidArg) {
			t.Errorf("bad request %d: %d, want INVALID_ARGUMENT", i, r)
		}
	}
	if n := counter(e.host, "probe.callouts_started", ""); n != 0 {
		t.Fatalf("callouts_started = %d", n)
	}
}

// The per-filter and per-worker limits refuse with LIMIT and count it.
func TestCalloutLimits(t *testing.T) {
	be := newAuthBackend(t)
	for _, tc := range []struct {
		name  string
		opts  Options
		limit string
		want  int64
	}{
		{"filter", Options{MaxCalloutsPerFilter: 3}, "filter", 3},
		{"worker", Options{MaxCalloutsPerWorker: 2}, "worker", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCalloutEnv(t, 1, tc.opts, be.addr)
			ff := e.factory("callout_probe", "probe", `{"scenario":"limit","cluster":"auth","path":"/hang"}`)
			probeCall(t, ff.mod, "probe_reset")
			cb := newFakeCallbacks(0, ":method", "GET", ":path", "/")
			e.on(0, func() {
				f := ff.NewFilter(cb)
				f.DecodeHeaders(cb.req, true)
				endStream(cb, f)
			})
			got := probeResults(t, ff.mod, 2)
			if got[0] != tc.want || got[1] != int64(abi.ErrLimit) {
				t.Fatalf("started %d then %d, want %d then LIMIT", got[0], got[1], tc.want)
			}
			if n := counter(e.host, "probe.callouts_over_limit", tc.limit); n != 1 {
				t.Fatalf("callouts_over_limit{limit=%q} = %d", tc.limit, n)
			}
			if n := counter(e.host, "probe.callouts_cancelled", ""); n != tc.want {
				t.Fatalf("callouts_cancelled = %d", n)
			}
		})
	}
}

// Cancel is worker-only: from another thread (the worker idle) it is
// refused and the callout goes on.
func TestCalloutCancelFromAnotherThread(t *testing.T) {
	be := newAuthBackend(t)
	e := newCalloutEnv(t, 1, Options{}, be.addr)
	ff := e.factory("callout_probe", "probe", `{"scenario":"forward","cluster":"auth","path":"/hang","timeout_ms":"200"}`)
	probeCall(t, ff.mod, "probe_reset")
	cb := newFakeCallbacks(0, ":method", "GET", ":path", "/")
	var f hcm.StreamFilter
	e.on(0, func() {
		f = ff.NewFilter(cb)
		f.DecodeHeaders(cb.req, true)
	})
	probeResults(t, ff.mod, 1)
	h, _, _ := purego.SyscallN(sym(t, ff.mod, "probe_last_callout"))
	if r := probeCall(t, ff.mod, "probe_foreign_cancel", h); r != int(abi.ErrWrongThread) {
		t.Fatalf("cancel from another thread = %d, want WRONG_THREAD", r)
	}
	cb.wait(t, "reply") // the callout went on and timed out
	e.on(0, func() {
		if got := replyHeader(cb.reply, "x-outcome"); got != "timeout" {
			t.Errorf("outcome %q", got)
		}
		endStream(cb, f)
	})
}

// A config callout: started in config_new, sent from a worker, answered
// on the module main thread; a config destroyed with one in flight gets
// no hook.
func TestConfigCallout(t *testing.T) {
	be := newAuthBackend(t)
	e := newCalloutEnv(t, 2, Options{}, be.addr)
	ff := e.factory("callout_probe", "probe", `{"scenario":"config","cluster":"auth","path":"/keys"}`)
	m := ff.mod
	if probeCall(t, m, "probe_wait_config") == 0 {
		t.Fatal("no config callout result")
	}
	buf := make([]byte, 256)
	n := probeCall(t, m, "probe_config_result", uintptr(unsafe.Pointer(&buf[0])), 256)
	if got := string(buf[:n]); got != "ok 200 same_thread allowed " {
		t.Fatalf("config callout result %q", got)
	}
	if n := counter(e.host, "probe.callouts_succeeded", ""); n != 1 {
		t.Fatalf("callouts_succeeded = %d", n)
	}

	probeCall(t, m, "probe_reset")
	hang, err := m.NewFilterFactory("probe", []byte(`{"scenario":"config","cluster":"auth","path":"/hang"}`))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitLimit)
	for e.host.Stats().CalloutsActive != 1 {
		if time.Now().After(deadline) {
			t.Fatal("config callout never in flight")
		}
		time.Sleep(time.Millisecond)
	}
	be.waitArrived(t) // cancelled before it was sent, it would never be abandoned upstream
	hang.Close()
	select {
	case <-be.hung:
	case <-time.After(waitLimit):
		t.Fatal("the exchange of the destroyed config was not abandoned")
	}
	if e.host.Stats().CalloutsActive != 0 || counter(e.host, "probe.callouts_cancelled", "") != 1 {
		t.Fatalf("active %d cancelled %d", e.host.Stats().CalloutsActive, counter(e.host, "probe.callouts_cancelled", ""))
	}
	if n := probeCall(t, m, "probe_config_result", uintptr(unsafe.Pointer(&buf[0])), 256); n != 0 {
		t.Fatalf("a destroyed config got a result: %q", buf[:n])
	}
}
