package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/sluiceproxy/sluice/host/headers"
)

// barrier releases its handlers once n of them run at the same time,
// which proves the streams were concurrent.
func barrier(n int32) http.HandlerFunc {
	var in atomic.Int32
	all := make(chan struct{})
	return func(w http.ResponseWriter, r *http.Request) {
		if in.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(waitLimit):
			http.Error(w, "barrier not reached", http.StatusGatewayTimeout)
			return
		}
		io.WriteString(w, r.URL.Path)
	}
}

func startAll(t *testing.T, c *Cluster, rs []*recorder, onWorker func(f func())) {
	onWorker(func() {
		for _, r := range rs {
			c.NewStream(c.pools[0].w, r.handler())
		}
	})
}

func TestH2MultiplexesStreamsOnOneConnection(t *testing.T) {
	const n = 20
	srv, c, w := h2Setup(t, barrier(n), Settings{})
	var rs []*recorder
	for i := range n {
		rs = append(rs, newRecorder(getReq(fmt.Sprintf("/s%d", i))))
	}
	startAll(t, c, rs, func(f func()) { onLoop(t, w, f) })
	for i, r := range rs {
		r.wait(t)
		if r.final != "end" || r.status != 200 || string(r.got) != fmt.Sprintf("/s%d", i) {
			t.Fatalf("stream %d: %s status %d body %q", i, r.eventString(), r.status, r.got)
		}
	}
	if got := srv.conns.Load(); got != 1 {
		t.Fatalf("%d upstream connections for %d concurrent streams, want 1", got, n)
	}
	st := waitStats(t, w, c, "streams done", func(s Stats) bool { return s.RqActive == 0 })
	if st.RqTotal != n || st.RqCompleted != n || st.CxTotal != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// With max_concurrent_streams 2, five concurrent streams need three
// connections; with max_connections 1 they share one, the rest queued.
func TestH2OpensConnectionsWhenStreamsAreFull(t *testing.T) {
	srv, c, w := h2Setup(t, barrier(5), Settings{HTTP2Options: HTTP2Options{MaxConcurrentStreams: 2}})
	var rs []*recorder
	for i := range 5 {
		rs = append(rs, newRecorder(getReq(fmt.Sprintf("/%d", i))))
	}
	startAll(t, c, rs, func(f func()) { onLoop(t, w, f) })
	for _, r := range rs {
		r.wait(t)
		if r.final != "end" || r.status != 200 {
			t.Fatalf("%s", r.eventString())
		}
	}
	if got := srv.conns.Load(); got != 3 {
		t.Fatalf("%d connections, want 3", got)
	}

	srv2, c2, w2 := h2Setup(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) },
		Settings{MaxConnections: 1, HTTP2Options: HTTP2Options{MaxConcurrentStreams: 2}})
	rs = rs[:0]
	for i := range 6 {
		rs = append(rs, newRecorder(getReq(fmt.Sprintf("/%d", i))))
	}
	startAll(t, c2, rs, func(f func()) { onLoop(t, w2, f) })
	for i, r := range rs {
		r.wait(t)
		if r.final != "end" || string(r.got) != fmt.Sprintf("/%d", i) {
			t.Fatalf("%d: %s %q", i, r.eventString(), r.got)
		}
	}
	st := waitStats(t, w2, c2, "streams done", func(s Stats) bool { return s.RqActive == 0 })
	// All six waited: two for the connection's SETTINGS, four in the queue.
	if srv2.conns.Load() != 1 || st.RqPendingTotal != 6 || st.CxOverflow == 0 {
		t.Fatalf("conns %d stats %+v", srv2.conns.Load(), st)
	}
}

// Request trailers reach the server; response trailers (where gRPC keeps
// its status) come back through OnResponseTrailers; connection-specific
// fields are dropped and "te: trailers" kept.
func TestH2TrailersAndHeaderTranslation(t *testing.T) {
	seen := make(chan string, 1)
	_, c, w := h2Setup(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen <- fmt.Sprintf("%s %s host=%s te=%q conn=%q ka=%q x=%q body=%q trailer=%q",
			r.Method, r.URL.Path, r.Host, r.Header.Get("Te"), r.Header.Get("Connection"),
			r.Header.Get("Keep-Alive"), r.Header.Get("X-Custom"), body, r.Trailer.Get("Grpc-Timeout-Ack"))
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		w.Header().Set("Content-Type", "application/grpc")
		io.WriteString(w, "reply")
		w.Header().Set("Grpc-Status", "5")
		w.Header().Set("Grpc-Message", "not found")
	}, Settings{})
	r := newRecorder(reqWith("POST", "/pkg.Svc/Get", "te", "gzip, Trailers", "connection", "keep-alive", "keep-alive", "timeout=5", "x-custom", "v", "trailer", "grpc-timeout-ack"))
	r.body = [][]byte{[]byte("hello")}
	r.trailers = &headers.Map{}
	r.trailers.AddString("grpc-timeout-ack", "yes")
	roundTrip(t, w, c, r)
	if got := recv(t, seen, "the request"); got != `POST /pkg.Svc/Get host=backend.test te="trailers" conn="" ka="" x="v" body="hello" trailer="yes"` {
		t.Fatalf("server saw %s", got)
	}
	if r.final != "end" || r.eventString() != "ready, headers 200 end=false, data 5 end=false, trailers 2" {
		t.Fatalf("events %s", r.eventString())
	}
	if v, _ := r.respTr.Get("grpc-status"); string(v) != "5" {
		t.Fatalf("trailers %v", r.respTr.Len())
	}
	if v, _ := r.respTr.Get("grpc-message"); string(v) != "not found" {
		t.Fatalf("grpc-message %q", v)
	}
}

// A bad request head is refused locally, nothing is written and the
// connection keeps serving.
func TestH2RefusesBadRequestHead(t *testing.T) {
	srv, c, w := h2Setup(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }, Settings{})
	bad := newRecorder(reqWith("GET", "/", "x-bad", "a\r\nb"))
	roundTrip(t, w, c, bad)
	if bad.final != "reset" || bad.reset != LocalReset || !errors.Is(bad.err, ErrBadHeaderValue) {
		t.Fatalf("%s %v", bad.eventString(), bad.err)
	}
	good := roundTrip(t, w, c, newRecorder(getReq("/")))
	if good.final != "end" || string(good.got) != "ok" || srv.conns.Load() != 1 {
		t.Fatalf("%s conns %d", good.eventString(), srv.conns.Load())
	}
}

// A handler that aborts makes the Go server reset its stream; the other
// stream on the connection is unaffected.
func TestH2ServerResetsOneStream(t *testing.T) {
	release := make(chan struct{})
	srv, c, w := h2Setup(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		select {
		case <-release:
		case <-time.After(waitLimit):
		}
		io.WriteString(w, "slow")
	}, Settings{})
	slow, abort := newRecorder(getReq("/slow")), newRecorder(getReq("/abort"))
	start(t, w, c, slow)
	start(t, w, c, abort)
	abort.wait(t)
	var rse *StreamResetError
	if abort.final != "reset" || abort.reset != RemoteReset || !errors.As(abort.err, &rse) || rse.Code != http2.ErrCodeInternal {
		t.Fatalf("abort: %s %v", abort.eventString(), abort.err)
	}
	close(release)
	slow.wait(t)
	if slow.final != "end" || string(slow.got) != "slow" || srv.conns.Load() != 1 {
		t.Fatalf("slow: %s conns %d", slow.eventString(), srv.conns.Load())
	}
	if st := c.Stats(); st.RqRxReset != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// GOAWAY below an open stream: the stream the server never processed is
// sent again on a new connection, the processed one completes, and the
// old connection takes no new stream.
func TestH2GoAwayRetriesUnprocessedStream(t *testing.T) {
	raw := newRawH2(t)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{HTTP2: true, Endpoints: []netip.AddrPort{raw.addr}})
	a, b := newRecorder(getReq("/a")), newRecorder(getReq("/b"))
	start(t, ws[0], c, a)
	p1 := raw.accept(t)
	start(t, ws[0], c, b)
	ids, paths := p1.headers(2)
	if paths[0] != "/a" || paths[1] != "/b" || ids[0] != 1 || ids[1] != 3 {
		t.Fatalf("ids %v paths %v", ids, paths)
	}
	if err := p1.fr.WriteGoAway(1, http2.ErrCodeNo, nil); err != nil {
		t.Fatal(err)
	}
	p2 := raw.accept(t)
	ids2, paths2 := p2.headers(1)
	if paths2[0] != "/b" {
		t.Fatalf("retried %v", paths2)
	}
	p2.respond(ids2[0], "200", []byte("B"), true)
	p1.respond(1, "200", []byte("A"), true)
	a.wait(t)
	b.wait(t)
	if a.final != "end" || string(a.got) != "A" || b.final != "end" || string(b.got) != "B" {
		t.Fatalf("a: %s %q; b: %s %q", a.eventString(), a.got, b.eventString(), b.got)
	}
	if b.eventString() != "ready, headers 200 end=false, data 1 end=true" {
		t.Fatalf("the retry must be invisible: %s", b.eventString())
	}
	// The GOAWAY connection closes once its last stream ended; new streams
	// use the second connection.
	st := waitStats(t, ws[0], c, "first connection closed", func(s Stats) bool { return s.CxActive == 1 })
	if st.RqRetryStale != 1 {
		t.Fatalf("stats %+v", st)
	}
	d := newRecorder(getReq("/d"))
	start(t, ws[0], c, d)
	ids3, _ := p2.headers(1)
	p2.respond(ids3[0], "204", nil, true)
	d.wait(t)
	if d.final != "end" || d.status != 204 {
		t.Fatalf("d: %s", d.eventString())
	}
}

// A request too large to have been recorded cannot be retried after
// GOAWAY: it is reset with ErrGoAway.
func TestH2GoAwayResetsUnrecordedStream(t *testing.T) {
	raw := newRawH2(t)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{HTTP2: true, Endpoints: []netip.AddrPort{raw.addr}})
	big := newRecorder(reqWith("POST", "/big"))
	big.body = [][]byte{make([]byte, maxReplay+1)}
	start(t, ws[0], c, big)
	p := raw.accept(t, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	p.headers(1)
	if err := p.fr.WriteGoAway(0, http2.ErrCodeNo, nil); err != nil {
		t.Fatal(err)
	}
	big.wait(t)
	if big.final != "reset" || big.reset != ConnectionTermination || !errors.Is(big.err, ErrGoAway) {
		t.Fatalf("%s %v", big.eventString(), big.err)
	}
}

// The upstream dies mid-body: every stream of the connection is reset
// with ConnectionTermination, and the next request gets a new connection.
func TestH2ServerGoesAwayMidStream(t *testing.T) {
	raw := newRawH2(t)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{HTTP2: true, Endpoints: []netip.AddrPort{raw.addr}})
	a, b := newRecorder(getReq("/a")), newRecorder(getReq("/b"))
	start(t, ws[0], c, a)
	p := raw.accept(t)
	start(t, ws[0], c, b)
	p.headers(2)
	p.respond(1, "200", []byte("part"), false)
	// FIN rather than close: a close with unread input would be an RST,
	// which may overtake the DATA.
	p.c.(*net.TCPConn).CloseWrite()
	a.wait(t)
	b.wait(t)
	if a.eventString() != "ready, headers 200 end=false, data 4 end=false, reset connection_termination" {
		t.Fatalf("a: %s", a.eventString())
	}
	if b.eventString() != "ready, reset connection_termination" || !errors.Is(b.err, ErrUpstreamClosed) {
		t.Fatalf("b: %s %v", b.eventString(), b.err)
	}
	next := newRecorder(getReq("/next"))
	start(t, ws[0], c, next)
	p2 := raw.accept(t)
	ids, _ := p2.headers(1)
	p2.respond(ids[0], "200", []byte("ok"), true)
	next.wait(t)
	if next.final != "end" || string(next.got) != "ok" {
		t.Fatalf("next: %s", next.eventString())
	}
}

// A server that sends no SETTINGS before closing fails the streams that
// waited for it, as a connect failure.
func TestH2NoSettingsIsConnectFailure(t *testing.T) {
	raw := newRawH2(t)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{HTTP2: true, Endpoints: []netip.AddrPort{raw.addr}})
	r := newRecorder(getReq("/"))
	start(t, ws[0], c, r)
	p := recv(t, raw.peers, "the connection")
	p.c.Close()
	r.wait(t)
	if r.final != "failure" || r.failure != ConnectFailure {
		t.Fatalf("%s %v", r.eventString(), r.err)
	}
}

// A malformed response head (uppercase field name) resets that stream
// with ProtocolError.
func TestH2MalformedResponseHead(t *testing.T) {
	raw := newRawH2(t)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{HTTP2: true, Endpoints: []netip.AddrPort{raw.addr}})
	r := newRecorder(getReq("/"))
	start(t, ws[0], c, r)
	p := raw.accept(t)
	ids, _ := p.headers(1)
	p.hbuf.Reset()
	p.enc.WriteField(hpackField(":status", "200"))
	p.enc.WriteField(hpackField("Bad", "x"))
	if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: ids[0], BlockFragment: p.hbuf.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	r.wait(t)
	if r.final != "reset" || r.reset != ProtocolError || !errors.Is(r.err, ErrH2BadResponse) {
		t.Fatalf("%s %v", r.eventString(), r.err)
	}
	f := readUntil(t, p, func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok })
	if rst := f.(*http2.RSTStreamFrame); rst.StreamID != ids[0] || rst.ErrCode != http2.ErrCodeProtocol {
		t.Fatalf("rst %v", rst)
	}
}

func readUntil(t *testing.T, p *h2Peer, match func(http2.Frame) bool) http2.Frame {
	t.Helper()
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		if match(f) {
			return f
		}
	}
}

func TestH2ConnectRefused(t *testing.T) {
	addr := closedPortAddr(t)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{HTTP2: true, Endpoints: []netip.AddrPort{addr}})
	r := roundTrip(t, ws[0], c, newRecorder(getReq("/")))
	if r.final != "failure" || r.failure != ConnectFailure {
		t.Fatalf("%s", r.eventString())
	}
	if st := c.Stats(); st.CxConnectFail != 1 || st.CxActive != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Reset of an open stream cancels only it (RST_STREAM CANCEL).
func TestH2ResetCancelsOnlyThatStream(t *testing.T) {
	raw := newRawH2(t)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{HTTP2: true, Endpoints: []netip.AddrPort{raw.addr}})
	a, b := newRecorder(getReq("/a")), newRecorder(getReq("/b"))
	sa := start(t, ws[0], c, a)
	p := raw.accept(t)
	start(t, ws[0], c, b)
	ids, _ := p.headers(2)
	onLoop(t, ws[0], func() { sa.Reset() })
	f := readUntil(t, p, func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok })
	if rst := f.(*http2.RSTStreamFrame); rst.StreamID != ids[0] || rst.ErrCode != http2.ErrCodeCancel {
		t.Fatalf("rst %v", rst)
	}
	// Frames for the cancelled stream are ignored.
	p.respond(ids[0], "200", []byte("late"), true)
	p.respond(ids[1], "200", []byte("B"), true)
	b.wait(t)
	if b.final != "end" || string(b.got) != "B" {
		t.Fatalf("b: %s", b.eventString())
	}
	if st := c.Stats(); st.RqTxReset != 1 || st.CxActive != 1 {
		t.Fatalf("stats %+v", st)
	}
	if strings.Contains(a.eventString(), "reset") {
		t.Fatalf("a reset by the caller must get no callback: %s", a.eventString())
	}
}

// REFUSED_STREAM means the server did not process the stream: it is sent
// again (here on the same connection, which has room), invisibly.
func TestH2RefusedStreamIsRetried(t *testing.T) {
	raw := newRawH2(t)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{HTTP2: true, Endpoints: []netip.AddrPort{raw.addr}})
	r := newRecorder(getReq("/again"))
	start(t, ws[0], c, r)
	p := raw.accept(t)
	ids, _ := p.headers(1)
	if err := p.fr.WriteRSTStream(ids[0], http2.ErrCodeRefusedStream); err != nil {
		t.Fatal(err)
	}
	ids2, paths := p.headers(1)
	if ids2[0] != ids[0]+2 || paths[0] != "/again" {
		t.Fatalf("retry id %d path %s", ids2[0], paths[0])
	}
	p.respond(ids2[0], "200", []byte("ok"), true)
	r.wait(t)
	if r.eventString() != "ready, headers 200 end=false, data 2 end=true" {
		t.Fatalf("%s", r.eventString())
	}
	if st := c.Stats(); st.RqRetryStale != 1 || st.RqRxReset != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Streams assigned before the peer's SETTINGS that exceed its
// MAX_CONCURRENT_STREAMS move to another connection.
func TestH2PeerStreamLimitOpensAnotherConnection(t *testing.T) {
	raw := newRawH2(t)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{HTTP2: true, Endpoints: []netip.AddrPort{raw.addr}})
	a, b := newRecorder(getReq("/a")), newRecorder(getReq("/b"))
	onLoop(t, ws[0], func() {
		c.NewStream(ws[0], a)
		c.NewStream(ws[0], b)
	})
	p1 := raw.accept(t, http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1})
	ids1, paths1 := p1.headers(1)
	p2 := raw.accept(t, http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1})
	ids2, paths2 := p2.headers(1)
	if paths1[0] != "/a" || paths2[0] != "/b" {
		t.Fatalf("paths %v %v", paths1, paths2)
	}
	p1.respond(ids1[0], "200", nil, true)
	p2.respond(ids2[0], "200", nil, true)
	a.wait(t)
	b.wait(t)
	if a.final != "end" || b.final != "end" {
		t.Fatalf("a %s b %s", a.eventString(), b.eventString())
	}
}

// A connection without streams is idle: idle_timeout closes it, politely.
func TestH2IdleTimeoutClosesConnection(t *testing.T) {
	raw := newRawH2(t)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{HTTP2: true, IdleTimeout: 50 * time.Millisecond, Endpoints: []netip.AddrPort{raw.addr}})
	r := newRecorder(getReq("/"))
	start(t, ws[0], c, r)
	p := raw.accept(t)
	ids, _ := p.headers(1)
	p.respond(ids[0], "200", nil, true)
	r.wait(t)
	f := readUntil(t, p, func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok })
	if ga := f.(*http2.GoAwayFrame); ga.ErrCode != http2.ErrCodeNo {
		t.Fatalf("goaway %v", ga)
	}
	st := waitStats(t, ws[0], c, "idle close", func(s Stats) bool { return s.CxActive == 0 })
	if st.CxIdleTimeout != 1 || st.CxDestroyLocal != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A connection-level protocol violation (DATA on a stream sluice never
// opened) ends the connection with GOAWAY(PROTOCOL_ERROR) and resets its
// streams with ProtocolError.
func TestH2ConnectionErrorResetsStreams(t *testing.T) {
	raw := newRawH2(t)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{HTTP2: true, Endpoints: []netip.AddrPort{raw.addr}})
	r := newRecorder(getReq("/"))
	start(t, ws[0], c, r)
	p := raw.accept(t)
	p.headers(1)
	if err := p.fr.WriteData(99, false, []byte("x")); err != nil {
		t.Fatal(err)
	}
	r.wait(t)
	if r.final != "reset" || r.reset != ProtocolError || !errors.Is(r.err, ErrH2ConnectionLost) {
		t.Fatalf("%s %v", r.eventString(), r.err)
	}
	f := readUntil(t, p, func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok })
	if ga := f.(*http2.GoAwayFrame); ga.ErrCode != http2.ErrCodeProtocol || ga.LastStreamID != 0 {
		t.Fatalf("goaway %v", ga)
	}
	if st := waitStats(t, ws[0], c, "closed", func(s Stats) bool { return s.CxActive == 0 }); st.CxProtocolError != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// An upstream that answered early sends its whole response, then
// RST_STREAM(NO_ERROR) to stop the upload (RFC 9113 8.1, what grpc-go and
// net/http servers do). While the handler has the response paused the
// stream still holds part of it: the reset must not destroy it. The held
// response is delivered whole on resume and the exchange completes; the
// upload stops.
func TestH2NoErrorResetAfterHeldResponseCompletes(t *testing.T) {
	raw := newRawH2(t)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{HTTP2: true, Endpoints: []netip.AddrPort{raw.addr}})
	req := getReq("/up")
	req.SetString(":method", "POST")
	r := newRecorder(req)
	r.onReady = func(r *recorder, s *Stream) {
		s.SendHeaders(r.req, false)
		s.SendData([]byte("first part of a long upload"), false)
	}
	r.onHeader = func(r *recorder, h *headers.Map, end bool) { r.stream.PauseResponse() }
	start(t, ws[0], c, r)
	p := raw.accept(t)
	ids, _ := p.headers(1)
	body := bytes.Repeat([]byte("b"), 40<<10)
	p.respond(ids[0], "200", body[:16384], false)
	p.fr.WriteData(ids[0], false, body[16384:32768])
	p.fr.WriteData(ids[0], false, body[32768:])
	p.hbuf.Reset()
	p.enc.WriteField(hpackField("grpc-status", "7"))
	p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: ids[0], BlockFragment: p.hbuf.Bytes(), EndHeaders: true, EndStream: true})
	p.fr.WriteRSTStream(ids[0], http2.ErrCodeNo)
	// A PING answered means every frame before it was processed.
	p.fr.WritePing(false, [8]byte{1})
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if pf, ok := f.(*http2.PingFrame); ok && pf.IsAck() {
			break
		}
		if rf, ok := f.(*http2.RSTStreamFrame); ok {
			t.Fatalf("sluice reset the finished stream: %v", rf.ErrCode)
		}
	}
	var events string
	onLoop(t, ws[0], func() {
		if r.stream == nil {
			events = r.eventString()
			return
		}
		r.stream.SendData([]byte("more upload, dropped"), false)
		r.stream.ResumeResponse()
	})
	if events != "" {
		t.Fatalf("the stream ended while its response was held: %s", events)
	}
	r.wait(t)
	if gs, _ := r.respTr.Get("grpc-status"); r.final != "end" || !bytes.Equal(r.got, body) || string(gs) != "7" {
		t.Fatalf("%s: %d body bytes, grpc-status %q", r.eventString(), len(r.got), gs)
	}
	// The exchange completes when the final callback has returned.
	if st := waitStats(t, ws[0], c, "the exchange done", func(s Stats) bool { return s.RqActive == 0 }); st.RqRxReset != 0 || st.RqCompleted != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A stream that waits for a connection being established is pending, in
// the gauge and the total, and one that fails while waiting is counted in
// upstream_rq_pending_failure_eject: the three stats agree.
func TestPendingCountsStreamsWaitingForTheirConnection(t *testing.T) {
	raw := newRawH2(t)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{HTTP2: true, Endpoints: []netip.AddrPort{raw.addr}})
	r := newRecorder(getReq("/a"))
	start(t, ws[0], c, r)
	p := recv(t, raw.peers, "an upstream connection") // no SETTINGS: the stream waits
	st := waitStats(t, ws[0], c, "the stream pending", func(s Stats) bool { return s.RqPendingActive == 1 })
	if st.RqPendingTotal != 1 || st.RqTotal != 0 {
		t.Fatalf("while connecting: %+v", st)
	}
	p.c.Close()
	r.wait(t)
	if r.final != "failure" || r.failure != ConnectFailure {
		t.Fatalf("%s", r.eventString())
	}
	st = waitStats(t, ws[0], c, "the failure counted", func(s Stats) bool { return s.RqPendingActive == 0 })
	if st.RqPendingTotal != 1 || st.RqPendingFailure != 1 || st.RqTotal != 0 {
		t.Fatalf("after the failure: %+v", st)
	}
}
