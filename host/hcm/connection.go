package hcm

import (
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

var streamIDs atomic.Uint64

// timerHandle wraps an optional worker timer. Streams are pooled across
// workers, so the handle remembers whose timer it holds and never re-arms
// another worker's timer.
type timerHandle struct {
	t *worker.Timer
	w *worker.Worker
}

func (h *timerHandle) stop() {
	if h.t != nil {
		h.t.Stop()
	}
}

func (h *timerHandle) arm(w *worker.Worker, d time.Duration, fn func()) {
	if d <= 0 {
		h.stop()
		return
	}
	if h.t == nil || h.w != w {
		h.t, h.w = w.AfterFunc(d, fn), w
		return
	}
	h.t.Reset(d)
}

// connection is one downstream connection served by the connection manager.
type connection struct {
	cfg    *Config
	c      *worker.Conn
	w      *worker.Worker
	codec  codec.ServerCodec
	active []*stream

	idle       timerHandle
	onIdle     func()
	draining   bool
	closed     bool
	headerBin  []*headers.Map
	set        *ConnSet
	prev, next *connection
	logScratch []byte
	hopScratch []byte // Connection header names being stripped
	deferred   deferredLog
	headStart  time.Time // first byte of a request head not yet complete
	alpn       string    // protocol negotiated before the first byte ("" none)
	// tunnel is set once a response switched protocols: the tunnel then
	// handles the socket, and the connection only stays in its ConnSet.
	tunnel *tunnel
}

// ConnSet is the set of one worker's connections for one listener, so a
// drain can reach them all. Loop thread only.
type ConnSet struct {
	head *connection
	n    int
}

// Len is the number of open connections.
func (cs *ConnSet) Len() int { return cs.n }

// Drain asks every connection to finish its streams and close.
func (cs *ConnSet) Drain() {
	for cn := cs.head; cn != nil; {
		next := cn.next
		cn.Drain()
		cn = next
	}
}

// CloseAll aborts every connection (the drain deadline passed).
func (cs *ConnSet) CloseAll() {
	for cs.head != nil {
		cs.head.Close()
	}
}

func (cs *ConnSet) add(cn *connection) {
	cn.set = cs
	cn.next = cs.head
	if cs.head != nil {
		cs.head.prev = cn
	}
	cs.head = cn
	cs.n++
}

func (cs *ConnSet) remove(cn *connection) {
	if cn.prev != nil {
		cn.prev.next = cn.next
	} else {
		cs.head = cn.next
	}
	if cn.next != nil {
		cn.next.prev = cn.prev
	}
	cn.prev, cn.next, cn.set = nil, nil, nil
	cs.n--
}

// Serve starts the connection manager on an accepted connection and tracks
// it in set (may be nil). It runs on the connection's worker.
func (cfg *Config) Serve(c *worker.Conn, set *ConnSet) { cfg.ServeNegotiated(c, set, "") }

// ServeNegotiated is Serve for a connection whose protocol was already
// negotiated, e.g. by TLS ALPN: "h2" selects HTTP/2 and "http/1.1" HTTP/1.1
// without looking at the first bytes; "" falls back to codec_type.
func (cfg *Config) ServeNegotiated(c *worker.Conn, set *ConnSet, alpn string) {
	cn := &connection{cfg: cfg, c: c, w: c.Worker(), alpn: alpn}
	if set != nil {
		set.add(cn)
	}
	cn.onIdle = cn.idleTimeout
	c.SetHandler(cn)
	if lim := cfg.ConnBufferLimit; lim > 0 {
		c.SetWatermarks(lim, lim/2)
	}
	cfg.Stats.DownstreamCxTotal.Add(1)
	cfg.Stats.DownstreamCxActive.Add(1)
	if ce := cfg.Log.Check(zap.DebugLevel, "new connection"); ce != nil {
		ce.Write(zap.Uint64("conn_id", c.ID()), zap.String("remote", c.RemoteAddr().String()))
	}
	cn.armIdle()
}

// Drain starts a graceful close: no new streams, in-flight ones finish. A
// tunnel carries on until its peers end it or the drain deadline (Close).
func (cn *connection) Drain() {
	if cn.closed || cn.draining || cn.tunnel != nil {
		return
	}
	cn.draining = true
	if cn.codec == nil {
		cn.Close()
		return
	}
	cn.codec.Drain()
	cn.maybeClose()
}

// Close aborts the connection (used when a drain deadline passes).
func (cn *connection) Close() {
	if cn.closed {
		return
	}
	if cn.tunnel != nil {
		cn.tunnel.abort(FlagLocalReset, "drain_timeout")
		return
	}
	cn.c.Close()
	cn.onClosed()
}

// worker.ConnHandler

func (cn *connection) OnConnect(*worker.Conn, error) {}

func (cn *connection) OnData(c *worker.Conn) {
	if cn.closed {
		return
	}
	cn.dispatch()
}

func (cn *connection) dispatch() {
	c := cn.c
	if cn.codec == nil && !cn.pickCodec() {
		return
	}
	in := c.Input()
	if len(in) > 0 {
		n, err := cn.codec.Dispatch(in)
		if cn.closed {
			return
		}
		if n > len(in) {
			panic("hcm: codec consumed more than its input")
		}
		c.Consume(n)
		if cn.tunnel != nil {
			return // the connection switched protocols; its bytes are the tunnel's
		}
		if h1, ok := cn.codec.(*http1Server); ok && h1.upgrade != nil {
			cn.switchToH2C(h1)
			return
		}
		if err != nil {
			cn.cfg.Stats.DownstreamCxProtocolErr.Add(1)
			if ce := cn.cfg.Log.Check(zap.DebugLevel, "downstream protocol error"); ce != nil {
				ce.Write(zap.Uint64("conn_id", c.ID()), zap.Error(err))
			}
			cn.closeAfterFlush()
			return
		}
	}
	if c.ReadEOF() {
		cn.codec.ReadEOF()
	}
	cn.maybeClose()
	if !cn.closed {
		cn.armIdle()
	}
}

// pickCodec chooses HTTP/1.1 or HTTP/2 from the first bytes (codec_type auto).
func (cn *connection) pickCodec() bool {
	in := cn.c.Input()
	useH2 := cn.cfg.Codec == CodecHTTP2
	switch cn.alpn {
	case "h2":
		useH2 = true
	case "http/1.1":
		useH2 = false
	}
	if cn.alpn == "" && cn.cfg.Codec == CodecAuto && cn.cfg.NewHTTP2 != nil {
		match, needMore := matchH2Preface(in)
		if needMore && !cn.c.ReadEOF() {
			return false
		}
		useH2 = match
	}
	if useH2 && cn.cfg.NewHTTP2 != nil {
		cn.codec = cn.cfg.NewHTTP2(cn.c, cn)
	} else {
		cn.codec = newHTTP1Server(cn.c, cn, cn.cfg.Limits)
	}
	return true
}

func (cn *connection) OnWritable(*worker.Conn) {
	if cn.codec != nil && !cn.closed {
		cn.codec.OnWritable()
	}
}

func (cn *connection) OnClose(_ *worker.Conn, err error) {
	if ce := cn.cfg.Log.Check(zap.DebugLevel, "connection closed by peer"); ce != nil {
		ce.Write(zap.Uint64("conn_id", cn.c.ID()), zap.Error(err))
	}
	cn.onClosed()
}

func (cn *connection) onClosed() {
	if cn.closed {
		return
	}
	cn.closed = true
	cn.idle.stop()
	if cn.codec != nil {
		cn.codec.OnConnectionClose()
	}
	cn.flushDeferredLog()
	// Streams the codec did not know about any more still end here.
	for len(cn.active) > 0 {
		cn.active[len(cn.active)-1].onCodecReset(codec.ResetConnectionClosed)
	}
	cn.cfg.Stats.DownstreamCxActive.Add(-1)
	if cn.set != nil {
		cn.set.remove(cn)
	}
}

// closedByCodec: the codec closed the socket itself (HTTP/1 stream reset).
func (cn *connection) closedByCodec() { cn.onClosed() }

func (cn *connection) closeAfterFlush() {
	if cn.closed {
		return
	}
	cn.c.CloseAfterFlush()
	cn.onClosed()
}

// maybeClose closes when the codec is finished with the connection.
func (cn *connection) maybeClose() {
	if cn.closed || cn.codec == nil || cn.tunnel != nil {
		return
	}
	if cn.codec.WantsClose() && cn.codec.ActiveStreams() == 0 && len(cn.active) == 0 {
		cn.closeAfterFlush()
		return
	}
	if cn.c.ReadEOF() && cn.codec.ActiveStreams() == 0 && len(cn.active) == 0 {
		cn.closeAfterFlush()
	}
}

// armIdle runs the idle timer while no stream is active: idle_timeout for
// an empty connection, request_headers_timeout once a request has begun.
func (cn *connection) armIdle() {
	if len(cn.active) > 0 || cn.tunnel != nil {
		cn.idle.stop()
		return
	}
	d := cn.cfg.IdleTimeout
	if len(cn.c.Input()) == 0 {
		cn.headStart = time.Time{}
	} else if cn.cfg.RequestHeadersTimeout > 0 {
		// Counted from the first byte of the head, as in Envoy: a client
		// trickling a byte at a time must not keep re-arming it.
		now := cn.w.Now()
		if cn.headStart.IsZero() {
			cn.headStart = now
		}
		d = cn.cfg.RequestHeadersTimeout - now.Sub(cn.headStart)
		if d <= 0 {
			d = time.Nanosecond
		}
	}
	cn.idle.arm(cn.w, d, cn.onIdle)
}

func (cn *connection) idleTimeout() {
	if cn.closed || len(cn.active) > 0 {
		return
	}
	if len(cn.c.Input()) > 0 {
		// A request head that never completed.
		cn.cfg.Stats.DownstreamRqTimeout.Add(1)
		cn.c.Write(appendErrorResponse(nil, 408))
	} else {
		cn.cfg.Stats.DownstreamCxIdleTimeout.Add(1)
	}
	cn.closeAfterFlush()
}

// responseDone: an HTTP/1 response completed with keep-alive outside
// Dispatch. Input that arrived meanwhile (pipelining) is parsed in the
// loop's ready phase, not inside the upstream callback that finished the
// response; the codec then checks the output watermark before taking it.
func (cn *connection) responseDone() {
	if len(cn.c.Input()) > 0 {
		cn.c.Redeliver()
	}
}

// protocolErrorReply answers a request head the codec rejected.
func (cn *connection) protocolErrorReply(status int, reason string) {
	cn.cfg.Stats.countStatus(status)
	cn.c.Write(appendErrorResponse(nil, status))
	cn.logProtocolError(status, reason)
}

func (cn *connection) streamResponseNotStarted(dec codec.RequestDecoder) bool {
	s, ok := dec.(*stream)
	return ok && !s.ended && !s.responseStarted
}

func (cn *connection) localReplyForProtocolError(dec codec.RequestDecoder, status int, reason string) {
	s := dec.(*stream)
	s.info.Flags |= FlagDownstreamProtocolError
	s.sendLocalReply(len(s.filters)-1, status, nil, []byte(statusBody(status)), reason)
}

// AcquireHeaders lends codecs a header map from the connection's free list
// (it becomes the stream's and comes back when the stream is destroyed).
func (cn *connection) AcquireHeaders() *headers.Map { return cn.acquireHeaders() }

// FatalClose is for codecs that end the connection outside Dispatch (an
// HTTP/2 SETTINGS timeout): flush what they queued, then close.
func (cn *connection) FatalClose() {
	cn.cfg.Stats.DownstreamCxProtocolErr.Add(1)
	cn.closeAfterFlush()
}

// acquireHeaders hands out a header map from the connection's free list.
func (cn *connection) acquireHeaders() *headers.Map {
	if n := len(cn.headerBin); n > 0 {
		m := cn.headerBin[n-1]
		cn.headerBin = cn.headerBin[:n-1]
		return m
	}
	return new(headers.Map)
}

func (cn *connection) releaseRequestHeaders(m *headers.Map) {
	// HTTP/2 connections run many streams at once; keep enough maps for
	// a typical concurrency without holding much memory on idle ones.
	if m == nil || len(cn.headerBin) >= 32 {
		return
	}
	m.Reset()
	cn.headerBin = append(cn.headerBin, m)
}

// NewStream is codec.Callbacks: a new request begins.
func (cn *connection) NewStream(enc codec.ResponseEncoder) codec.RequestDecoder {
	s := streamPool.Get().(*stream)
	cfg := cn.cfg
	s.conn, s.cfg, s.enc = cn, cfg, enc
	s.ended, s.destroyed, s.destroyPending, s.depth = false, false, false, 0
	s.requestDone, s.responseStarted, s.localReply = false, false, false
	s.routeValid, s.route = false, nil
	s.upgrade, s.upgradeType, s.switched = upgradeNone, s.upgradeType[:0], false
	s.respHeaders.Reset()
	s.respTrailers.Reset()
	s.info = StreamInfo{
		ConnID:      cn.c.ID(),
		StreamID:    streamIDs.Add(1),
		WorkerIndex: cn.w.Index(),
		Start:       cn.w.Now(),
		Source:      cn.c.RemoteAddr(),
		Destination: cn.c.LocalAddr(),
		Protocol:    cn.codec.Protocol(),
	}
	n := len(cfg.Filters) + 1
	if cap(s.filters) < n {
		s.filters = make([]filterSlot, n)
	}
	s.filters = s.filters[:n]
	s.nEncode = n - 1
	for i := range s.filters {
		s.filters[i].cb = filterCallbacks{s: s, gen: s.gen, idx: i}
	}
	for i, nf := range cfg.Filters {
		s.filters[i].f = nf.Factory.NewFilter(&s.filters[i].cb)
	}
	s.router.init(s)
	s.filters[n-1].f = &s.router
	s.reqWalk.reset(false, n, 0)
	s.respWalk.reset(true, s.nEncode, 0)
	cn.active = append(cn.active, s)
	cn.idle.stop()
	cn.headStart = time.Time{}
	cfg.Stats.DownstreamRqTotal.Add(1)
	cfg.Stats.DownstreamRqActive.Add(1)
	if s.onWritable == nil {
		// Bound once per pooled stream: a method value allocates.
		s.onWritable = s.router.onDownstreamWritable
	}
	enc.SetWritableCallback(s.onWritable)
	return s
}

// streamEnded removes a finished stream from the active list.
func (cn *connection) streamEnded(s *stream) {
	for i, a := range cn.active {
		if a == s {
			last := len(cn.active) - 1
			cn.active[i] = cn.active[last]
			cn.active[last] = nil
			cn.active = cn.active[:last]
			break
		}
	}
	if !cn.closed {
		cn.maybeClose()
		if !cn.closed {
			cn.armIdle()
		}
	}
}

// rateLimitedWarn logs a warning at most once per key per window, so a
// misbehaving module cannot flood the log.
func (cn *connection) rateLimitedWarn(key, msg string, fields ...zap.Field) {
	if warnLimiter.allow(key, cn.w.Now()) {
		cn.cfg.Log.Warn(msg, fields...)
	}
}

const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// matchH2Preface reports whether in starts with the HTTP/2 client preface,
// or could still (needMore).
func matchH2Preface(in []byte) (match, needMore bool) {
	n := len(in)
	if n > len(h2Preface) {
		n = len(h2Preface)
	}
	if string(in[:n]) != h2Preface[:n] {
		return false, false
	}
	return n == len(h2Preface), n < len(h2Preface)
}

// switchToH2C answers an h2c upgrade with 101 and hands the connection, and
// the upgrading request as stream 1, to the HTTP/2 codec.
func (cn *connection) switchToH2C(h1 *http1Server) {
	req := h1.upgrade
	h1.upgrade = nil
	// The 101 goes first: the HTTP/2 codec writes its SETTINGS as soon as
	// it exists. A settings value the codec refuses then ends the
	// connection (RFC 7540 3.2.1 allows no HTTP/1.1 answer after 101).
	cn.c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n"))
	c, err := cn.cfg.UpgradeHTTP2(cn.c, cn, h1.upgradeSettings, req)
	if err != nil {
		cn.releaseRequestHeaders(req)
		cn.cfg.Stats.DownstreamCxProtocolErr.Add(1)
		cn.closeAfterFlush()
		return
	}
	cn.codec = c
	cn.dispatch()
}
