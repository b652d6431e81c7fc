package cluster

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

// gate is a backend that reports each request's path and answers it only
// when the test says so.
type gate struct {
	got     chan string
	conn    chan int // index of the backend connection of each request, in got's order
	release chan struct{}
	done    chan struct{}
}

func newGate() *gate {
	return &gate{got: make(chan string, 16), conn: make(chan int, 16), release: make(chan struct{}), done: make(chan struct{})}
}

// stop unblocks scripts still waiting for a release; register it after the
// server so that it runs before the server's cleanup waits for them.
func (g *gate) stop() { close(g.done) }

func (g *gate) script(i int, conn net.Conn, br *bufio.Reader) {
	for {
		req, _ := readRequest(br)
		if req == nil {
			return
		}
		select {
		case g.conn <- i:
		case <-g.done:
			return
		}
		select {
		case g.got <- req.URL.Path:
		case <-g.done:
			return
		}
		select {
		case <-g.release:
		case <-g.done:
			return
		}
		echoPath(conn, req)
	}
}

// gated starts a gate backend, one worker and a cluster.
func gated(t *testing.T, s Settings) (*gate, *rawServer, *Cluster, *worker.Worker) {
	t.Helper()
	g := newGate()
	srv, c, w := oneEndpoint(t, g.script, s)
	t.Cleanup(g.stop)
	return g, srv, c, w
}

func TestMaxConnectionsPendingAndOverflow(t *testing.T) {
	g, srv, c, w := gated(t, Settings{MaxConnections: 1, MaxPendingRequests: 1})
	a, b, o := newRecorder(getReq("/a")), newRecorder(getReq("/b")), newRecorder(getReq("/c"))
	var sa, sb, so *Stream
	var st Stats
	wantPending := uint64(1) // b, queued
	onLoop(t, w, func() {
		sa = c.NewStream(w, a)
		sb = c.NewStream(w, b)
		so = c.NewStream(w, o)
		st = c.Stats()
		if sa != nil && sa.state == stConnecting {
			wantPending++ // a waits for its connection: pending too
		}
	})
	if sa == nil || sb == nil || so != nil {
		t.Fatalf("NewStream results %v %v %v: want a connecting, b pending, c failed", sa, sb, so)
	}
	if o.eventString() != "failure overflow" || o.err != ErrOverflow {
		t.Fatalf("third stream: %s %v", o.eventString(), o.err)
	}
	if st.RqPendingActive != wantPending || st.RqPendingOverflow != 1 || st.CxActive != 1 || st.CxOverflow != 2 {
		t.Fatalf("stats while queued %+v", st)
	}
	if p := recv(t, g.got, "request a"); p != "/a" {
		t.Fatalf("first request %q", p)
	}
	g.release <- struct{}{}
	a.wait(t)
	// b takes over a's connection as soon as a's exchange is complete.
	if p := recv(t, g.got, "request b"); p != "/b" {
		t.Fatalf("second request %q", p)
	}
	g.release <- struct{}{}
	b.wait(t)
	onLoop(t, w, func() {})
	if string(a.got) != "/a" || string(b.got) != "/b" || srv.conns.Load() != 1 {
		t.Fatalf("a %s, b %s, conns %d", a.eventString(), b.eventString(), srv.conns.Load())
	}
	st = c.Stats()
	// Both waited: a for its new connection, b in the queue.
	if st.RqPendingActive != 0 || st.RqPendingTotal != 2 || st.RqTotal != 2 || st.CxTotal != 1 {
		t.Fatalf("stats after %+v", st)
	}
}

func TestPendingRequestServedAcrossWorkers(t *testing.T) {
	g := newGate()
	srv := newRawServer(t, g.script)
	ws := startWorkers(t, 2)
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{srv.addr}, MaxConnections: 1})
	t.Cleanup(g.stop)

	// a holds the only slot on worker 0; b queues on worker 1.
	a, b := newRecorder(getReq("/a")), newRecorder(getReq("/b"))
	start(t, ws[0], c, a)
	recv(t, g.got, "request a")
	start(t, ws[1], c, b)
	if st := c.Stats(); st.RqPendingActive != 1 {
		t.Fatalf("b must be pending: %+v", st)
	}
	g.release <- struct{}{}
	a.wait(t)
	// Worker 0 must give its connection up rather than idle it while
	// worker 1 waits for a slot.
	if p := recv(t, g.got, "request b"); p != "/b" {
		t.Fatalf("got %q", p)
	}
	g.release <- struct{}{}
	b.wait(t)
	if string(b.got) != "/b" || srv.conns.Load() != 2 {
		t.Fatalf("b %s conns %d", b.eventString(), srv.conns.Load())
	}
}

func TestIdleConnectionOnOtherWorkerIsShedForPending(t *testing.T) {
	g := newGate()
	srv := newRawServer(t, g.script)
	ws := startWorkers(t, 2)
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{srv.addr}, MaxConnections: 1})
	t.Cleanup(g.stop)
	a := newRecorder(getReq("/a"))
	start(t, ws[0], c, a)
	recv(t, g.got, "request a")
	g.release <- struct{}{}
	a.wait(t)
	onLoop(t, ws[0], func() {}) // a's connection is now idle on worker 0, holding the slot

	b := newRecorder(getReq("/b"))
	start(t, ws[1], c, b)
	if p := recv(t, g.got, "request b"); p != "/b" {
		t.Fatalf("got %q", p)
	}
	g.release <- struct{}{}
	b.wait(t)
	if string(b.got) != "/b" || srv.conns.Load() != 2 {
		t.Fatalf("b %s conns %d", b.eventString(), srv.conns.Load())
	}
}

func TestResetPendingStreamLeavesQueue(t *testing.T) {
	g, srv, c, w := gated(t, Settings{MaxConnections: 1})
	a, b := newRecorder(getReq("/a")), newRecorder(getReq("/b"))
	start(t, w, c, a)
	sb := start(t, w, c, b)
	recv(t, g.got, "request a")
	onLoop(t, w, func() { sb.Reset() })
	if st := c.Stats(); st.RqPendingActive != 0 || st.RqPendingTotal != 2 {
		t.Fatalf("stats %+v", st)
	}
	g.release <- struct{}{}
	a.wait(t)
	onLoop(t, w, func() {})
	if len(b.events) != 0 {
		t.Fatalf("a reset stream gets no callbacks: %s", b.eventString())
	}
	// The connection went idle instead of serving the cancelled stream:
	// the next request reuses it.
	r := newRecorder(getReq("/c"))
	start(t, w, c, r)
	if p := recv(t, g.got, "request c"); p != "/c" {
		t.Fatalf("backend got %q after /a; the cancelled /b must never be sent", p)
	}
	g.release <- struct{}{}
	r.wait(t)
	if string(r.got) != "/c" || srv.conns.Load() != 1 {
		t.Fatalf("c %s conns %d", r.eventString(), srv.conns.Load())
	}
}

func TestResetMidResponseClosesConnection(t *testing.T) {
	clientClosed := make(chan struct{})
	srv, c, w := oneEndpoint(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		readRequest(br)
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
		io.Copy(io.Discard, br)
		close(clientClosed)
	}, Settings{})
	r := newRecorder(getReq("/"))
	r.onHeader = func(r *recorder, _ *headers.Map, _ bool) {
		r.stream.Reset()
		r.finish("local reset")
	}
	start(t, w, c, r)
	r.wait(t)
	recv(t, clientClosed, "the pool to close the connection")
	if r.eventString() != "ready, headers 200 end=false" {
		t.Fatalf("no event may follow the reset: %s", r.eventString())
	}
	if st := c.Stats(); st.RqTxReset != 1 || st.CxActive != 0 || st.RqActive != 0 || st.CxDestroyLocal != 1 {
		t.Fatalf("stats %+v", st)
	}
	if srv.conns.Load() != 1 {
		t.Fatalf("conns %d", srv.conns.Load())
	}
}

func TestIdleConnectionsReusedLastInFirstOut(t *testing.T) {
	g, srv, c, w := gated(t, Settings{})
	a, b := newRecorder(getReq("/a")), newRecorder(getReq("/b"))
	onLoop(t, w, func() {
		c.NewStream(w, a)
		c.NewStream(w, b)
	})
	for range 2 { // two connections, one request in flight on each
		<-g.conn
		recv(t, g.got, "request")
	}
	g.release <- struct{}{}
	g.release <- struct{}{}
	a.wait(t)
	b.wait(t)
	onLoop(t, w, func() {})
	if srv.conns.Load() != 2 {
		t.Fatalf("conns %d", srv.conns.Load())
	}
	// Sequential requests now all take the top of the idle stack: the same
	// connection every time (first-in first-out would alternate).
	var used []int
	for range 4 {
		r := newRecorder(getReq("/again"))
		start(t, w, c, r)
		used = append(used, recv(t, g.conn, "request"))
		recv(t, g.got, "request")
		g.release <- struct{}{}
		r.wait(t)
		onLoop(t, w, func() {})
	}
	for _, u := range used {
		if u != used[0] {
			t.Fatalf("backend connections used: %v, want one connection reused", used)
		}
	}
}

// TestBusyWorkerYieldsSlotsToWaitingWorker: worker 0 holds both slots and
// has its own queue; worker 1 has one request queued. When one of worker
// 0's exchanges finishes, worker 0 is above its fair share (2 slots / 2
// workers) and hands the slot to worker 1 instead of serving its own queue.
//
// Every step waits for the previous one to be visible at the backend, so
// the pool's decisions are the same in every interleaving: the only
// freedom is which held exchange a release finishes, and each case keeps
// one dispatch per completion. A stall is therefore reported with the
// pools' state (nextPath), and a stream that ends before reaching the
// backend is reported at once with its events rather than as a 20 s wait.
// The connect timeout is waitLimit: on a loaded machine a slow connect
// must not turn into a ConnectFailure that the test would only see as a
// request that never arrives.
func TestBusyWorkerYieldsSlotsToWaitingWorker(t *testing.T) {
	g := newGate()
	srv := newRawServer(t, g.script)
	ws := startWorkers(t, 2)
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{srv.addr}, MaxConnections: 2, ConnectTimeout: waitLimit})
	t.Cleanup(g.stop)
	var rs []*recorder
	for _, p := range []string{"/a", "/b", "/c", "/d"} {
		rs = append(rs, newRecorder(getReq(p)))
	}
	onLoop(t, ws[0], func() {
		for _, r := range rs {
			c.NewStream(ws[0], r)
		}
	})
	nextPath(t, g, c, "first request", rs...)
	nextPath(t, g, c, "second request", rs...)
	e := newRecorder(getReq("/e"))
	start(t, ws[1], c, e)
	all := append(rs, e)
	if st := c.Stats(); st.RqPendingActive != 3 {
		t.Fatalf("stats %+v", st)
	}
	release(t, g, c)
	if p := nextPath(t, g, c, "the next request", e, rs[2], rs[3]); p != "/e" {
		t.Fatalf("next request upstream is %q; worker 0 kept the slot for its own queue", p)
	}
	// Five exchanges, one release each: two in flight now, /c and /d to
	// come, in queue order.
	release(t, g, c)
	if p := nextPath(t, g, c, "/c", rs[2]); p != "/c" {
		t.Fatalf("got %q, want /c", p)
	}
	release(t, g, c)
	if p := nextPath(t, g, c, "/d", rs[3]); p != "/d" {
		t.Fatalf("got %q, want /d", p)
	}
	release(t, g, c)
	release(t, g, c)
	for _, r := range all {
		r.wait(t)
		if r.final != "end" {
			t.Fatalf("events %s", r.eventString())
		}
	}
}

// release lets one held exchange answer, bounded like every other wait.
func release(t *testing.T, g *gate, c *Cluster) {
	t.Helper()
	select {
	case g.release <- struct{}{}:
	case <-time.After(waitLimit):
		t.Fatalf("no request was waiting for a release; %s", poolState(t, c))
	}
}

// nextPath waits for the next request to reach the gate backend. A
// watched stream that ends first (it can only end after its request was
// answered) is reported with its events; a timeout reports the pools.
func nextPath(t *testing.T, g *gate, c *Cluster, what string, watch ...*recorder) string {
	t.Helper()
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(g.got)},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(time.After(waitLimit))},
	}
	for _, r := range watch {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(r.done)})
	}
	i, v, _ := reflect.Select(cases)
	switch i {
	case 0:
		return v.String()
	case 1:
		t.Fatalf("timed out waiting for %s; %s", what, poolState(t, c))
	default:
		r := watch[i-2]
		t.Fatalf("waiting for %s: %s ended first: %s (err %v)", what, r.req.Path(), r.eventString(), r.err)
	}
	return ""
}

// poolState describes every pool of c, read on its own worker.
func poolState(t *testing.T, c *Cluster) string {
	var b strings.Builder
	fmt.Fprintf(&b, "stats %+v", c.Stats())
	for i, wp := range c.pools {
		onLoop(t, wp.w, func() {
			fmt.Fprintf(&b, "; worker %d: conns %d pending %d reserved %d idle %d", i, wp.conns, wp.pendingLen.Load(), wp.reserved.Load(), wp.idleCount.Load())
		})
	}
	return b.String()
}

// TestLeastRequestAvoidsBusyHost: with one request held on one backend, the
// next request must go to the other (two distinct choices always include
// the idle host, and it has fewer requests in flight).
func TestLeastRequestAvoidsBusyHost(t *testing.T) {
	g1, g2 := newGate(), newGate()
	s1, s2 := newRawServer(t, g1.script), newRawServer(t, g2.script)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{s1.addr, s2.addr}, LBPolicy: LeastRequest})
	t.Cleanup(g1.stop)
	t.Cleanup(g2.stop)
	for round := range 5 {
		a, b := newRecorder(getReq("/a")), newRecorder(getReq("/b"))
		start(t, ws[0], c, a)
		var first, second *gate
		select {
		case <-g1.got:
			first, second = g1, g2
		case <-g2.got:
			first, second = g2, g1
		case <-time.After(waitLimit):
			t.Fatal("first request never arrived")
		}
		start(t, ws[0], c, b)
		select {
		case <-second.got:
		case <-first.got:
			t.Fatalf("round %d: second request went to the busy host", round)
		case <-time.After(waitLimit):
			t.Fatal("second request never arrived")
		}
		first.release <- struct{}{}
		second.release <- struct{}{}
		a.wait(t)
		b.wait(t)
		onLoop(t, ws[0], func() {})
		if h := c.Hosts(); h[0].ActiveRequests() != 0 || h[1].ActiveRequests() != 0 {
			t.Fatalf("active requests %d %d", h[0].ActiveRequests(), h[1].ActiveRequests())
		}
	}
}
