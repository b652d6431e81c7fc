package cluster

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

// upgradeRecorder is a recorder that also takes 101 hand-overs.
type upgradeRecorder struct {
	*recorder
	tunnels chan *Tunnel
	head    headers.Map
}

func (u *upgradeRecorder) OnUpgrade(h *headers.Map, t *Tunnel) {
	u.head.CopyFrom(h)
	u.log("upgrade %d", h.Status())
	u.tunnels <- t
	u.finish("upgrade")
}

func newUpgradeRecorder(req *headers.Map) *upgradeRecorder {
	return &upgradeRecorder{recorder: newRecorder(req), tunnels: make(chan *Tunnel, 1)}
}

// rawSide collects what a tunnel socket receives, for the test goroutine.
type rawSide struct {
	data   chan []byte
	closed chan error
}

func newRawSide() *rawSide { return &rawSide{data: make(chan []byte, 64), closed: make(chan error, 1)} }

func (r *rawSide) OnConnect(*worker.Conn, error) {}
func (r *rawSide) OnData(c *worker.Conn) {
	if in := c.Input(); len(in) > 0 {
		r.data <- append([]byte(nil), in...)
		c.Consume(len(in))
	}
	if c.ReadEOF() {
		r.data <- nil
	}
}
func (r *rawSide) OnWritable(*worker.Conn)         {}
func (r *rawSide) OnClose(_ *worker.Conn, e error) { r.closed <- e }

// readUntil collects bytes from the side until want arrived.
func (r *rawSide) readUntil(t *testing.T, want string) {
	t.Helper()
	var got []byte
	for !strings.Contains(string(got), want) {
		p := recv(t, r.data, "tunnel bytes "+want)
		if p == nil {
			t.Fatalf("EOF after %q, want %q", got, want)
		}
		got = append(got, p...)
	}
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// take installs side as the tunnel socket's handler and redelivers what
// it already holds.
func take(t *testing.T, w *worker.Worker, tn *Tunnel, side *rawSide) {
	onLoop(t, w, func() {
		c := tn.Conn()
		c.SetHandler(side)
		c.ResumeReading()
		c.Redeliver()
	})
}

func upgradeReq() *headers.Map {
	return reqWith("GET", "/chat", "connection", "keep-alive, Upgrade", "upgrade", "websocket")
}

// upgradingServer answers an upgrade request with 101 followed at once by
// "early", then echoes until EOF; other requests get 200.
func upgradingServer(t *testing.T) *rawServer {
	return newRawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for {
			req, _ := readRequest(br)
			if req == nil {
				return
			}
			if req.Header.Get("Upgrade") == "" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
				continue
			}
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nearly")
			io.Copy(c, br)
			return
		}
	})
}

func TestUpgradeHandsConnectionOver(t *testing.T) {
	ws := startWorkers(t, 1)
	w := ws[0]
	srv := upgradingServer(t)
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{srv.addr}})
	u := newUpgradeRecorder(upgradeReq())
	onLoop(t, w, func() { c.NewStream(w, u) })
	tn := recv(t, u.tunnels, "101 hand-over")
	u.wait(t)
	if got := u.eventString(); got != "ready, upgrade 101" {
		t.Fatalf("events %q", got)
	}
	if v, _ := u.head.Get("upgrade"); string(v) != "websocket" {
		t.Fatalf("101 head lacks upgrade: %v", v)
	}
	if tn.Host() != srv.addr {
		t.Fatalf("host %v, want %v", tn.Host(), srv.addr)
	}
	st := waitStats(t, w, c, "tunnel counted", func(s Stats) bool { return s.CxTunnelActive == 1 })
	if st.CxTunnelTotal != 1 || st.CxActive != 1 || st.RqActive != 0 || st.RqCompleted != 1 {
		t.Fatalf("stats after hand-over %+v", st)
	}

	// The bytes that followed the 101 are the tunnel's; then it echoes.
	side := newRawSide()
	take(t, w, tn, side)
	side.readUntil(t, "early")
	onLoop(t, w, func() { tn.Conn().Write([]byte("ping")) })
	side.readUntil(t, "ping")

	// The connection never returns to the pool: the next request dials.
	r := roundTrip(t, w, c, newRecorder(getReq("/after")))
	if r.status != 200 || srv.conns.Load() != 2 {
		t.Fatalf("next request: status %d, %d connections", r.status, srv.conns.Load())
	}

	onLoop(t, w, func() { tn.Release(false) })
	onLoop(t, w, func() { tn.Release(false) }) // a second Release does nothing
	st = waitStats(t, w, c, "tunnel released", func(s Stats) bool { return s.CxTunnelActive == 0 })
	if st.CxActive != 1 || st.CxDestroyLocal != 1 || st.CxTunnelTotal != 1 {
		t.Fatalf("stats after release %+v", st) // the idle pooled connection remains
	}
}

// A 101 to a request that did not ask to upgrade is a protocol error, as is
// a 101 delivered to a handler that cannot take a tunnel.
func TestUnexpected101(t *testing.T) {
	ws := startWorkers(t, 1)
	srv := newRawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		if req, _ := readRequest(br); req != nil {
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			io.Copy(io.Discard, br)
		}
	})
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{srv.addr}})
	for _, tc := range []struct {
		name    string
		handler func(r *recorder) ResponseHandler
		req     *headers.Map
	}{
		{"plain request", func(r *recorder) ResponseHandler {
			return &upgradeRecorder{recorder: r, tunnels: make(chan *Tunnel, 1)}
		}, getReq("/")},
		{"handler without upgrades", func(r *recorder) ResponseHandler { return r }, upgradeReq()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder(tc.req)
			onLoop(t, ws[0], func() { c.NewStream(ws[0], tc.handler(r)) })
			r.wait(t)
			if r.final != "reset" || r.reset != ProtocolError || !errors.Is(r.err, ErrUnexpected101) {
				t.Fatalf("got %s %v %v", r.eventString(), r.reset, r.err)
			}
		})
	}
	st := waitStats(t, ws[0], c, "connections closed", func(s Stats) bool { return s.CxActive == 0 })
	if st.CxTunnelTotal != 0 || st.CxProtocolError != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// An upstream that refuses the upgrade answers an ordinary response; the
// connection is then closed, not pooled.
func TestUpgradeRefusedIsOrdinaryResponse(t *testing.T) {
	ws := startWorkers(t, 1)
	srv := newRawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for {
			req, _ := readRequest(br)
			if req == nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 403 Forbidden\r\ncontent-length: 4\r\n\r\nnope")
		}
	})
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{srv.addr}})
	u := newUpgradeRecorder(upgradeReq())
	onLoop(t, ws[0], func() { c.NewStream(ws[0], u) })
	u.wait(t)
	if u.status != 403 || string(u.got) != "nope" || u.final != "end" {
		t.Fatalf("got %s %q", u.eventString(), u.got)
	}
	st := waitStats(t, ws[0], c, "connection closed", func(s Stats) bool { return s.CxActive == 0 })
	if st.CxTunnelTotal != 0 || st.CxDestroyLocal != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// tunnelRecorder is a TunnelHandler for NewTunnel.
type tunnelRecorder struct {
	ready  chan *Tunnel
	failed chan FailureReason
}

func newTunnelRecorder() *tunnelRecorder {
	return &tunnelRecorder{ready: make(chan *Tunnel, 1), failed: make(chan FailureReason, 1)}
}

func (r *tunnelRecorder) OnTunnelReady(t *Tunnel)                       { r.ready <- t }
func (r *tunnelRecorder) OnTunnelFailure(reason FailureReason, _ error) { r.failed <- reason }

func echoServer(t *testing.T) *rawServer {
	return newRawServer(t, func(_ int, c net.Conn, br *bufio.Reader) { io.Copy(c, br) })
}

func TestNewTunnelCarriesRawBytes(t *testing.T) {
	ws := startWorkers(t, 1)
	w := ws[0]
	srv := echoServer(t)
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{srv.addr}})
	tr := newTunnelRecorder()
	var returned *Tunnel
	onLoop(t, w, func() { returned = c.NewTunnel(w, tr) })
	tn := recv(t, tr.ready, "tunnel ready")
	if tn != returned || tn.Host() != srv.addr {
		t.Fatalf("ready tunnel %p (host %v), NewTunnel returned %p", tn, tn.Host(), returned)
	}
	side := newRawSide()
	take(t, w, tn, side)
	onLoop(t, w, func() { tn.Conn().Write([]byte("GET / HTTP/1.1\r\n\r\nnot http at all")) })
	side.readUntil(t, "GET / HTTP/1.1\r\n\r\nnot http at all")
	st := waitStats(t, w, c, "tunnel counted", func(s Stats) bool { return s.CxTunnelActive == 1 })
	if st.CxTotal != 1 || st.RqTotal != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The upstream closes: the owner sees EOF and releases as remote.
	onLoop(t, w, func() { tn.Conn().CloseWrite() })
	if p := recv(t, side.data, "EOF"); p != nil {
		t.Fatalf("more bytes %q", p)
	}
	onLoop(t, w, func() { tn.Release(true) })
	st = waitStats(t, w, c, "released", func(s Stats) bool { return s.CxActive == 0 })
	if st.CxDestroyRemote != 1 || st.CxTunnelActive != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNewTunnelFailures(t *testing.T) {
	ws := startWorkers(t, 1)
	w := ws[0]
	t.Run("connect refused", func(t *testing.T) {
		c := newTestCluster(t, ws, Settings{Name: "refused", Endpoints: []netip.AddrPort{closedPortAddr(t)}})
		tr := newTunnelRecorder()
		onLoop(t, w, func() { c.NewTunnel(w, tr) })
		if got := recv(t, tr.failed, "failure"); got != ConnectFailure {
			t.Fatalf("failure %v", got)
		}
		st := waitStats(t, w, c, "slot back", func(s Stats) bool { return s.CxActive == 0 })
		if st.CxConnectFail != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("overflow", func(t *testing.T) {
		srv := echoServer(t)
		c := newTestCluster(t, ws, Settings{Name: "small", Endpoints: []netip.AddrPort{srv.addr}, MaxConnections: 1})
		first := newTunnelRecorder()
		onLoop(t, w, func() { c.NewTunnel(w, first) })
		tn := recv(t, first.ready, "first tunnel")
		second := newTunnelRecorder()
		var returned *Tunnel
		onLoop(t, w, func() { returned = c.NewTunnel(w, second) })
		if got := recv(t, second.failed, "overflow"); got != Overflow || returned != nil {
			t.Fatalf("second tunnel: %v, returned %p", got, returned)
		}
		onLoop(t, w, func() { tn.Release(false) })
		waitStats(t, w, c, "slot back", func(s Stats) bool { return s.CxActive == 0 })
	})
	t.Run("takes an idle connection's slot", func(t *testing.T) {
		srv := upgradingServer(t)
		c := newTestCluster(t, ws, Settings{Name: "reuse", Endpoints: []netip.AddrPort{srv.addr}, MaxConnections: 1})
		if r := roundTrip(t, w, c, newRecorder(getReq("/"))); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		tr := newTunnelRecorder()
		onLoop(t, w, func() { c.NewTunnel(w, tr) })
		tn := recv(t, tr.ready, "tunnel")
		st := waitStats(t, w, c, "tunnel", func(s Stats) bool { return s.CxTunnelActive == 1 })
		// The connect completes before the server's accept loop counts it.
		waitFor(t, "the server to accept", func() bool { return srv.conns.Load() >= 2 })
		if st.CxActive != 1 || st.CxDestroyLocal != 1 || srv.conns.Load() != 2 {
			t.Fatalf("stats %+v, %d connections", st, srv.conns.Load())
		}
		onLoop(t, w, func() { tn.Release(false) })
	})
	t.Run("released while connecting", func(t *testing.T) {
		srv := echoServer(t)
		c := newTestCluster(t, ws, Settings{Name: "abandoned", Endpoints: []netip.AddrPort{srv.addr}})
		tr := newTunnelRecorder()
		onLoop(t, w, func() { c.NewTunnel(w, tr).Release(false) })
		onLoop(t, w, func() {}) // a connect result would be delivered by now
		st := waitStats(t, w, c, "slot back", func(s Stats) bool { return s.CxActive == 0 })
		if len(tr.ready)+len(tr.failed) != 0 || st.CxDestroyLocal != 1 {
			t.Fatalf("callbacks after release: %d ready, %d failed; stats %+v", len(tr.ready), len(tr.failed), st)
		}
	})
}

// An upstream that dies before the owner took the socket is noticed by the
// pool: the slot is freed and the owner finds the socket closed.
func TestTunnelDiesBeforeTakeOver(t *testing.T) {
	ws := startWorkers(t, 1)
	w := ws[0]
	handedOver := make(chan struct{})
	srv := newRawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br)
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		<-handedOver
		c.(*net.TCPConn).SetLinger(0) // close with RST: an error, seen even while reading is paused
	})
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{srv.addr}})
	u := newUpgradeRecorder(upgradeReq())
	onLoop(t, w, func() { c.NewStream(w, u) })
	tn := recv(t, u.tunnels, "hand-over")
	close(handedOver)
	st := waitStats(t, w, c, "tunnel gone", func(s Stats) bool { return s.CxActive == 0 })
	if st.CxTunnelActive != 0 || st.CxDestroyRemote != 1 {
		t.Fatalf("stats %+v", st)
	}
	onLoop(t, w, func() {
		if !tn.Conn().Closed() {
			t.Error("tunnel socket not closed")
		}
		tn.Release(false)
	})
	if st := c.Stats(); st.CxDestroyLocal != 0 {
		t.Fatalf("late Release counted again: %+v", st)
	}
}
