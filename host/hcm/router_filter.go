package hcm

import (
	"errors"
	"net/netip"
	"strconv"

	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/router"
	"github.com/sluiceproxy/sluice/host/worker"
)

// routerFilter is the terminal HTTP filter (Envoy's router): it picks the
// route, answers direct responses, and forwards everything else to an
// upstream of the route's cluster, feeding the response back into the
// encode walk. It lives inside its stream, so it costs no allocation.
type routerFilter struct {
	s     *stream
	cl    *cluster.Cluster // the route's cluster
	up    *cluster.Stream
	upMem cluster.Stream // storage for up, so a pooled exchange does not allocate
	retry retryState     // retries and the request's hash (retry.go)
	// tunnel is the upstream side of a protocol switch, connecting
	// (CONNECT) or switched (after a 101), until the response that
	// switches reaches the codec (upgrade.go).
	tunnel *cluster.Tunnel

	pending         bodyBuffer // request body that arrived before the upstream was ready
	pendingEnd      bool
	pendingTrailers *headers.Map
	headersSent     bool
	upstreamDone    bool // the whole request went upstream
	respPaused      bool // upstream reading paused for downstream backpressure
	downPaused      bool // downstream reading paused for upstream backpressure
	pathScratch     []byte

	// gRPC: the request is gRPC (grpcReq) and so is the response the
	// upstream started (grpcResp); framer follows its message boundaries
	// so a response that cannot complete can still end with a status.
	grpcReq  bool
	grpcResp bool
	framer   grpcFramer
}

func (r *routerFilter) init(s *stream) {
	r.s = s
	r.cl = nil
	r.up = nil
	r.retry.reset()
	r.tunnel = nil
	r.pending.Reset()
	r.pendingEnd = false
	r.pendingTrailers = nil
	r.headersSent = false
	r.upstreamDone = false
	r.respPaused = false
	r.downPaused = false
	r.grpcReq, r.grpcResp = false, false
	r.framer.reset()
}

func (r *routerFilter) DecodeHeaders(h *headers.Map, end bool) HeadersStatus {
	s := r.s
	route := s.selectRoute()
	if route == nil {
		s.cfg.Stats.NoRoute.Add(1)
		s.info.Flags |= FlagNoRouteFound
		s.sendLocalReply(len(s.filters)-1, 404, nil, nil, "route_not_found")
		return HeadersStopIteration
	}
	if d := route.Direct; d != nil {
		s.cfg.Stats.RqDirectResponse.Add(1)
		s.info.Flags |= FlagDirectResponse
		s.sendLocalReply(len(s.filters)-1, d.Status, nil, d.Body, "direct_response")
		return HeadersStopIteration
	}
	cl := s.cfg.Clusters.Get(route.Cluster)
	if cl == nil {
		s.cfg.Stats.NoCluster.Add(1)
		s.info.Flags |= FlagNoClusterFound
		s.sendLocalReply(len(s.filters)-1, 503, nil, []byte("no cluster"), "cluster_not_found")
		return HeadersStopIteration
	}
	s.info.Cluster = cl.Name()
	r.cl = cl
	r.beginRetries(route)
	if route.IsConnect() {
		if s.upgrade != upgradeConnect {
			// Only an HTTP/1.1 connection can become a tunnel.
			s.sendLocalReply(len(s.filters)-1, 501, nil, []byte("CONNECT is supported over HTTP/1.1 only"), "connect_unsupported{HTTP/2}")
			return HeadersStopIteration
		}
		r.startConnect(cl)
		return HeadersStopIteration
	}
	if s.upgrade == upgradeHTTP && !s.upgradeRoute(route) {
		s.dropUpgrade(h)
	}
	r.grpcReq = isGRPC(h)
	route.ApplyRequestHeaders(h)
	if path := h.Path(); len(path) > 0 {
		r.pathScratch = route.RewritePath(r.pathScratch[:0], h)
		if string(r.pathScratch) != string(path) {
			h.Set(":path", r.pathScratch)
		}
	}
	if route.HostRewrite != "" {
		h.SetString(":authority", route.HostRewrite)
	}
	r.pendingEnd = end
	r.startAttempt()
	return HeadersStopIteration
}

func (r *routerFilter) DecodeData(b Buffer, end bool) DataStatus {
	if end {
		r.pendingEnd = true
	}
	r.keepBody(b.Bytes())
	if r.up != nil && r.headersSent {
		r.up.SendData(b.Bytes(), end)
		b.Drain(b.Len())
		if end {
			r.requestSent()
		}
		r.checkUpstreamWatermark()
		return DataStopIterationNoBuffer
	}
	// Not connected yet: keep the body here, bounded like any buffer.
	r.pending.Append(b.Bytes())
	b.Drain(b.Len())
	if lim := r.s.cfg.BufferLimit; lim > 0 && r.pending.Len() > lim && !r.downPaused {
		r.downPaused = true
		r.s.enc.ReadDisable(true)
	}
	return DataStopIterationNoBuffer
}

func (r *routerFilter) DecodeTrailers(t *headers.Map) TrailersStatus {
	r.pendingEnd = true
	r.retry.trailers = t
	if r.up != nil && r.headersSent {
		r.up.SendTrailers(t)
		r.requestSent()
		return TrailersStopIteration
	}
	r.pendingTrailers = t
	return TrailersStopIteration
}

// The router is not an encoder filter; these never run.
func (r *routerFilter) EncodeHeaders(*headers.Map, bool) HeadersStatus { return HeadersContinue }
func (r *routerFilter) EncodeData(Buffer, bool) DataStatus             { return DataContinue }
func (r *routerFilter) EncodeTrailers(*headers.Map) TrailersStatus     { return TrailersContinue }
func (r *routerFilter) OnStreamComplete()                              {}
func (r *routerFilter) OnDestroy()                                     {}

func (r *routerFilter) checkUpstreamWatermark() {
	if r.up != nil && r.up.AboveWriteWatermark() && !r.downPaused {
		r.downPaused = true
		r.s.enc.ReadDisable(true)
	}
}

// UpstreamStream lends the cluster this filter's storage for its stream.
func (r *routerFilter) UpstreamStream() *cluster.Stream { return &r.upMem }

// cluster.ResponseHandler

func (r *routerFilter) OnPoolReady(up *cluster.Stream, host netip.AddrPort) {
	s := r.s
	if s == nil || s.ended {
		up.Reset()
		return
	}
	r.up = up
	s.info.Upstream = host
	r.retry.rememberHost(up.Host())
	if rt := s.route; rt != nil && rt.AutoHostRewrite {
		var buf [64]byte
		s.reqHeaders.Set(":authority", host.AppendTo(buf[:0]))
	}
	if r.retry.attempts > 1 {
		// A retry: the whole request was received and kept; what the
		// first attempt never got to send is in the replay too.
		r.pending.Reset()
		r.pendingTrailers = nil
		r.sendReplay(up)
	} else {
		r.sendFirst(up)
	}
	if r.downPaused && !up.AboveWriteWatermark() {
		r.downPaused = false
		s.enc.ReadDisable(false)
	}
}

// sendFirst sends the first attempt's request: the head, then what
// arrived while the connection was being made.
func (r *routerFilter) sendFirst(up *cluster.Stream) {
	s := r.s
	end := r.pendingEnd && r.pending.Len() == 0 && r.pendingTrailers == nil
	r.headersSent = true
	up.SendHeaders(s.reqHeaders, end)
	if end {
		r.requestSent()
		return
	}
	if r.pending.Len() > 0 || (r.pendingEnd && r.pendingTrailers == nil) {
		last := r.pendingEnd && r.pendingTrailers == nil
		up.SendData(r.pending.Bytes(), last)
		r.pending.Reset()
		if last {
			r.requestSent()
		}
	}
	if r.pendingTrailers != nil {
		up.SendTrailers(r.pendingTrailers)
		r.requestSent()
	}
}

func (r *routerFilter) OnPoolFailure(reason cluster.FailureReason, err error) {
	s := r.s
	r.up = nil
	if s == nil || s.ended {
		return
	}
	if reason == cluster.ConnectFailure || reason == cluster.ConnectTimeout {
		if r.retryFailure(router.FailConnect) {
			return
		}
	} else {
		r.endAttempt() // overflow and no host are never retried
	}
	switch reason {
	case cluster.Overflow:
		s.info.Flags |= FlagUpstreamOverflow
		s.sendLocalReply(len(s.filters)-1, 503, nil, []byte("upstream overflow"), "upstream_reset_before_response_started{overflow}")
	case cluster.NoHealthyUpstream:
		s.info.Flags |= FlagNoHealthyUpstream
		s.sendLocalReply(len(s.filters)-1, 503, nil, []byte("no healthy upstream"), "no_healthy_upstream")
	default:
		s.info.Flags |= FlagUpstreamConnectionFailure
		if body, details, ok := tlsFailure(err); ok {
			s.sendLocalReply(len(s.filters)-1, 503, nil, body, details)
			return
		}
		s.sendLocalReply(len(s.filters)-1, 503, nil, []byte("upstream connect error or disconnect/reset before headers. reset reason: connection failure"), "upstream_reset_before_response_started{connection_failure}")
	}
}

// tlsFailure words a connect failure that TLS caused, as Envoy does (a
// "transport failure reason" in the body, TLS_error in the details): a
// certificate that did not verify, any other failed handshake, or an
// endpoint that chose another protocol.
func tlsFailure(err error) (body []byte, details string, ok bool) {
	var he *worker.HandshakeError
	switch {
	case errors.As(err, &he):
		kind := "handshake_failed"
		if he.VerifyFailed() {
			kind = "certificate_verify_failed"
		}
		return []byte("upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS error: " + he.Err.Error()),
			"upstream_reset_before_response_started{connection_failure,TLS_error:" + kind + "}", true
	case errors.Is(err, cluster.ErrALPN):
		return []byte("upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS error: " + err.Error()),
			"upstream_reset_before_response_started{connection_failure,TLS_error:alpn_mismatch}", true
	}
	return nil, "", false
}

func (r *routerFilter) OnResponseHeaders(h *headers.Map, end bool) {
	s := r.s
	if s == nil || s.ended {
		return
	}
	status := h.Status()
	if r.retryStatus(status) {
		return // discarded; a retry is scheduled
	}
	r.commit(status)
	if end {
		s.timer.stop()
	}
	r.grpcResp = r.grpcReq && !end && isGRPC(h)
	s.respHeaders.CopyFrom(h)
	if rt := s.route; rt != nil && rt.IncludeAttemptCountInResponse {
		var num [20]byte
		s.respHeaders.Set("x-envoy-attempt-count", strconv.AppendInt(num[:0], int64(r.retry.attempts), 10))
	}
	s.respWalk.reset(true, s.nEncode, 0)
	s.enter()
	s.onHeaders(&s.respWalk, end)
	s.leave()
}

func (r *routerFilter) OnResponseData(p []byte, end bool) {
	s := r.s
	if s == nil || s.ended {
		return
	}
	if end {
		s.timer.stop()
	}
	if r.grpcResp {
		r.framer.feed(p)
	}
	s.touch()
	s.enter()
	s.onData(&s.respWalk, p, end)
	s.leave()
	if !s.ended && !end && r.up != nil && !r.respPaused && s.enc.AboveWriteWatermark() {
		r.respPaused = true
		r.up.PauseResponse()
	}
}

func (r *routerFilter) OnResponseTrailers(t *headers.Map) {
	s := r.s
	if s == nil || s.ended {
		return
	}
	s.timer.stop()
	s.respTrailers.CopyFrom(t)
	s.enter()
	s.onTrailers(&s.respWalk, &s.respTrailers)
	s.leave()
}

func (r *routerFilter) OnReset(reason cluster.ResetReason, err error) {
	s := r.s
	r.up = nil
	if s == nil || s.ended {
		return
	}
	var tooLarge *cluster.HeadersTooLargeError
	if errors.As(err, &tooLarge) {
		r.headersTooLarge(err)
		return
	}
	if s.responseStarted || s.respWalk.started {
		r.endAttempt()
		if r.canEndGRPC() {
			// A gRPC response at a message boundary: end it with
			// UNAVAILABLE (which clients may retry) rather than a reset
			// that they read as INTERNAL.
			s.endGRPC(grpcUnavailable, "upstream reset after the response started: "+upstreamFailure(reason, err),
				FlagUpstreamRemoteReset, "upstream_reset_after_response_started{"+reason.String()+"}")
			return
		}
		s.resetStream(FlagUpstreamRemoteReset, "upstream_reset_after_response_started")
		return
	}
	if errors.Is(err, cluster.ErrUnexpected101) || reason == cluster.LocalReset {
		r.endAttempt()
	} else if r.retryFailure(failureOf(err)) {
		return
	}
	if errors.Is(err, cluster.ErrUnexpected101) {
		// The upstream switched protocols for a request that was not
		// allowed to (no upgrade_configs for it): Envoy's upgrade_failed.
		s.upgradeFailed()
		return
	}
	if reason == cluster.ProtocolError {
		s.info.Flags |= FlagUpstreamProtocolError
		s.sendLocalReply(len(s.filters)-1, 502, nil, []byte("upstream protocol error"), "upstream_reset_before_response_started{protocol_error}")
		return
	}
	s.info.Flags |= FlagUpstreamConnectionTermination
	s.sendLocalReply(len(s.filters)-1, 503, nil, []byte("upstream connect error or disconnect/reset before headers. reset reason: connection termination"), "upstream_reset_before_response_started{connection_termination}")
}

func (r *routerFilter) OnUpstreamWritable() {
	if r.downPaused && r.s != nil && !r.s.ended {
		r.downPaused = false
		r.s.enc.ReadDisable(false)
	}
}

// onDownstreamWritable resumes an upstream response paused on backpressure.
func (r *routerFilter) onDownstreamWritable() {
	if r.respPaused && r.up != nil {
		r.respPaused = false
		r.up.ResumeResponse()
	}
}

// pauseUpstream is flow control asked for by an encoder filter holding the
// response with a watermark status.
func (r *routerFilter) pauseUpstream(disable bool) {
	if r.up == nil {
		return
	}
	if disable {
		r.up.PauseResponse()
	} else if !r.respPaused {
		r.up.ResumeResponse()
	}
}

// cancel abandons the upstream side (stream ended or answered locally).
func (r *routerFilter) cancel() {
	if r.up != nil {
		up := r.up
		r.up = nil
		up.Reset()
	}
	r.retry.backoff.stop()
	if r.cl != nil {
		r.endAttempt()
	}
	if t := r.takeTunnel(); t != nil {
		t.Release(false)
	}
	if r.downPaused && r.s != nil && r.s.enc != nil {
		r.downPaused = false
		r.s.enc.ReadDisable(false)
	}
}

func (r *routerFilter) release() {
	r.cancel()
	r.pending.Reset()
	r.pendingTrailers = nil
	r.retry.reset()
	r.s = nil
}

// timeoutUpstream abandons the attempt in progress because the route
// timeout fired: the host is charged with a timeout (outlier detection,
// rq_timeout).
func (r *routerFilter) timeoutUpstream() {
	if r.up != nil {
		up := r.up
		r.up = nil
		up.ResetOnTimeout()
	}
}

// routeTimeoutFn returns the stream's route-timeout callback, bound once per
// pooled stream so arming the timer does not allocate.
func (s *stream) routeTimeoutFn() func() {
	if s.onRouteTimeout == nil {
		s.onRouteTimeout = s.routeTimeout
	}
	return s.onRouteTimeout
}

// routeTimeout fires when the route's timeout passed before the response
// completed: 504 if nothing was sent yet, else a reset. It also ends streams
// that a filter stopped and never resumed.
func (s *stream) routeTimeout() {
	if s.ended {
		return
	}
	flag, status, body, details := FlagUpstreamRequestTimeout, 504, "upstream request timeout", "upstream_response_timeout"
	if s.durationDeadline {
		// max_stream_duration, as Envoy answers it.
		s.cfg.Stats.DownstreamRqMaxDurationReached.Add(1)
		flag, status, body, details = FlagDurationTimeout, 408, "downstream duration timeout", "max_duration_timeout"
	} else {
		s.cfg.Stats.UpstreamRqTimeout.Add(1)
	}
	s.info.Flags |= flag
	s.router.timeoutUpstream()
	if s.responseStarted || s.respWalk.started {
		if s.router.canEndGRPC() {
			s.endGRPC(grpcDeadlineExceeded, body, flag, details)
			return
		}
		s.resetStream(flag, details)
		return
	}
	s.sendLocalReply(len(s.filters)-1, status, nil, []byte(body), details)
}

// canEndGRPC reports a gRPC response that can still end well formed: the
// upstream's response started, no trailers went yet, and the body seen so
// far ends on a message boundary.
func (r *routerFilter) canEndGRPC() bool {
	s := r.s
	return r.grpcResp && r.framer.atBoundary() && s.respWalk.started && s.respWalk.trailers == nil && !s.respWalk.sinkDone
}

// endGRPC ends a gRPC response that cannot complete with trailers carrying
// code and msg, through the encode walk as if the upstream had sent them.
func (s *stream) endGRPC(code int, msg string, flag ResponseFlags, details string) {
	s.info.Flags |= flag
	if s.info.Details == "" {
		s.info.Details = details
	}
	s.timer.stop()
	grpcTrailers(&s.respTrailers, code, msg)
	s.enter()
	s.onTrailers(&s.respWalk, &s.respTrailers)
	s.leave()
}

// upstreamFailure names why an upstream stream died, for grpc-message.
func upstreamFailure(reason cluster.ResetReason, err error) string {
	if err == nil {
		return reason.String()
	}
	return reason.String() + " (" + err.Error() + ")"
}

// grpcInternal13 marks a local reply as INTERNAL for a gRPC client.
var grpcInternal13 = [][2]string{{"grpc-status", "13"}}

// headersTooLarge answers a response head or trailers over the cluster's
// max_response_headers_kb: 502 (INTERNAL for gRPC, which retrying will not
// fix) before the response started, trailers with INTERNAL for a gRPC
// response at a message boundary, else a reset; flag UPE either way.
func (r *routerFilter) headersTooLarge(err error) {
	s := r.s
	s.info.Flags |= FlagUpstreamProtocolError
	msg := "upstream response headers too large: " + err.Error()
	if s.responseStarted || s.respWalk.started {
		details := "upstream_reset_after_response_started{response_headers_too_large}"
		if r.canEndGRPC() {
			s.endGRPC(grpcInternal, msg, FlagUpstreamProtocolError, details)
			return
		}
		s.resetStream(FlagUpstreamProtocolError, details)
		return
	}
	var hdrs [][2]string
	if r.grpcReq {
		hdrs = grpcInternal13
	}
	s.sendLocalReply(len(s.filters)-1, 502, hdrs, []byte(msg), "upstream_reset_before_response_started{response_headers_too_large}")
}
