package hcm

import (
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/http1"
	"github.com/sluiceproxy/sluice/host/network"
	"github.com/sluiceproxy/sluice/host/overload"
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

// connection is one downstream connection served by the connection manager:
// the terminal network filter of its chain. It is also what its codec writes
// through (codec.Transport) and calls back (http1.ServerCallbacks).
type connection struct {
	cfg    *Config
	cb     *network.Callbacks
	nc     *network.Connection
	w      *worker.Worker
	codec  codec.ServerCodec
	active []*stream

	idle     timerHandle
	onIdle   func()
	draining bool
	closed   bool
	// codecDrained: the codec was told to drain. A connection drained
	// before its first stream tells it only once that stream began.
	codecDrained bool
	streams      int // streams begun on the connection
	logScratch   []byte
	hopScratch   []byte // Connection header names being stripped
	deferred     deferredLog
	headStart    time.Time // first byte of a request head not yet complete
	// tunnel is set once a response switched protocols: the connection's
	// bytes then go through the tunnel's pipe.
	tunnel *tunnel
	// overload is this worker's overload state (nil: no manager).
	overload *overload.State
}

var (
	_ network.ReadFilter       = (*connection)(nil)
	_ network.EventHandler     = (*connection)(nil)
	_ network.WatermarkHandler = (*connection)(nil)
	_ network.Drainer          = (*connection)(nil)
	_ codec.Transport          = (*connection)(nil)
	_ http1.ServerCallbacks    = (*connection)(nil)
)

// NewFilter is network.FilterFactory: the connection manager as the
// terminal filter of a listener's chain.
func (cfg *Config) NewFilter(cb *network.Callbacks) network.Filter {
	// A client's FIN is the codec's to judge (HTTP/1: the connection ends
	// once the response is out; a tunnel passes it on) — from the start,
	// even while a filter before this one holds the chain.
	cb.Connection().EnableHalfClose(true)
	return &connection{cfg: cfg, cb: cb}
}

// Serve runs the connection manager alone on an accepted connection (a
// chain of one filter), tracked in set (may be nil): for tests and simple
// embeddings. On the connection's worker.
func (cfg *Config) Serve(c *worker.Conn, set *network.Set) *network.Connection {
	return cfg.ServeNegotiated(c, set, "")
}

// ServeNegotiated is Serve for a connection whose protocol was already
// negotiated, e.g. by TLS ALPN: "h2" selects HTTP/2 and "http/1.1" HTTP/1.1
// without looking at the first bytes; "" falls back to codec_type.
func (cfg *Config) ServeNegotiated(c *worker.Conn, set *network.Set, alpn string) *network.Connection {
	opts := &network.Options{BufferLimit: cfg.ConnBufferLimit, Log: cfg.Log}
	chain := []network.NamedFilterFactory{{Name: "http_connection_manager", Factory: cfg}}
	return network.New(c, chain, opts, network.Attributes{ALPN: alpn}, set)
}

// network.ReadFilter

func (cn *connection) OnNewConnection() network.FilterStatus {
	nc := cn.cb.Connection()
	cn.nc, cn.w = nc, nc.Worker()
	cn.onIdle = cn.idleTimeout
	if m := cn.cfg.Overload; m != nil {
		cn.overload = m.State(cn.w.Index())
	}
	cn.cfg.Stats.DownstreamCxTotal.Add(1)
	cn.cfg.Stats.DownstreamCxActive.Add(1)
	if ce := cn.cfg.Log.Check(zap.DebugLevel, "new connection"); ce != nil {
		ce.Write(zap.Uint64("conn_id", nc.ID()), zap.String("remote", nc.RemoteAddr().String()))
	}
	cn.armIdle()
	// Continue: bytes already buffered (a filter before this one held
	// them) are parsed in this same pass.
	return network.Continue
}

func (cn *connection) OnData(b *network.Buffer, end bool) network.FilterStatus {
	switch {
	case cn.closed:
	case cn.tunnel != nil:
		cn.tunnel.downstream(b, end)
	default:
		cn.dispatch(b, end)
	}
	return network.StopIteration
}

func (cn *connection) dispatch(b *network.Buffer, end bool) {
	if cn.codec == nil && !cn.pickCodec(b.Bytes(), end) {
		return
	}
	if in := b.Bytes(); len(in) > 0 {
		n, err := cn.codec.Dispatch(in)
		if cn.closed {
			return
		}
		if cn.draining && !cn.codecDrained && cn.streams > 0 {
			// Drained before its first request arrived (Drain): answer
			// it, then close (HTTP/1) or refuse more streams (GOAWAY).
			cn.codecDrained = true
			cn.codec.Drain()
		}
		if n > len(in) {
			panic("hcm: codec consumed more than its input")
		}
		b.Drain(n)
		if cn.tunnel != nil {
			return // switched protocols: what follows is the tunnel's
		}
		if up, ok := cn.codec.(codec.H2CUpgrader); ok {
			if req, settings, ok := up.TakeH2CUpgrade(); ok {
				cn.switchToH2C(req, settings, b, end)
				return
			}
		}
		if err != nil {
			cn.cfg.Stats.DownstreamCxProtocolErr.Add(1)
			if ce := cn.cfg.Log.Check(zap.DebugLevel, "downstream protocol error"); ce != nil {
				ce.Write(zap.Uint64("conn_id", cn.nc.ID()), zap.Error(err))
			}
			cn.closeAfterFlush()
			return
		}
	}
	if end {
		cn.codec.ReadEOF()
	}
	cn.maybeClose()
	if !cn.closed {
		cn.armIdle()
	}
}

// pickCodec chooses HTTP/1.1 or HTTP/2: by ALPN when TLS negotiated it,
// else by codec_type, and with auto from the first bytes.
func (cn *connection) pickCodec(in []byte, end bool) bool {
	alpn := cn.nc.Attributes().ALPN
	useH2 := cn.cfg.Codec == CodecHTTP2
	switch alpn {
	case "h2":
		useH2 = true
	case "http/1.1":
		useH2 = false
	}
	if alpn == "" && cn.cfg.Codec == CodecAuto && cn.cfg.NewHTTP2 != nil {
		match, needMore := matchH2Preface(in)
		if needMore && !end {
			return false
		}
		useH2 = match
	}
	if useH2 && cn.cfg.NewHTTP2 != nil {
		cn.codec = cn.cfg.NewHTTP2(cn, cn)
	} else {
		tls := cn.nc.Attributes().TLSVersion != ""
		cn.codec = http1.NewServerCodec(cn, cn, http1.ServerOptions{Limits: cn.cfg.Limits, H2CUpgrade: cn.cfg.UpgradeHTTP2 != nil && !tls, TLS: tls})
	}
	return true
}

// network.WatermarkHandler

func (cn *connection) OnAboveWriteBufferHighWatermark() {}

func (cn *connection) OnBelowWriteBufferLowWatermark() {
	switch {
	case cn.closed:
	case cn.tunnel != nil:
		cn.tunnel.downstreamDrained()
	case cn.codec != nil:
		cn.codec.OnWritable()
	}
}

// network.EventHandler

func (cn *connection) OnEvent(ev network.ConnectionEvent) {
	if ev == network.Connected {
		return
	}
	if ev == network.RemoteClose {
		if ce := cn.cfg.Log.Check(zap.DebugLevel, "connection closed by peer"); ce != nil {
			ce.Write(zap.Uint64("conn_id", cn.nc.ID()))
		}
	}
	if cn.tunnel != nil {
		cn.tunnel.connectionClosed(ev == network.RemoteClose)
	}
	cn.onClosed()
}

// OnDrainDeadline is network.DrainDeadliner: the drain deadline closes the
// connection; a tunnel says so in its access-log line.
func (cn *connection) OnDrainDeadline() {
	if cn.tunnel != nil {
		cn.tunnel.setFlag(FlagLocalReset, "drain_timeout")
	}
}

// Drain is network.Drainer: a graceful close, no new streams, in-flight ones
// finish. A tunnel carries on until its peers end it or the drain deadline.
// disableKeepalive ends the connection after the streams in flight, as a
// drain does (HTTP/1: Connection: close on the response; HTTP/2: GOAWAY),
// for the overload manager's disable_keepalive. Called from a stream the
// codec already tracks, so the request in flight is read to its end.
func (cn *connection) disableKeepalive() {
	if cn.closed || cn.draining || cn.tunnel != nil || cn.codec == nil {
		return
	}
	cn.draining = true
	cn.cfg.Stats.DownstreamCxOverloadDisableKeepalive.Add(1)
	cn.codec.Drain()
}

func (cn *connection) Drain() {
	if cn.closed || cn.draining || cn.tunnel != nil {
		return
	}
	cn.draining = true
	if cn.streams == 0 {
		// No request yet: the client's first one may be on its way,
		// and a client retries a request lost to a close only on a
		// connection it reused. The codec drains once that request
		// began (dispatch); a client that sends nothing meets the idle
		// timeout or the drain deadline.
		return
	}
	cn.codecDrained = true
	cn.codec.Drain()
	cn.maybeClose()
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
}

// closeAfterFlush ends the connection once its output is sent; the network
// layer's LocalClose event then runs onClosed.
func (cn *connection) closeAfterFlush() {
	if cn.closed {
		return
	}
	cn.nc.Close(network.FlushWrite)
	cn.onClosed() // in case the event was not delivered (closed already)
}

// codec.Transport: what the codecs write through (the network write
// filters, then the socket).

func (cn *connection) ID() uint64               { return cn.nc.ID() }
func (cn *connection) Worker() *worker.Worker   { return cn.w }
func (cn *connection) Write(p []byte)           { cn.nc.Write(p, false) }
func (cn *connection) Pending() int             { return cn.nc.Pending() }
func (cn *connection) AboveHighWatermark() bool { return cn.nc.AboveHighWatermark() }
func (cn *connection) ReadDisable(disable bool) { cn.nc.ReadDisable(disable) }
func (cn *connection) BufferedInput() int       { return cn.nc.BufferedInput() }
func (cn *connection) Redeliver()               { cn.nc.Redeliver() }
func (cn *connection) CloseAfterFlush()         { cn.closeAfterFlush() }
func (cn *connection) InputDone()               { cn.nc.InputDone() }

// maybeClose closes when the codec is finished with the connection.
func (cn *connection) maybeClose() {
	if cn.closed || cn.codec == nil || cn.tunnel != nil {
		return
	}
	if cn.codec.WantsClose() && cn.codec.ActiveStreams() == 0 && len(cn.active) == 0 {
		cn.closeAfterFlush()
		return
	}
	if cn.nc.ReadEOF() && cn.codec.ActiveStreams() == 0 && len(cn.active) == 0 {
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
	if cn.nc.BufferedInput() == 0 {
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
	if cn.nc.BufferedInput() > 0 {
		// A request head that never completed.
		cn.cfg.Stats.DownstreamRqTimeout.Add(1)
		cn.Write(http1.AppendErrorResponse(nil, 408))
	} else {
		cn.cfg.Stats.DownstreamCxIdleTimeout.Add(1)
	}
	cn.closeAfterFlush()
}

// http1.ServerCallbacks

// RequestRejected: the HTTP/1 codec answered a request head it rejected.
func (cn *connection) RequestRejected(status int, reason string) {
	cn.cfg.Stats.countStatus(status)
	cn.logProtocolError(status, reason)
}

// FailStream answers a stream whose body turned out malformed, if its
// response has not started.
func (cn *connection) FailStream(dec codec.RequestDecoder, status int, reason string) bool {
	s, ok := dec.(*stream)
	if !ok || s.ended || s.responseStarted {
		return false
	}
	s.info.Flags |= FlagDownstreamProtocolError
	s.sendLocalReply(len(s.filters)-1, status, nil, []byte(statusBody(status)), reason)
	return true
}

// RequestBodyDiscarded is defined with the deferred access-log line
// (accesslog.go).

// AcquireHeaders lends codecs a header map from the connection's free list
// (it becomes the stream's and comes back when the stream is destroyed).
func (cn *connection) AcquireHeaders() *headers.Map { return cn.acquireHeaders() }

// FatalClose is for codecs that end the connection outside Dispatch (an
// HTTP/2 SETTINGS timeout): flush what they queued, then close.
func (cn *connection) FatalClose() {
	cn.cfg.Stats.DownstreamCxProtocolErr.Add(1)
	cn.closeAfterFlush()
}

// requestMaps recycles request header maps, with the storage they grew,
// across streams and connections: a connection's first request then
// decodes into a grown map instead of growing a new one.
var requestMaps = sync.Pool{New: func() any { return new(headers.Map) }}

// maxPooledHeaderBytes keeps maps that grew for an unusually large head
// out of the pool.
const maxPooledHeaderBytes = 64 << 10

// acquireHeaders hands out an empty request header map.
func (cn *connection) acquireHeaders() *headers.Map { return requestMaps.Get().(*headers.Map) }

func (cn *connection) releaseRequestHeaders(m *headers.Map) {
	if m == nil || m.ArenaCap() > maxPooledHeaderBytes {
		return
	}
	m.Reset()
	requestMaps.Put(m)
}

// NewStream is codec.Callbacks: a new request begins.
func (cn *connection) NewStream(enc codec.ResponseEncoder) codec.RequestDecoder {
	s := streamPool.Get().(*stream)
	cfg := cn.cfg
	s.conn, s.cfg, s.enc = cn, cfg, enc
	s.ended, s.destroyed, s.destroyPending, s.depth = false, false, false, 0
	s.requestDone, s.responseStarted, s.localReply, s.flushPending = false, false, false, false
	s.routeValid, s.route = false, nil
	s.upgrade, s.upgradeType, s.switched = upgradeNone, s.upgradeType[:0], false
	s.respHeaders.Reset()
	s.respTrailers.Reset()
	s.info = StreamInfo{
		ConnID:      cn.nc.ID(),
		StreamID:    streamIDs.Add(1),
		WorkerIndex: cn.w.Index(),
		Start:       cn.w.Now(),
		Source:      cn.nc.RemoteAddr(),
		Destination: cn.nc.LocalAddr(),
		Connection:  cn.nc.Attributes(),
		Protocol:    cn.codec.Protocol(),
	}
	// A stream the overload manager sheds gets no filter at all: it is
	// answered before any would run (DecodeHeaders), and creating them
	// (module hooks included) is the work shedding saves.
	s.shed = cn.overload != nil && cn.overload.ShedNewStreams
	n := len(cfg.Filters) + 1
	if s.shed {
		n = 1
	}
	if cap(s.filters) < n {
		s.filters = make([]filterSlot, n)
	}
	s.filters = s.filters[:n]
	s.nEncode = n - 1
	for i := range s.filters {
		s.filters[i].cb = filterCallbacks{s: s, gen: s.gen, idx: i}
	}
	for i, nf := range cfg.Filters[:n-1] {
		s.filters[i].f = nf.Factory.NewFilter(&s.filters[i].cb)
	}
	s.router.init(s)
	s.filters[n-1].f = &s.router
	s.reqWalk.reset(false, n, 0)
	s.respWalk.reset(true, s.nEncode, 0)
	cn.active = append(cn.active, s)
	cn.streams++
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
func (cn *connection) switchToH2C(req *headers.Map, settings []byte, b *network.Buffer, end bool) {
	// The 101 goes first: the HTTP/2 codec writes its SETTINGS as soon as
	// it exists. A settings value the codec refuses then ends the
	// connection (RFC 7540 3.2.1 allows no HTTP/1.1 answer after 101).
	cn.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n"))
	c, err := cn.cfg.UpgradeHTTP2(cn, cn, settings, req)
	if err != nil {
		cn.releaseRequestHeaders(req)
		cn.cfg.Stats.DownstreamCxProtocolErr.Add(1)
		cn.closeAfterFlush()
		return
	}
	cn.codec = c
	cn.dispatch(b, end)
}
