package module

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/sluiceproxy/sluice/abi"
	"github.com/sluiceproxy/sluice/host/hcm"
)

// probe drives the api_probe module's exported test functions.
type probe struct {
	t   *testing.T
	m   *Module
	buf []byte // C memory for results
}

func newProbe(t *testing.T, e *env) *probe {
	buf, err := cAlloc(128 * 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cFree(buf) })
	p := &probe{t: t, m: e.load("api_probe"), buf: buf}
	p.call("probe_reset")
	return p
}

func (p *probe) call(name string, args ...uintptr) int64 {
	r, _, _ := purego.SyscallN(sym(p.t, p.m, name), args...)
	return int64(int32(uint32(r)))
}

func (p *probe) results() []int64 {
	n := p.call("probe_results", uintptr(unsafe.Pointer(&p.buf[0])), 128)
	return append([]int64{}, unsafe.Slice((*int64)(unsafe.Pointer(&p.buf[0])), n)...)
}

func (p *probe) expect(want ...int64) {
	p.t.Helper()
	if got := p.results(); !reflect.DeepEqual(got, want) {
		p.t.Fatalf("probe results\n got: %v\nwant: %v", got, want)
	}
	p.call("probe_reset")
}

const (
	ok      = int64(abi.OK)
	ended   = int64(abi.ErrStreamEnded)
	stale   = int64(abi.ErrInvalidHandle)
	foreign = int64(abi.ErrWrongThread)
	end     = 1000 // the module's end-of-scenario marker
	compl   = 2000 // stream_complete ran
)

// A callback made after send_response in the same hook fails; the hook's
// wrong "Continue" is turned into a stop; a connection manager that tears
// the stream down inside SendLocalReply still gets stream_complete and
// destroy only after the hook returned, each exactly once.
func TestCallsAfterLocalReplyAndDeferredDestroy(t *testing.T) {
	e := newEnv(t, 1, Options{})
	p := newProbe(t, e)
	ff := e.factory("api_probe", "probe", `{"scenario": "reply_then_calls"}`)
	cb := newFakeCallbacks(0, ":method", "GET", "host", "h")
	e.on(0, func() {
		f := ff.NewFilter(cb)
		cb.onReply = func() {
			endStream(cb, f)
			if d := p.call("probe_destroys"); d != 0 {
				t.Errorf("destroy ran inside the hook that ended the stream (%d)", d)
			}
		}
		if st := f.DecodeHeaders(cb.req, true); st != hcm.HeadersStopIteration {
			t.Errorf("DecodeHeaders = %d, want StopIteration after a local reply", st)
		}
		want := &localReply{status: 403, hdrs: [][2]string{{"x-probe", "1"}}, body: "denied", details: "probe_denied"}
		if !reflect.DeepEqual(cb.reply, want) {
			t.Errorf("reply %+v, want %+v", cb.reply, want)
		}
		if d, in := p.call("probe_destroys"), p.call("probe_destroy_in_hook"); d != 1 || in != 0 {
			t.Errorf("destroys %d (in hook %d), want 1 (0)", d, in)
		}
		f.OnDestroy() // a second destroy is ignored
		f.OnStreamComplete()
	})
	if d := p.call("probe_destroys"); d != 1 {
		t.Fatalf("destroy ran %d times", d)
	}
	// send_response OK, then header_get, header_set, body_size,
	// continue_decoding, send_response all STREAM_ENDED; stream_complete
	// may still read.
	p.expect(ok, ended, ended, ended, ended, ended, end, compl, ok)
	if s := e.host.Stats(); s.FiltersActive != 0 {
		t.Fatalf("FiltersActive = %d", s.FiltersActive)
	}
}

func TestCallsAfterContinueInSameHook(t *testing.T) {
	e := newEnv(t, 1, Options{})
	p := newProbe(t, e)
	ff := e.factory("api_probe", "probe", `{"scenario": "continue_then_calls"}`)
	cb := newFakeCallbacks(0, ":method", "GET", "host", "h")
	e.on(0, func() {
		f := ff.NewFilter(cb)
		f.DecodeHeaders(cb.req, true)
		if cb.continuedDecoding != 1 || !cb.req.Has("host") {
			t.Errorf("continued %d, host kept %v", cb.continuedDecoding, cb.req.Has("host"))
		}
		endStream(cb, f)
	})
	p.expect(ok, ended, ended, end, compl, ok)
}

func TestStaleHandle(t *testing.T) {
	e := newEnv(t, 1, Options{})
	p := newProbe(t, e)
	ff := e.factory("api_probe", "probe", `{"scenario": "stale_handle"}`)
	for i := 0; i < 2; i++ {
		cb := newFakeCallbacks(0, ":method", "GET", "host", "h")
		e.on(0, func() {
			f := ff.NewFilter(cb)
			f.DecodeHeaders(cb.req, true)
			endStream(cb, f)
		})
	}
	// First stream: no previous handle (-100), counter_add(0) is stale.
	// Second: the first stream's handle is stale for every call.
	p.expect(-100, stale, ok, end, compl, ok, stale, stale, ok, end, compl, ok)
}

func TestForeignThreadCalls(t *testing.T) {
	e := newEnv(t, 1, Options{})
	p := newProbe(t, e)
	ff := e.factory("api_probe", "probe", `{"scenario": "foreign_thread"}`)
	cb := newFakeCallbacks(0, ":method", "GET", "host", "h")
	var f hcm.StreamFilter
	e.on(0, func() {
		f = ff.NewFilter(cb)
		f.DecodeHeaders(cb.req, true)
	})
	// The worker is idle now; the module thread's worker-only calls are
	// refused, the thread-safe metric call works.
	p.call("probe_release_thread")
	if n := p.call("probe_wait_results", 4); n != 4 {
		t.Fatalf("module thread produced %d results", n)
	}
	p.expect(foreign, ok, foreign, end)
	e.on(0, func() { endStream(cb, f) })
	calls := int64(-1)
	for _, m := range e.host.Stats().Metrics {
		if m.Name == "probe.probe_calls" {
			calls = m.Value
		}
	}
	if calls != 5 {
		t.Fatalf("probe_calls = %d, want 5", calls)
	}
}

func TestReadAllAndPerRouteConfig(t *testing.T) {
	e := newEnv(t, 1, Options{})
	p := newProbe(t, e)
	ff := e.factory("api_probe", "probe", `{"scenario": "read_all"}`)
	prc, err := ff.ParsePerRouteConfig([]byte("route-A"))
	if err != nil {
		t.Fatal(err)
	}
	cb := newFakeCallbacks(0, ":method", "GET", ":path", "/p?q=1", ":authority", "ex.com", "X-Multi", "a", "x-multi", "b")
	cb.perFilter = map[string]any{"probe": prc}
	e.on(0, func() {
		f := ff.NewFilter(cb)
		if st := f.DecodeHeaders(cb.req, true); st != hcm.HeadersContinue {
			t.Errorf("DecodeHeaders = %d", st)
		}
		if cb.clearedRoute != 1 {
			t.Errorf("clear_route_cache reached the stream %d times", cb.clearedRoute)
		}
		for name, want := range map[string]string{"x-probe-method": "GET", "x-probe-path": "/p?q=1",
			"x-probe-second": "b", "x-probe-route": "route-A", "x-probe-attrs": "ex.com|10.0.0.1:5555|HTTP/1.1"} {
			if v, _ := cb.req.Get(name); string(v) != want {
				t.Errorf("%s = %q, want %q", name, v, want)
			}
		}
		if v, _ := cb.info.GetMetadata("probe", "k"); v.Str != "v1" || v.IsNumber {
			t.Errorf("metadata probe/k = %+v", v)
		}
		if v, _ := cb.info.GetMetadata("probe", "n"); v.Num != 2.5 || !v.IsNumber {
			t.Errorf("metadata probe/n = %+v", v)
		}
		endStream(cb, f)
	})
	tooSmall, notFound, badArg := int64(abi.ErrBufferTooSmall), int64(abi.ErrNotFound), int64(abi.ErrInvalidArg)
	unavailable, wrongPhase := int64(abi.ErrUnavailable), int64(abi.ErrWrongPhase)
	p.expect(tooSmall, 5, // headers_get into 2 slots: 5 headers
		ok, 2, notFound, // X-Multi value #1 of 2; #5 absent
		ok, 2, // header_values
		badArg, badArg, // CRLF in a value; unknown map kind
		unavailable, unavailable, // response headers and received body on the request path
		wrongPhase,                    // define_counter outside config_new
		ok, ok, ok, 0, ok, 41, badArg, // attributes: method, path, worker 0, conn 41, unknown id
		ok, ok, ok, ok, 25, notFound, // metadata set/get, 2.5*10
		ok,                   // per_route_config
		ok, ok, ok, notFound, // host, source address, protocol; no request id
		ok, 1, 0, // clear_route_cache, concurrency, log_enabled(OFF)
		ok, end, // counter_add
		compl, notFound) // stream_complete reads "host": this request has :authority only

	ff.DestroyPerRouteConfig(prc)
	ff.DestroyPerRouteConfig(prc)
	if n := p.call("probe_per_route_destroys"); n != 1 {
		t.Fatalf("per-route destroy ran %d times", n)
	}
	_, err = ff.ParsePerRouteConfig(nil)
	want := `module "` + ff.mod.Path() + `", filter "probe": per-route config rejected by the module: empty per-route config`
	if err == nil || err.Error() != want {
		t.Fatalf("error\n got: %v\nwant: %s", err, want)
	}
	pt := e.factory("passthrough", "pt", "")
	_, err = pt.ParsePerRouteConfig([]byte("x"))
	want = `module "` + pt.mod.Path() + `", filter "pt": the module has no per-route config ` +
		`(sluice_on_http_filter_per_route_config_new is not exported)`
	if err == nil || err.Error() != want {
		t.Fatalf("error\n got: %v\nwant: %s", err, want)
	}
}
