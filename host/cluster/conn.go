package cluster

import (
	"errors"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/http1"
	"github.com/sluiceproxy/sluice/host/worker"
)

type connState uint8

const (
	ccConnecting connState = iota
	ccBusy                 // carrying one stream (HTTP/1.1: one in flight)
	ccIdle                 // in its host's idle stack
	ccTunnel               // handed over to a Tunnel (tunnel.go); never pooled again
	ccClosed
)

// upstreamConn is one pooled HTTP/1.1 connection to an endpoint. It is the
// worker.ConnHandler of its socket and lives on its pool's worker.
type upstreamConn struct {
	wp       *workerPool
	host     *Host
	addr     netip.AddrPort // where it connects (a logical_dns host's moves)
	conn     *worker.Conn
	state    connState
	stream   *Stream
	tunnel   *Tunnel // set for NewTunnel's connections and after an upgrade
	requests int     // streams this connection has carried
	reused   bool    // the current stream got it from the idle pool

	parser   http1.Parser
	resp     headers.Map
	trailers headers.Map
	wbuf     []byte // request head / chunk framing scratch
	replay   []byte // the current request, kept for a stale-connection retry
	hostBuf  []byte

	idleTimer  *worker.Timer
	onIdleFn   func()
	readPaused bool
	idleSince  time.Time

	// The exchange in progress.
	wrote     bool  // request bytes were written
	respBytes bool  // response bytes were received
	in1xx     bool  // the head being parsed is informational
	keepAlive bool  // the response allows reuse
	bodyLeft  int64 // Content-Length bytes still to come, -1 otherwise
}

func newUpstreamConn(wp *workerPool, host *Host) *upstreamConn {
	cc := &upstreamConn{wp: wp, host: host, addr: wp.dialAddr(host), bodyLeft: -1}
	lim := http1.DefaultLimits()
	lim.MaxHeaderBytes = wp.c.settings.MaxResponseHeaderBytes
	cc.parser.Init(http1.Response, lim)
	cc.onIdleFn = cc.onIdleTimeout
	wp.c.stats.cxTotal.Add(1)
	wp.conns++
	st := &host.slot(wp).stats
	st.cxTotal.Add(1)
	st.cxActive.Add(1)
	return cc
}

func (cc *upstreamConn) hostName() []byte {
	if cc.hostBuf == nil {
		cc.hostBuf = cc.addr.AppendTo(nil)
	}
	return cc.hostBuf
}

func (cc *upstreamConn) dial() {
	conn, err := cc.wp.dial(cc.addr, cc)
	if err != nil {
		if cc.state == ccConnecting {
			cc.connectFailed(err)
		}
		return
	}
	if cc.conn == nil {
		cc.conn = conn
	}
}

// OnConnect implements worker.ConnHandler.
func (cc *upstreamConn) OnConnect(c *worker.Conn, err error) {
	if cc.state != ccConnecting {
		return
	}
	cc.conn = c
	if err == nil && cc.tunnel == nil {
		err = checkALPN(c, "http/1.1")
	}
	if err != nil {
		cc.connectFailed(err)
		return
	}
	s := cc.stream
	switch {
	case cc.tunnel != nil:
		cc.tunnelConnected()
	case s == nil: // its stream was reset while connecting
		cc.release()
	case s.state == stRetrying:
		cc.resend(s)
	default:
		cc.attach(s)
	}
}

func (cc *upstreamConn) connectFailed(err error) {
	wp := cc.wp
	st := &wp.c.stats
	timeout := isConnectTimeout(err)
	if timeout {
		st.cxConnectTimeout.Add(1)
	} else {
		st.cxConnectFail.Add(1)
	}
	s := cc.stream
	cc.stream = nil
	cc.state = ccClosed
	wp.conns--
	cc.host.slot(wp).stats.cxActive.Add(-1)
	wp.reportLocal(cc.host, localConnectFailed)
	if cc.conn != nil && !cc.conn.Closed() {
		cc.conn.Close()
	}
	wp.c.log.Debug("upstream connect failed", zap.Stringer("host", cc.addr), zap.Error(err))
	wp.c.releaseConn(wp)
	if cc.tunnel != nil {
		reason := ConnectFailure
		if timeout {
			reason = ConnectTimeout
		}
		cc.tunnelFailed(reason, err)
		return
	}
	if s == nil {
		return
	}
	if s.state == stRetrying {
		h := s.h
		st.rqRxReset.Add(1)
		s.uncount()
		wp.recycle(s)
		h.OnReset(ConnectionTermination, err)
		return
	}
	st.rqPendingFailure.Add(1)
	reason := ConnectFailure
	if timeout {
		reason = ConnectTimeout
	}
	s.fail(reason, err)
}

// attach starts s's exchange on this connected connection.
func (cc *upstreamConn) attach(s *Stream) {
	cc.begin(s)
	cc.wp.hot.rqTotal.Add(1)
	s.count(cc.host)
	s.h.OnPoolReady(s, cc.addr)
}

func (cc *upstreamConn) begin(s *Stream) {
	s.endConnWait()
	if cc.idleTimer != nil {
		cc.idleTimer.Stop()
	}
	cc.state = ccBusy
	cc.stream = s
	cc.reused = cc.requests > 0
	cc.requests++
	cc.wrote, cc.respBytes, cc.in1xx, cc.keepAlive = false, false, false, false
	cc.bodyLeft = -1
	cc.trailers.Reset()
	if s.state != stRetrying {
		cc.replay = cc.replay[:0]
	}
	s.cc = cc
	s.state = stActive
	if s.paused {
		cc.pauseReading()
	} else {
		cc.resumeReading()
	}
}

// detach ends the stream's tenure on this connection and recycles it.
func (cc *upstreamConn) detach() {
	s := cc.stream
	cc.stream = nil
	s.uncount()
	cc.wp.recycle(s)
}

// release puts a free, reusable connection to work: the oldest pending
// stream, or the idle stack.
func (cc *upstreamConn) release() {
	wp := cc.wp
	if cc.host.slot(wp).gone {
		cc.closeLocal() // the host left the cluster
		return
	}
	if wp.shouldYieldSlot() {
		cc.yieldSlot()
		return
	}
	if wp.pendingHead != nil {
		cc.attach(wp.dequeue())
		return
	}
	if wp.closed {
		cc.closeLocal()
		return
	}
	cc.state = ccIdle
	cc.resumeReading()
	wp.pushIdle(cc)
	if d := wp.c.settings.IdleTimeout; d > 0 {
		if cc.idleTimer == nil {
			cc.idleTimer = wp.w.AfterFunc(d, cc.onIdleFn)
		} else {
			cc.idleTimer.Reset(d)
		}
	}
}

// usable: an idle connection that has seen nothing since it went idle.
func (cc *upstreamConn) usable() bool {
	c := cc.conn
	return !c.Closed() && !c.ReadEOF() && len(c.Input()) == 0
}

func (cc *upstreamConn) onIdleTimeout() {
	if cc.state == ccIdle {
		cc.wp.c.stats.cxIdleTimeout.Add(1)
		cc.closeLocal()
	}
}

func (cc *upstreamConn) closeLocal() { cc.teardown(true, false) }

// yieldSlot closes the connection and hands its slot to a worker whose
// queue is waiting.
func (cc *upstreamConn) yieldSlot() {
	if cc.state == ccClosed {
		return
	}
	cc.teardown(true, true)
	cc.wp.c.handoffSlot(cc.wp)
}
func (cc *upstreamConn) closeRemote() { cc.teardown(false, false) }

// closeStale closes an idle connection found dead or talking.
func (cc *upstreamConn) closeStale() {
	if cc.conn.ReadEOF() || cc.conn.Closed() {
		cc.closeRemote()
	} else {
		cc.closeLocal() // unsolicited bytes: never trust it with a request
	}
}

// teardown closes the socket and forgets the connection; keepSlot hands
// its max_connections slot to the caller (stale retry) instead of
// releasing it.
func (cc *upstreamConn) teardown(local, keepSlot bool) {
	if cc.state == ccClosed {
		return
	}
	wp := cc.wp
	switch cc.state {
	case ccIdle:
		wp.removeIdle(cc)
	case ccTunnel:
		wp.c.stats.cxTunnelActive.Add(-1)
	}
	cc.state = ccClosed
	wp.conns--
	cc.host.slot(wp).stats.cxActive.Add(-1)
	if cc.idleTimer != nil {
		cc.idleTimer.Stop()
	}
	if cc.conn != nil && !cc.conn.Closed() {
		cc.conn.Close()
	}
	if local {
		wp.c.stats.cxDestroyLocal.Add(1)
	} else {
		wp.c.stats.cxDestroyRemote.Add(1)
	}
	if !keepSlot {
		wp.c.releaseConn(wp)
	}
}

// refuseRequest ends a stream whose request head could not be encoded.
// Nothing was written, so the connection stays reusable.
func (cc *upstreamConn) refuseRequest(err error) {
	h := cc.stream.h
	cc.wp.c.stats.rqTxReset.Add(1)
	cc.detach()
	cc.release()
	h.OnReset(LocalReset, err)
}

// terminate ends the stream with a reset and closes the connection.
func (cc *upstreamConn) terminate(reason ResetReason, err error, local bool) {
	st := &cc.wp.c.stats
	st.rqRxReset.Add(1)
	if reason == ProtocolError {
		st.cxProtocolError.Add(1)
	}
	h := cc.stream.h
	if reason != LocalReset {
		cc.wp.reportLocal(cc.host, localReset)
	}
	if cc.conn != nil {
		cc.wp.c.log.Debug("upstream stream reset", zap.Uint64("upstream_conn_id", cc.conn.ID()),
			zap.Stringer("reason", reason), zap.Error(err))
	}
	cc.detach()
	cc.teardown(local, false)
	h.OnReset(reason, err)
}

// OnClose implements worker.ConnHandler: the socket died under us.
func (cc *upstreamConn) OnClose(c *worker.Conn, err error) {
	switch cc.state {
	case ccConnecting:
		cc.conn = c
		cc.connectFailed(err)
	case ccIdle, ccTunnel:
		// A tunnel whose owner has not taken the socket yet: the owner
		// finds it closed.
		cc.closeRemote()
	case ccBusy:
		if errors.Is(err, worker.ErrWorkerStopped) {
			cc.terminate(LocalReset, err, true)
			return
		}
		if cc.tryRetry(cc.stream) {
			return
		}
		if err == nil {
			err = ErrUpstreamClosed
		}
		cc.terminate(ConnectionTermination, err, false)
	}
}

// OnWritable implements worker.ConnHandler.
func (cc *upstreamConn) OnWritable(c *worker.Conn) {
	if cc.state == ccBusy && cc.stream != nil && !cc.stream.respDone {
		cc.stream.h.OnUpstreamWritable()
	}
}

// OnData implements worker.ConnHandler.
func (cc *upstreamConn) OnData(c *worker.Conn) {
	switch cc.state {
	case ccIdle:
		// EOF or bytes while idle: the connection cannot carry a request.
		cc.closeStale()
	case ccBusy:
		cc.readResponse()
	}
}

func (cc *upstreamConn) pauseReading() {
	if !cc.readPaused {
		cc.readPaused = true
		cc.conn.PauseReading()
	}
}

func (cc *upstreamConn) resumeReading() {
	if cc.readPaused {
		cc.readPaused = false
		// The worker redelivers buffered input and an EOF seen while
		// paused, from a later loop turn (never inside this call).
		cc.conn.ResumeReading()
	}
}
