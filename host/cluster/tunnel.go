package cluster

import (
	"net/netip"

	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/http1"
	"github.com/sluiceproxy/sluice/host/worker"
)

// Tunnel is an upstream connection that left its pool to carry raw bytes:
// handed over after a 101 answer to an upgrade request (UpgradeHandler), or
// opened for CONNECT (Cluster.NewTunnel). It never returns to the pool. Its
// max_connections slot stays taken, and it counts in upstream_cx_active,
// until Release.
//
// Until the owner installs its own handler on Conn (worker.Conn.SetHandler)
// the pool keeps reading paused and only watches for the socket dying;
// Conn().Closed() then reports it. All methods run on the owning worker.
type Tunnel struct {
	cc   *upstreamConn
	h    TunnelHandler // NewTunnel: told when the connect finishes
	host netip.AddrPort
}

// TunnelHandler receives the outcome of Cluster.NewTunnel on the worker that
// asked. Exactly one of the two is called, unless the tunnel is released
// while it connects.
type TunnelHandler interface {
	// OnTunnelReady: the connection is up; the owner takes its socket.
	OnTunnelReady(t *Tunnel)
	// OnTunnelFailure: no connection could be had (as OnPoolFailure).
	OnTunnelFailure(reason FailureReason, err error)
}

// UpgradeHandler is optionally implemented by a ResponseHandler whose
// requests may switch protocols. A request asks when it carries an Upgrade
// field and "upgrade" among its Connection options, and ends with its head
// (no body). A 101 answer to it ends the stream (it counts as completed) and
// hands the connection over: OnUpgrade gets the 101 head (valid during the
// call) and the Tunnel; bytes the upstream sent after the 101 stay unread in
// the socket's input. Without this interface, or for any other request, a
// 101 resets the stream with ProtocolError (ErrUnexpected101). Other answers
// to an upgrade request are ordinary responses, after which the connection
// is closed rather than reused.
type UpgradeHandler interface {
	OnUpgrade(h *headers.Map, t *Tunnel)
}

// Conn is the tunnel's socket. The owner sets its handler, watermarks and
// read state, and may close it; Release must follow in any case.
func (t *Tunnel) Conn() *worker.Conn { return t.cc.conn }

// Host is the endpoint the tunnel leads to.
func (t *Tunnel) Host() netip.AddrPort { return t.host }

// Release ends the tunnel: the socket is closed if the owner has not (any
// unsent output is dropped), its max_connections slot is given back, and
// upstream_cx_destroy_remote (closedByUpstream) or _local is counted. A
// tunnel released while connecting is abandoned without a callback. Calls
// after the first do nothing.
func (t *Tunnel) Release(closedByUpstream bool) {
	t.h = nil
	t.cc.teardown(!closedByUpstream, false)
}

// NewTunnel opens a new connection to one of the cluster's endpoints (the
// load balancer picks) to carry raw bytes, for CONNECT. It must run on w's
// loop thread; the handler runs there too, possibly before NewTunnel
// returns when the tunnel fails at once. It returns the tunnel while it
// connects, and nil when it already failed.
//
// A tunnel never uses an idle pooled connection (one that carried HTTP),
// nor waits in the pending queue: it takes a free max_connections slot, or
// the slot of an idle connection of this worker, which is closed, or fails
// with Overflow.
func (c *Cluster) NewTunnel(w *worker.Worker, h TunnelHandler) *Tunnel {
	wp := c.poolFor(w)
	host := wp.pickFor(h)
	if host == nil {
		c.stats.noHealthyUpstream.Add(1)
		h.OnTunnelFailure(NoHealthyUpstream, ErrNoHealthyUpstream)
		return nil
	}
	if !c.tryAcquireConn() {
		c.stats.cxOverflow.Add(1)
		idle := wp.popAnyIdle()
		if idle == nil {
			h.OnTunnelFailure(Overflow, ErrOverflow)
			return nil
		}
		idle.teardown(true, true) // its slot is now ours
	}
	cc := newUpstreamConn(wp, host)
	t := &Tunnel{cc: cc, h: h, host: cc.addr}
	cc.tunnel = t
	cc.dial()
	if cc.state == ccClosed {
		return nil
	}
	return t
}

// becomeTunnel takes a connected connection out of the pool's hands.
func (cc *upstreamConn) becomeTunnel(t *Tunnel) {
	if cc.idleTimer != nil {
		cc.idleTimer.Stop()
	}
	cc.state = ccTunnel
	cc.tunnel = t
	cc.pauseReading()
	st := &cc.wp.c.stats
	st.cxTunnelTotal.Add(1)
	st.cxTunnelActive.Add(1)
}

// tunnelConnected finishes NewTunnel's connect.
func (cc *upstreamConn) tunnelConnected() {
	t := cc.tunnel
	cc.becomeTunnel(t)
	h := t.h
	t.h = nil
	h.OnTunnelReady(t)
}

// tunnelFailed reports NewTunnel's failed connect; the connection is gone.
func (cc *upstreamConn) tunnelFailed(reason FailureReason, err error) {
	t := cc.tunnel
	if h := t.h; h != nil {
		t.h = nil
		h.OnTunnelFailure(reason, err)
	}
}

// upgrade hands the connection over after a 101 to an upgrade request; off
// is how much input the 101 head took.
func (cc *upstreamConn) upgrade(s *Stream, uh UpgradeHandler, off int) {
	head := cc.parser.Head()
	cc.resp.Reset()
	http1.HeadToMap(head, http1.Response, "", &cc.resp)
	cc.conn.Consume(off) // after the copy: the head is a view of the input
	cc.wp.hot.rqCompleted.Add(1)
	cc.detach()
	t := &Tunnel{cc: cc, host: cc.addr}
	cc.becomeTunnel(t)
	uh.OnUpgrade(&cc.resp, t)
}

// isUpgradeRequest: an Upgrade field and the "upgrade" Connection option.
func isUpgradeRequest(h *headers.Map) bool {
	if !h.Has("upgrade") {
		return false
	}
	found := false
	h.Values("connection", func(v []byte) bool {
		found = headers.HasToken(v, "upgrade")
		return !found
	})
	return found
}
