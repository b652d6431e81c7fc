package cluster

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/sluiceproxy/sluice/host/worker"
)

func TestManagerCloseClosesIdleConnections(t *testing.T) {
	clientClosed := make(chan struct{})
	srv := newRawServer(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		req, _ := readRequest(br)
		echoPath(conn, req)
		io.Copy(io.Discard, br)
		close(clientClosed)
	})
	ws := startWorkers(t, 1)
	m, err := NewManagerWithSettings([]Settings{{Name: "b", Endpoints: []netip.AddrPort{srv.addr}}}, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Get("b")
	roundTrip(t, ws[0], c, newRecorder(getReq("/")))
	if st := c.Stats(); st.CxActive != 1 {
		t.Fatalf("stats %+v", st)
	}
	m.Close()
	recv(t, clientClosed, "Close to close the idle connection")
	if st := c.Stats(); st.CxActive != 0 || st.CxDestroyLocal != 1 {
		t.Fatalf("stats %+v", st)
	}
	if m.Get("nope") != nil {
		t.Fatal("unknown cluster must be nil")
	}
}

func TestWorkerStopResetsActiveStream(t *testing.T) {
	g, _, c, w := gated(t, Settings{})
	r := newRecorder(getReq("/"))
	start(t, w, c, r)
	recv(t, g.got, "request")
	w.Stop()
	r.wait(t)
	if r.eventString() != "ready, reset local_reset" || !errors.Is(r.err, worker.ErrWorkerStopped) {
		t.Fatalf("events %s err %v", r.eventString(), r.err)
	}
	<-w.Done()
	if st := c.Stats(); st.CxActive != 0 || st.RqActive != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConnectFailureServesPendingThenFailsThem(t *testing.T) {
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{closedPortAddr(t)}, MaxConnections: 1})
	a, b := newRecorder(getReq("/a")), newRecorder(getReq("/b"))
	onLoop(t, ws[0], func() {
		c.NewStream(ws[0], a)
		c.NewStream(ws[0], b) // queued: the only slot is connecting for a
	})
	a.wait(t)
	b.wait(t)
	onLoop(t, ws[0], func() {})
	if a.failure != ConnectFailure || b.failure != ConnectFailure {
		t.Fatalf("a %s, b %s", a.eventString(), b.eventString())
	}
	// Both were pending (a for its connection, b queued then connecting),
	// both failed while pending.
	if st := c.Stats(); st.CxConnectFail != 2 || st.RqPendingTotal != 2 || st.RqPendingFailure != 2 || st.RqPendingActive != 0 || st.CxActive != 0 {
		t.Fatalf("the freed slot must dial for the queued stream; stats %+v", st)
	}
}

func TestNewManagerRejectsDuplicatesAndEmptyNames(t *testing.T) {
	_, err := NewManagerWithSettings([]Settings{{Name: "a"}, {Name: "a"}}, nil, nil)
	if err == nil || err.Error() != `cluster "a": duplicate name` {
		t.Fatalf("err %v", err)
	}
	_, err = NewManagerWithSettings([]Settings{{}}, nil, nil)
	if err == nil || err.Error() != "cluster 0: empty name" {
		t.Fatalf("err %v", err)
	}
}

func TestManagerCloseRetiresBusyConnectionsWhenDone(t *testing.T) {
	g := newGate()
	clientClosed := make(chan struct{})
	srv := newRawServer(t, func(i int, conn net.Conn, br *bufio.Reader) {
		g.script(i, conn, br) // returns when the pool closes the connection
		close(clientClosed)
	})
	t.Cleanup(g.stop)
	ws := startWorkers(t, 1)
	m, err := NewManagerWithSettings([]Settings{{Name: "b", Endpoints: []netip.AddrPort{srv.addr}}}, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Get("b")
	r := newRecorder(getReq("/inflight"))
	start(t, ws[0], c, r)
	recv(t, g.got, "request")
	m.Close() // the connection is busy: it finishes its exchange first
	g.release <- struct{}{}
	r.wait(t)
	if r.final != "end" || string(r.got) != "/inflight" {
		t.Fatalf("events %s", r.eventString())
	}
	recv(t, clientClosed, "the finished connection to be closed, not pooled")
	if st := c.Stats(); st.CxActive != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUnsolicitedBytesOnIdleConnection(t *testing.T) {
	srv, c, w := oneEndpoint(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		req, _ := readRequest(br)
		echoPath(conn, req)
		// A server timing the idle connection out says so and closes.
		io.WriteString(conn, "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
	}, Settings{})
	roundTrip(t, w, c, newRecorder(getReq("/one")))
	waitStats(t, w, c, "the idle connection to be dropped", func(s Stats) bool { return s.CxActive == 0 })
	r := roundTrip(t, w, c, newRecorder(getReq("/two")))
	if r.status != 200 || string(r.got) != "/two" || srv.conns.Load() != 2 {
		t.Fatalf("the 408 must not be taken as /two's answer: %s %q conns %d", r.eventString(), r.got, srv.conns.Load())
	}
}
