package hcm

import (
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/router"
)

// filterSlot is one filter of a stream with the callbacks it was given.
type filterSlot struct {
	f  StreamFilter
	cb filterCallbacks
}

// stream is one request/response exchange on a connection. It lives on the
// connection's worker. Streams are pooled; gen changes on every reuse so a
// callback object kept past its stream's end cannot reach the next one.
type stream struct {
	conn *connection
	cfg  *Config
	enc  codec.ResponseEncoder
	gen  uint64
	info StreamInfo

	filters []filterSlot // decode order; the router is last
	nEncode int          // filters that take part in encoding (all but the router)
	router  routerFilter

	reqWalk  iteration
	respWalk iteration

	reqHeaders   *headers.Map
	respHeaders  headers.Map
	reqTrailers  *headers.Map
	respTrailers headers.Map

	route      *router.Route
	routeValid bool

	// Protocol switch (upgrade.go): what the request may switch to, its
	// Upgrade value (storage kept across pooling), and whether the
	// response switched the connection to a tunnel.
	upgrade     upgradeKind
	upgradeType []byte
	switched    bool

	// shed: the overload manager sheds this stream; it has no filters
	// and is answered 503 from DecodeHeaders.
	shed bool
	// requestDone: the codec delivered the end of the request.
	requestDone bool
	// responseStarted: response headers were handed to the codec.
	responseStarted bool
	// ended: the stream is over (complete or reset); no hook may run again.
	ended bool
	// depth counts filter hooks on the call stack, so destruction waits
	// until the hook that ended the stream has returned.
	depth          int
	destroyPending bool
	destroyed      bool
	localReply     bool
	// flushPending: the end of the response is encoded and the codec is
	// still writing it (HTTP/2 flow control); the stream is ended but
	// neither logged nor destroyed until the codec reports the outcome.
	flushPending bool
	flushMark    int64 // body bytes written when the flush timeout last looked
	onFlushed    func(complete bool)

	timer            timerHandle // route timeout, or max_stream_duration when durationDeadline
	durationDeadline bool
	reqTimer         timerHandle // request_timeout
	onRouteTimeout   func()
	onReqTimeout     func()
	onWritable       func()
	// Stream idle timeout: the timer checks lastActive when it fires
	// instead of being re-armed on every chunk.
	idleTimer  timerHandle
	lastActive time.Time
	onIdle     func()
}

var streamPool = sync.Pool{New: func() any { return new(stream) }}

// headersFor returns the header map a walk carries.
func (s *stream) headersFor(it *iteration) *headers.Map {
	if it.encode {
		return &s.respHeaders
	}
	return s.reqHeaders
}

func (s *stream) enter() { s.depth++ }

func (s *stream) leave() {
	s.depth--
	if s.depth == 0 && s.destroyPending {
		s.destroy()
	}
}

// beginHook marks pos as the running hook of it; endHook restores the
// previous state and reports whether the filter continued from inside.
func (it *iteration) beginHook(pos int) (prevPos int, prevPending bool) {
	prevPos, prevPending = it.hookPos, it.contPending
	it.hookPos, it.contPending = pos, false
	return
}

func (it *iteration) endHook(prevPos int, prevPending bool) (continued bool) {
	continued = it.contPending
	it.hookPos, it.contPending = prevPos, prevPending
	return continued
}

func (s *stream) callHeaders(it *iteration, pos int, h *headers.Map, end bool) HeadersStatus {
	f := s.filters[s.filterAt(it, pos)].f
	s.enter()
	defer s.leave()
	pp, pc := it.beginHook(pos)
	var st HeadersStatus
	if it.encode {
		st = f.EncodeHeaders(h, end)
	} else {
		st = f.DecodeHeaders(h, end)
	}
	if it.endHook(pp, pc) && st >= HeadersStopIteration && st <= HeadersStopAllIterationAndWatermark {
		st = HeadersContinue
	}
	return st
}

func (s *stream) callData(it *iteration, pos int, b Buffer, end bool) DataStatus {
	f := s.filters[s.filterAt(it, pos)].f
	s.enter()
	defer s.leave()
	pp, pc := it.beginHook(pos)
	var st DataStatus
	if it.encode {
		st = f.EncodeData(b, end)
	} else {
		st = f.DecodeData(b, end)
	}
	if it.endHook(pp, pc) && st >= DataStopIterationAndBuffer && st <= DataStopIterationNoBuffer {
		st = DataContinue
	}
	return st
}

func (s *stream) callTrailers(it *iteration, pos int, t *headers.Map) TrailersStatus {
	f := s.filters[s.filterAt(it, pos)].f
	s.enter()
	defer s.leave()
	pp, pc := it.beginHook(pos)
	var st TrailersStatus
	if it.encode {
		st = f.EncodeTrailers(t)
	} else {
		st = f.DecodeTrailers(t)
	}
	if it.endHook(pp, pc) && st == TrailersStopIteration {
		st = TrailersContinue
	}
	return st
}

// Sinks. Requests have no sink: the router is the last filter and always
// stops the walk. Responses go to the codec.

func (s *stream) sinkHeaders(it *iteration, h *headers.Map, end bool) {
	if !it.encode {
		return
	}
	if (s.router.tunnel != nil || h.Status() == 101) && s.sinkSwitch(h) {
		return
	}
	s.responseStarted = true
	s.info.Status = h.Status()
	s.cfg.Stats.countStatus(s.info.Status)
	s.conn.prepareResponseHeaders(s, h)
	s.enc.EncodeHeaders(h, end)
	if end {
		s.responseComplete()
	}
}

func (s *stream) sinkData(it *iteration, p []byte, end bool) {
	if !it.encode {
		return
	}
	s.info.BytesOut += int64(len(p))
	s.enc.EncodeData(p, end)
	if end {
		s.responseComplete()
	}
}

func (s *stream) sinkTrailers(it *iteration, t *headers.Map) {
	if !it.encode {
		return
	}
	s.enc.EncodeTrailers(t)
	s.responseComplete()
}

// sourceReadDisable applies flow control to whoever feeds a walk.
func (s *stream) sourceReadDisable(it *iteration, disable bool) {
	if it.encode {
		s.router.pauseUpstream(disable)
		return
	}
	s.enc.ReadDisable(disable)
}

// bufferOverflow handles a held body past the stream buffer limit.
func (s *stream) bufferOverflow(it *iteration) {
	if !it.encode {
		s.cfg.Stats.DownstreamRqTooLarge.Add(1)
		s.sendLocalReply(len(s.filters)-1, 413, nil, []byte("Payload Too Large"), "request_payload_too_large")
		return
	}
	if !s.responseStarted {
		s.sendLocalReply(len(s.filters)-1, 500, nil, []byte("Internal Server Error"), "response_payload_too_large")
		return
	}
	s.resetStream(FlagLocalReset, "response_payload_too_large")
}

// filterFailure contains a filter that broke the contract (e.g. returned an
// unknown status): the stream is answered with 500 where HTTP still allows.
func (s *stream) filterFailure(filter int, why string) {
	s.cfg.Stats.FilterFailures.Add(1)
	s.info.Flags |= FlagFilterFailure
	name := "router"
	if filter < len(s.filters)-1 { // a shed stream has the router alone
		name = s.cfg.Filters[filter].Name
	}
	s.conn.rateLimitedWarn("filter_failure:"+name, "filter broke the filter contract; stream failed with 500",
		zap.String("filter", name), zap.String("reason", why),
		zap.Uint64("conn_id", s.info.ConnID), zap.Uint64("stream_id", s.info.StreamID))
	if s.responseStarted {
		s.resetStream(FlagFilterFailure, "filter_failure")
		return
	}
	s.sendLocalReply(len(s.filters)-1, 500, nil, []byte("Internal Server Error"), "filter_failure{"+why+"}")
}

// sendLocalReply answers the stream from the filter at decode index from.
// Encoder filters that saw the request before it (decode index < from) see
// the reply; the rest of the request is ignored.
func (s *stream) sendLocalReply(from int, status int, hdrs [][2]string, body []byte, details string) bool {
	if s.ended {
		return false
	}
	if s.responseStarted {
		// Headers are on the wire: the only honest signal left is a reset.
		s.resetStream(FlagLocalReset, details)
		return true
	}
	s.localReply = true
	if s.info.Details == "" {
		s.info.Details = details
	}
	// The request walk stops here: no later decode hook runs, and a walk
	// in progress notices (epoch) and returns.
	s.reqWalk.epoch++
	s.reqWalk.sinkDone = true
	s.reqWalk.started = true
	s.reqWalk.hdrPos = s.reqWalk.n
	s.reqWalk.bufPos = -1
	s.reqWalk.buf.Reset()
	s.router.cancel()
	if s.reqWalk.readDisabled {
		s.reqWalk.readDisabled = false
		s.enc.ReadDisable(false)
	}

	first := max(s.nEncode-from, 0)
	s.respWalk.reset(true, s.nEncode, first)
	rh := &s.respHeaders
	rh.Reset()
	rh.SetStatus(status)
	for _, kv := range hdrs {
		rh.AddString(kv[0], kv[1])
	}
	if isGRPC(s.reqHeaders) && grpcLocalReply(rh, body, details) {
		// A gRPC client reads the outcome from grpc-status: trailers-only.
		body = nil
	} else {
		if len(body) > 0 && !rh.Has("content-type") {
			rh.AddString("content-type", "text/plain")
		}
		var num [20]byte
		rh.Set("content-length", strconv.AppendInt(num[:0], int64(len(body)), 10))
	}
	if s.reqHeaders != nil {
		if m := s.reqHeaders.Method(); string(m) == "HEAD" {
			body = nil
		}
	}
	s.onHeaders(&s.respWalk, len(body) == 0)
	if len(body) > 0 && !s.ended {
		s.onData(&s.respWalk, body, true)
	}
	return true
}

// responseComplete runs when the end of the response reached the codec. A
// codec that still holds some of it (HTTP/2, waiting for the client's
// window) says when it is out: the stream ends now (no hook runs again)
// but is logged and released only then, so the access log and stats count
// what the client got. stream_idle_timeout bounds the wait (Envoy's flush
// timeout).
func (s *stream) responseComplete() {
	fn, ok := s.enc.(codec.FlushNotifier)
	if !ok {
		s.finish()
		return
	}
	if s.onFlushed == nil {
		s.onFlushed = s.flushed // bound once per pooled stream
	}
	done, complete := fn.NotifyFlushed(s.onFlushed)
	if done {
		if !complete {
			s.markTruncated()
		}
		s.finish()
		return
	}
	s.end()
	s.flushPending = true
	s.flushMark = fn.BodyBytesWritten()
	s.armIdle()
}

// flushed is the codec's answer to NotifyFlushed.
func (s *stream) flushed(complete bool) {
	if !s.flushPending {
		return
	}
	s.flushPending = false
	if !complete {
		s.markTruncated()
	}
	s.complete()
}

// markTruncated flags a response sluice finished that the client did not
// get whole.
func (s *stream) markTruncated() {
	s.info.Flags |= FlagResponseTruncated
	s.cfg.Stats.DownstreamRqResponseTruncated.Add(1)
}

// resetStream ends a stream abnormally.
func (s *stream) resetStream(flag ResponseFlags, details string) {
	if s.ended {
		return
	}
	s.info.Flags |= flag
	if s.info.Details == "" {
		s.info.Details = details
	}
	// Finish first: resetting an HTTP/1 stream closes the connection,
	// which must not be blamed on the client.
	enc := s.enc
	s.finish()
	enc.Reset()
}

// onCodecReset is the codec telling us the stream is gone.
func (s *stream) onCodecReset(reason codec.ResetReason) {
	if s.flushPending {
		// The connection went away under a response still being flushed.
		s.info.Flags |= FlagDownstreamConnectionTermination
		s.flushed(false)
		return
	}
	if s.ended {
		return
	}
	switch reason {
	case codec.ResetConnectionClosed, codec.ResetRemote:
		s.info.Flags |= FlagDownstreamConnectionTermination
	case codec.ResetProtocolError:
		s.info.Flags |= FlagDownstreamProtocolError
	}
	s.finish()
}

// finish marks the stream ended, logs it and schedules destruction.
func (s *stream) finish() {
	if s.ended {
		return
	}
	s.end()
	s.complete()
}

// end stops everything that could still act on the stream: no hook,
// timer or upstream event runs for it afterwards.
func (s *stream) end() {
	s.ended = true
	s.router.cancel()
	s.timer.stop()
	s.reqTimer.stop()
	s.idleTimer.stop()
}

// complete runs the completion hooks, logs the stream and schedules its
// destruction.
func (s *stream) complete() {
	if fn, ok := s.enc.(codec.FlushNotifier); ok {
		s.info.BytesOut = fn.BodyBytesWritten()
	}
	s.cfg.Stats.DownstreamRqTxBodyBytes.Add(uint64(s.info.BytesOut))
	s.cfg.Stats.DownstreamRqActive.Add(-1)
	for i := range s.filters {
		s.enter()
		s.filters[i].f.OnStreamComplete()
		s.leave()
	}
	if !s.switched {
		// A tunnel logs one line when it ends (tunnel.go).
		s.conn.logAccess(s)
	}
	s.conn.streamEnded(s)
	if s.depth > 0 {
		s.destroyPending = true
		return
	}
	s.destroy()
}

// destroy releases the filters exactly once, after no hook is running.
func (s *stream) destroy() {
	if s.destroyed {
		return
	}
	s.destroyed = true
	s.destroyPending = false
	for i := range s.filters {
		s.filters[i].f.OnDestroy()
		s.filters[i] = filterSlot{}
	}
	s.filters = s.filters[:0]
	s.router.release()
	s.conn.releaseRequestHeaders(s.reqHeaders)
	if s.reqTrailers != nil {
		s.conn.releaseRequestHeaders(s.reqTrailers)
	}
	s.reqHeaders, s.reqTrailers = nil, nil
	s.route = nil
	s.info = StreamInfo{}
	s.gen++
	s.conn = nil
	if r, ok := s.enc.(codec.Releaser); ok {
		r.Release()
	}
	s.enc = nil
	streamPool.Put(s)
}

// selectRoute finds (and caches) the route for the current request headers.
func (s *stream) selectRoute() *router.Route {
	if !s.routeValid {
		s.routeValid = true
		s.route = nil
		if s.cfg.Routes != nil && s.reqHeaders != nil {
			s.route = s.cfg.Routes.Match(s.reqHeaders)
		}
		if s.route != nil {
			s.info.RouteName = s.route.Name
		}
	}
	return s.route
}

// touch records stream activity for the stream idle timeout.
func (s *stream) touch() {
	if s.cfg.StreamIdleTimeout > 0 {
		s.lastActive = s.conn.w.Now()
	}
}

func (s *stream) armIdle() {
	if s.cfg.StreamIdleTimeout <= 0 {
		return
	}
	if s.onIdle == nil {
		s.onIdle = s.idleCheck
	}
	s.lastActive = s.conn.w.Now()
	s.idleTimer.arm(s.conn.w, s.cfg.StreamIdleTimeout, s.onIdle)
}

// idleCheck ends a stream that saw no request or response data for
// stream_idle_timeout: 408 before the response started, a reset after.
func (s *stream) idleCheck() {
	if s.flushPending {
		s.flushCheck()
		return
	}
	if s.ended {
		return
	}
	idle := s.conn.w.Now().Sub(s.lastActive)
	if left := s.cfg.StreamIdleTimeout - idle; left > 0 {
		s.idleTimer.arm(s.conn.w, left, s.onIdle)
		return
	}
	s.cfg.Stats.DownstreamRqIdleTimeout.Add(1)
	s.info.Flags |= FlagStreamIdleTimeout
	if s.responseStarted {
		s.resetStream(FlagStreamIdleTimeout, "stream_idle_timeout")
		return
	}
	s.sendLocalReply(len(s.filters)-1, 408, nil, []byte("stream timeout"), "stream_idle_timeout")
}

// flushCheck is stream_idle_timeout while the codec flushes the end of the
// response: as long as body bytes keep going out the wait goes on; a client
// that keeps its window shut for that long gets the stream reset (flags SI
// and the truncation flag).
func (s *stream) flushCheck() {
	fn := s.enc.(codec.FlushNotifier)
	if w := fn.BodyBytesWritten(); w != s.flushMark {
		s.flushMark = w
		s.idleTimer.arm(s.conn.w, s.cfg.StreamIdleTimeout, s.onIdle)
		return
	}
	s.cfg.Stats.DownstreamRqIdleTimeout.Add(1)
	s.info.Flags |= FlagStreamIdleTimeout
	s.flushPending = false
	s.markTruncated()
	s.enc.Reset()
	s.complete()
}
