package hcm_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/http1"
	"github.com/sluiceproxy/sluice/host/http2"
	"github.com/sluiceproxy/sluice/host/network"
	"github.com/sluiceproxy/sluice/host/router"
	"github.com/sluiceproxy/sluice/host/worker"
)

// proxyHarness is one worker running a connection manager in front of an
// httptest backend, with the Go filters under test.
type proxyHarness struct {
	cfg     *hcm.Config
	w       *worker.Worker
	addr    string
	backend *httptest.Server
	got     chan string // request bodies the backend saw
	stats   *hcm.Stats
}

func newHarness(t *testing.T, routeTimeout time.Duration, bufferLimit int, filters ...hcm.NamedFilter) *proxyHarness {
	t.Helper()
	h := &proxyHarness{got: make(chan string, 16)}
	h.backend = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.got <- string(body)
		w.Header().Set("x-backend", "1")
		if r.URL.Path == "/hang" {
			<-r.Context().Done()
			return
		}
		fmt.Fprintf(w, "backend saw %d bytes", len(body))
	}))
	be := netip.MustParseAddrPort(strings.TrimPrefix(h.backend.URL, "http://"))
	w, err := worker.New(worker.Options{Index: 0})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run()
	cm, err := cluster.NewManagerWithSettings([]cluster.Settings{{Name: "be", Endpoints: []netip.AddrPort{be}}}, []*worker.Worker{w}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	rc := &config.RouteConfiguration{VirtualHosts: []config.VirtualHost{{
		Name: "all", Domains: []string{"*"},
		Routes: []config.Route{
			{Match: config.RouteMatch{Prefix: "/direct", CaseSensitive: true}, DirectResponse: &config.DirectResponse{Status: 200, Body: config.DataSource{InlineString: "direct"}}},
			{Match: config.RouteMatch{Prefix: "/", CaseSensitive: true}, Route: &config.RouteAction{Cluster: "be", Timeout: routeTimeout}},
		},
	}}}
	table, err := router.Compile(rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.stats = &hcm.Stats{}
	cfg := &hcm.Config{
		Limits: http1.DefaultLimits(), BufferLimit: bufferLimit, Filters: filters,
		Routes: table, Clusters: cm, Log: zap.NewNop(), Stats: h.stats, IdleTimeout: time.Minute,
	}
	cfg.NewHTTP2 = func(t codec.Transport, cb codec.Callbacks) codec.ServerCodec {
		return http2.NewServerCodec(t, cb, http2.Options{}, zap.NewNop())
	}
	h.cfg = cfg
	h.w = w
	set := &network.Set{}
	ready := make(chan error, 1)
	w.Post(func() {
		l, err := w.Listen(netip.MustParseAddrPort("127.0.0.1:0"), func(c *worker.Conn) { cfg.Serve(c, set) })
		if err == nil {
			h.addr = l.Addr().String()
		}
		ready <- err
	})
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cm.Close()
		w.Stop()
		<-w.Done()
		h.backend.Close()
		goleak.VerifyNone(t, goleak.IgnoreCurrent())
	})
	return h
}

func (h *proxyHarness) do(t *testing.T, method, path, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+h.addr+path, strings.NewReader(body))
	if body == "" {
		req.Body = nil
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// scripted is a filter whose hooks are functions; it records calls.
type scripted struct {
	hcm.PassThrough
	cb        hcm.FilterCallbacks
	log       *callLog
	name      string
	decodeHdr func(f *scripted, h *headers.Map, end bool) hcm.HeadersStatus
	decodeDat func(f *scripted, b hcm.Buffer, end bool) hcm.DataStatus
	encodeHdr func(f *scripted, h *headers.Map, end bool) hcm.HeadersStatus
	encodeDat func(f *scripted, b hcm.Buffer, end bool) hcm.DataStatus
}

type callLog struct {
	mu        sync.Mutex
	calls     []string
	destroyed int
}

func (l *callLog) add(s string) {
	l.mu.Lock()
	l.calls = append(l.calls, s)
	l.mu.Unlock()
}

func (l *callLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.calls, " ")
}

func (f *scripted) DecodeHeaders(h *headers.Map, end bool) hcm.HeadersStatus {
	f.log.add(fmt.Sprintf("%s.dh(%v)", f.name, end))
	if f.decodeHdr != nil {
		return f.decodeHdr(f, h, end)
	}
	return hcm.HeadersContinue
}

func (f *scripted) DecodeData(b hcm.Buffer, end bool) hcm.DataStatus {
	f.log.add(fmt.Sprintf("%s.dd(%d,%v)", f.name, b.Len(), end))
	if f.decodeDat != nil {
		return f.decodeDat(f, b, end)
	}
	return hcm.DataContinue
}

func (f *scripted) EncodeHeaders(h *headers.Map, end bool) hcm.HeadersStatus {
	f.log.add(fmt.Sprintf("%s.eh(%d)", f.name, h.Status()))
	if f.encodeHdr != nil {
		return f.encodeHdr(f, h, end)
	}
	return hcm.HeadersContinue
}

func (f *scripted) EncodeData(b hcm.Buffer, end bool) hcm.DataStatus {
	if f.encodeDat != nil {
		return f.encodeDat(f, b, end)
	}
	return hcm.DataContinue
}

func (f *scripted) OnDestroy() {
	f.log.mu.Lock()
	f.log.destroyed++
	f.log.mu.Unlock()
}

type scriptedFactory struct {
	proto scripted
}

func (sf *scriptedFactory) NewFilter(cb hcm.FilterCallbacks) hcm.StreamFilter {
	f := sf.proto
	f.cb = cb
	return &f
}

func filter(name string, log *callLog, setup func(f *scripted)) hcm.NamedFilter {
	sf := &scriptedFactory{proto: scripted{name: name, log: log}}
	setup(&sf.proto)
	return hcm.NamedFilter{Name: name, Factory: sf}
}

func TestStopIterationThenAsyncContinue(t *testing.T) {
	log := &callLog{}
	h := newHarness(t, 5*time.Second, 1<<20,
		filter("a", log, func(f *scripted) {
			f.decodeHdr = func(f *scripted, h *headers.Map, end bool) hcm.HeadersStatus {
				cb := f.cb
				sched := cb.NewScheduler()
				// Resume from another goroutine through the worker, as a
				// module's scheduler would.
				go sched.Schedule(func() {
					cb.RequestHeaders().SetString("x-from-a", "1")
					cb.ContinueDecoding()
				})
				return hcm.HeadersStopIteration
			}
		}),
		filter("b", log, func(f *scripted) {}))
	status, _, body := h.do(t, "POST", "/x", "hello")
	if status != 200 || body != "backend saw 5 bytes" {
		t.Fatalf("got %d %q", status, body)
	}
	if got := <-h.got; got != "hello" {
		t.Fatalf("backend body %q", got)
	}
	// a stopped headers; the body still went to a (StopIteration lets data
	// through to the stopping filter) and was buffered for b.
	calls := log.String()
	if !strings.HasPrefix(calls, "a.dh(false)") || !strings.Contains(calls, "b.dh(false)") {
		t.Fatalf("calls: %s", calls)
	}
}

func TestStopAllBuffersBodyUntilContinue(t *testing.T) {
	log := &callLog{}
	h := newHarness(t, 5*time.Second, 1<<20,
		filter("a", log, func(f *scripted) {
			f.decodeHdr = func(f *scripted, h *headers.Map, end bool) hcm.HeadersStatus {
				cb := f.cb
				sched := cb.NewScheduler()
				go func() {
					// Continue later, from another thread; the body that
					// arrives meanwhile must wait, not be lost.
					time.Sleep(20 * time.Millisecond)
					sched.Schedule(func() { log.add("continue"); cb.ContinueDecoding() })
				}()
				return hcm.HeadersStopAllIterationAndBuffer
			}
		}))
	big := strings.Repeat("x", 200000)
	status, _, body := h.do(t, "POST", "/x", big)
	if status != 200 || body != "backend saw 200000 bytes" {
		t.Fatalf("got %d %q", status, body)
	}
	if got := <-h.got; got != big {
		t.Fatalf("backend got %d bytes", len(got))
	}
	// With StopAll, the filter sees no data until it continues, then what
	// was buffered meanwhile in one call (the whole body when it all
	// arrived in time), then the rest as it comes.
	calls := strings.TrimSuffix(log.String(), " a.eh(200)")
	if !strings.HasPrefix(calls, "a.dh(false) continue a.dd(") || !strings.HasSuffix(calls, ",true)") {
		t.Fatalf("calls: %s", calls)
	}
	total := 0
	for _, c := range strings.Fields(calls)[2:] {
		var n int
		var end bool
		if _, err := fmt.Sscanf(c, "a.dd(%d,%t)", &n, &end); err != nil {
			t.Fatalf("call %q in %s", c, calls)
		}
		total += n
	}
	if total != len(big) {
		t.Fatalf("filter saw %d bytes: %s", total, calls)
	}
}

func TestBodyRewriteWithBufferAndContinue(t *testing.T) {
	log := &callLog{}
	// Envoy's contract: each call gets the new chunk; what the filter
	// buffered before is in Buffered*Body.
	upper := func(buffered func() hcm.Buffer) func(f *scripted, b hcm.Buffer, end bool) hcm.DataStatus {
		return func(f *scripted, b hcm.Buffer, end bool) hcm.DataStatus {
			if !end {
				return hcm.DataStopIterationAndBuffer
			}
			var whole []byte
			if prev := buffered(); prev != nil {
				whole = append(whole, prev.Bytes()...)
				prev.Drain(prev.Len())
			}
			whole = append(whole, b.Bytes()...)
			b.Drain(b.Len())
			b.Append(bytes.ToUpper(whole))
			return hcm.DataContinue
		}
	}
	var cb hcm.FilterCallbacks
	h := newHarness(t, 5*time.Second, 1<<20, filter("up", log, func(f *scripted) {
		f.decodeDat = func(f *scripted, b hcm.Buffer, end bool) hcm.DataStatus {
			cb = f.cb
			return upper(func() hcm.Buffer { return cb.BufferedRequestBody() })(f, b, end)
		}
		f.encodeDat = func(f *scripted, b hcm.Buffer, end bool) hcm.DataStatus {
			cb = f.cb
			return upper(func() hcm.Buffer { return cb.BufferedResponseBody() })(f, b, end)
		}
	}))
	status, _, body := h.do(t, "POST", "/x", strings.Repeat("ab", 50000))
	if status != 200 || body != "BACKEND SAW 100000 BYTES" {
		t.Fatalf("got %d %q", status, body)
	}
	if got := <-h.got; got != strings.Repeat("AB", 50000) {
		t.Fatalf("backend got %q...", got[:10])
	}
}

func TestLocalReplySkipsLaterFiltersAndEncodesThroughEarlier(t *testing.T) {
	log := &callLog{}
	h := newHarness(t, 5*time.Second, 1<<20,
		filter("outer", log, func(f *scripted) {}),
		filter("auth", log, func(f *scripted) {
			f.decodeHdr = func(f *scripted, h *headers.Map, end bool) hcm.HeadersStatus {
				f.cb.SendLocalReply(403, [][2]string{{"x-denied", "yes"}}, []byte("denied"), "auth_denied")
				// The stream ended inside this hook: every later call fails
				// without touching freed state.
				if f.cb.ContinueDecoding() || f.cb.RequestHeaders() != nil || f.cb.SendLocalReply(500, nil, nil, "") {
					panic("callbacks on an ended stream must fail")
				}
				return hcm.HeadersStopIteration
			}
		}),
		filter("inner", log, func(f *scripted) {}))
	status, hdr, body := h.do(t, "GET", "/x", "")
	if status != 403 || body != "denied" || hdr.Get("x-denied") != "yes" {
		t.Fatalf("got %d %q %v", status, body, hdr)
	}
	if calls := log.String(); calls != "outer.dh(true) auth.dh(true) outer.eh(403)" {
		t.Fatalf("calls: %s", calls)
	}
	// Destroy ran once per filter, after the hook returned.
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.destroyed != 3 {
		t.Fatalf("destroyed %d filters, want 3", log.destroyed)
	}
}

func TestStreamLeftStoppedEndsWith504(t *testing.T) {
	log := &callLog{}
	h := newHarness(t, 150*time.Millisecond, 1<<20, filter("stuck", log, func(f *scripted) {
		f.decodeHdr = func(*scripted, *headers.Map, bool) hcm.HeadersStatus { return hcm.HeadersStopIteration }
	}))
	status, _, body := h.do(t, "GET", "/x", "")
	if status != 504 || body != "upstream request timeout" {
		t.Fatalf("got %d %q", status, body)
	}
}

func TestBufferLimitRejectsLargeRequestWith413(t *testing.T) {
	log := &callLog{}
	h := newHarness(t, 5*time.Second, 1024, filter("hold", log, func(f *scripted) {
		f.decodeHdr = func(*scripted, *headers.Map, bool) hcm.HeadersStatus {
			return hcm.HeadersStopAllIterationAndBuffer
		}
	}))
	status, _, body := h.do(t, "POST", "/x", strings.Repeat("z", 4096))
	if status != 413 || body != "Payload Too Large" {
		t.Fatalf("got %d %q", status, body)
	}
	if n := h.stats.DownstreamRqTooLarge.Load(); n != 1 {
		t.Fatalf("downstream_rq_too_large = %d", n)
	}
}

func TestInvalidStatusFailsStreamWith500(t *testing.T) {
	log := &callLog{}
	h := newHarness(t, 5*time.Second, 1<<20, filter("bad", log, func(f *scripted) {
		f.decodeHdr = func(*scripted, *headers.Map, bool) hcm.HeadersStatus { return hcm.HeadersStatus(42) }
	}))
	status, _, _ := h.do(t, "GET", "/x", "")
	if status != 500 {
		t.Fatalf("got %d", status)
	}
	if n := h.stats.FilterFailures.Load(); n != 1 {
		t.Fatalf("filter_failures = %d", n)
	}
}

func TestEncodeStopThenContinue(t *testing.T) {
	log := &callLog{}
	h := newHarness(t, 5*time.Second, 1<<20, filter("resp", log, func(f *scripted) {
		f.encodeHdr = func(f *scripted, h *headers.Map, end bool) hcm.HeadersStatus {
			cb := f.cb
			h.SetString("x-encoded", "late")
			sched := cb.NewScheduler()
			go sched.Schedule(func() { cb.ContinueEncoding() })
			return hcm.HeadersStopIteration
		}
	}))
	status, hdr, body := h.do(t, "GET", "/direct", "")
	if status != 200 || body != "direct" || hdr.Get("x-encoded") != "late" {
		t.Fatalf("got %d %q %v", status, body, hdr)
	}
}

// setStreamIdle changes the stream idle timeout before any request is sent.
func (h *proxyHarness) setStreamIdle(d time.Duration) { h.cfg.StreamIdleTimeout = d }

// TestContinueInsideOwnHookActsAsContinue: a filter that continues from
// inside its own hook (then returns a stop) is continued exactly once.
func TestContinueInsideOwnHookActsAsContinue(t *testing.T) {
	log := &callLog{}
	h := newHarness(t, 5*time.Second, 1<<20,
		filter("eager", log, func(f *scripted) {
			f.decodeHdr = func(f *scripted, h *headers.Map, end bool) hcm.HeadersStatus {
				f.cb.ContinueDecoding()
				return hcm.HeadersStopIteration
			}
		}),
		filter("next", log, func(f *scripted) {}))
	status, _, body := h.do(t, "GET", "/direct", "")
	if status != 200 || body != "direct" {
		t.Fatalf("got %d %q", status, body)
	}
	if calls := log.String(); calls != "eager.dh(true) next.dh(true) next.eh(200) eager.eh(200)" {
		t.Fatalf("calls: %s", calls)
	}
}

// TestLocalReplyThenContinueStopsTheWalk: a filter that answers locally and
// returns Continue anyway must not let later filters see the request.
func TestLocalReplyThenContinueStopsTheWalk(t *testing.T) {
	log := &callLog{}
	h := newHarness(t, 5*time.Second, 1<<20,
		filter("hold", log, func(f *scripted) {
			// Holds the reply in the encode walk, so the stream is not
			// over when the replying hook returns.
			f.encodeHdr = func(f *scripted, h *headers.Map, end bool) hcm.HeadersStatus {
				cb := f.cb
				sched := cb.NewScheduler()
				go sched.Schedule(func() { cb.ContinueEncoding() })
				return hcm.HeadersStopIteration
			}
		}),
		filter("reply", log, func(f *scripted) {
			f.decodeHdr = func(f *scripted, h *headers.Map, end bool) hcm.HeadersStatus {
				f.cb.SendLocalReply(401, nil, []byte("no"), "denied")
				return hcm.HeadersContinue
			}
		}),
		filter("after", log, func(f *scripted) {}))
	status, _, body := h.do(t, "GET", "/x", "")
	if status != 401 || body != "no" {
		t.Fatalf("got %d %q", status, body)
	}
	if calls := log.String(); strings.Contains(calls, "after.dh") {
		t.Fatalf("a filter after the local reply saw the request: %s", calls)
	}
}

// TestServeNegotiatedSelectsCodec: the ALPN hook picks the codec without
// looking at the bytes (a TLS transport will call it after the handshake).
func TestServeNegotiatedSelectsCodec(t *testing.T) {
	h := newHarness(t, 5*time.Second, 1<<20)
	for _, tc := range []struct{ alpn, raw, wantPrefix string }{
		{"http/1.1", "GET /direct HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK"},
		// With "h2" negotiated, an HTTP/1.1 request is a bad client preface:
		// the HTTP/2 codec answers with its SETTINGS and a GOAWAY frame.
		{"h2", "GET /direct HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "\x00\x00"},
	} {
		addr := h.listenNegotiated(t, tc.alpn)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, tc.raw)
		got, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(got), tc.wantPrefix) {
			t.Errorf("alpn %q: got %q", tc.alpn, got)
		}
	}
}

// listenNegotiated opens another listener whose connections are served as
// if ALPN had negotiated alpn.
func (h *proxyHarness) listenNegotiated(t *testing.T, alpn string) string {
	t.Helper()
	addr := make(chan string, 1)
	h.w.Post(func() {
		l, err := h.w.Listen(netip.MustParseAddrPort("127.0.0.1:0"), func(c *worker.Conn) { h.cfg.ServeNegotiated(c, nil, alpn) })
		if err != nil {
			panic(err)
		}
		addr <- l.Addr().String()
	})
	return <-addr
}
