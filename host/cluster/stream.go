package cluster

import (
	"golang.org/x/net/http2"

	"github.com/sluiceproxy/sluice/host/headers"
)

type streamState uint8

const (
	stFree       streamState = iota // on the free list
	stNew                           // being assigned inside NewStream
	stPending                       // queued for capacity
	stConnecting                    // waiting for its own new connection
	stActive                        // OnPoolReady delivered; exchange in progress
	stRetrying                      // request sent on a stale connection; re-sending on a fresh one
)

// maxReplay bounds the request bytes kept for the stale-connection retry;
// a larger request is not retried.
const maxReplay = 64 << 10

// Stream is one request/response exchange on an upstream connection. See
// ResponseHandler for when a stream is finished; all methods run on the
// owning worker and do nothing on a finished stream. The zero value is
// ready to serve as StreamStorage.
type Stream struct {
	wp    *workerPool
	h     ResponseHandler
	cc    *upstreamConn
	state streamState
	gen   uint32 // bumped on recycle

	next, prev *Stream // pending queue links

	// HTTP/2 clusters: the connection the stream is on or waiting for, and
	// its per-stream protocol state (nil for HTTP/1.1).
	h2 *h2Conn
	hs *h2Stream

	// Request side.
	headersSent bool
	reqDone     bool
	isHead      bool
	chunked     bool
	upgrade     bool  // the request asks to switch protocols (tunnel.go)
	clLeft      int64 // bytes still owed with Content-Length framing, -1 if none
	closeAfter  bool  // no reuse: request said close, or its framing went wrong

	// Stale-connection retry: the request is recorded (in the connection's
	// replay buffer) while it goes out on a reused connection, if it may
	// be replayed.
	replayable bool
	record     bool
	retried    bool

	// Response side.
	paused   bool
	respDone bool  // the final response event was delivered
	counted  bool  // counted in rq_active / host active
	host     *Host // valid while counted

	// Pending accounting: waitCounted once the stream was counted in
	// upstream_rq_pending_total; connWait while it waits for a connection
	// being established (the queue has its own gauge).
	waitCounted bool
	connWait    bool
}

// fail ends a stream that never became ready.
func (s *Stream) fail(reason FailureReason, err error) {
	h := s.h
	s.wp.recycle(s)
	h.OnPoolFailure(reason, err)
}

// Host returns the endpoint the stream is connected to (zero before
// OnPoolReady).
func (s *Stream) Host() *Host {
	switch {
	case s.cc != nil:
		return s.cc.host
	case s.h2 != nil && s.state == stActive:
		return s.h2.host
	}
	return nil
}

// sending reports whether request bytes may still be written.
func (s *Stream) sending() bool {
	return s.state == stActive && !s.respDone && !s.reqDone && (s.cc != nil || s.hs != nil)
}

// SendHeaders writes the request head. Framing: a request with a body to
// follow keeps a valid Content-Length from h (and is held to it), else is
// sent chunked; a request that ends here is sent without a body (any
// Content-Length in h is dropped). Transfer-Encoding in h is never passed
// on: the framing is the pool's.
func (s *Stream) SendHeaders(h *headers.Map, endStream bool) {
	if !s.sending() || s.headersSent {
		return
	}
	s.headersSent = true
	if s.hs != nil {
		s.hs.sendHeaders(h, endStream)
		return
	}
	cc := s.cc
	s.isHead = methodIs(h.Method(), "HEAD")
	s.replayable = isReplayable(h)
	s.record = s.replayable && cc.reused && !s.retried
	s.closeAfter = s.closeAfter || connectionClose(h)
	if s.upgrade = isUpgradeRequest(h); s.upgrade {
		// Unless a 101 takes it over, the upstream may have started to
		// switch: never reuse the connection.
		s.closeAfter = true
	}
	cc.parser.ExpectResponseTo(s.isHead)

	s.clLeft = -1
	if v, ok := h.Get("content-length"); ok && !endStream {
		// The downstream codec validates Content-Length; one that a filter
		// broke is dropped and the body framed chunked instead.
		if n, valid := parseContentLength(v); valid {
			s.clLeft = n
		}
	}
	s.chunked = !endStream && s.clLeft < 0
	head, err := appendRequestHead(cc.wbuf[:0], h, s.chunked, endStream, cc.hostName())
	cc.wbuf = head
	if err != nil {
		cc.refuseRequest(err)
		return
	}
	s.write(cc.wbuf)
	if endStream {
		s.endRequest()
	}
}

// SendData writes request body bytes; p is copied.
func (s *Stream) SendData(p []byte, endStream bool) {
	if !s.sending() || !s.headersSent {
		return
	}
	if s.hs != nil {
		s.hs.sendData(p, endStream)
		return
	}
	cc := s.cc
	if s.chunked {
		if len(p) > 0 {
			cc.wbuf = appendChunkHeader(cc.wbuf[:0], len(p))
			s.write(cc.wbuf)
			s.write(p)
			s.write(crlf)
		}
		if endStream {
			s.write(lastChunk)
		}
	} else if len(p) > 0 {
		if s.clLeft >= 0 {
			if int64(len(p)) > s.clLeft {
				// More than Content-Length announced: sending it would be
				// read as the next request. Drop the excess, never reuse.
				p = p[:s.clLeft]
				s.closeAfter = true
			}
			s.clLeft -= int64(len(p))
		}
		if len(p) > 0 {
			s.write(p)
		}
	}
	if endStream {
		s.endRequest()
	}
}

// SendTrailers ends a chunked request with trailers. With Content-Length
// framing HTTP/1.1 has nowhere to put them, so they are dropped and the
// request just ends.
func (s *Stream) SendTrailers(t *headers.Map) {
	if !s.sending() || !s.headersSent {
		return
	}
	if s.hs != nil {
		s.hs.sendTrailers(t)
		return
	}
	if s.chunked {
		cc := s.cc
		cc.wbuf = appendLastChunk(cc.wbuf[:0], t)
		s.write(cc.wbuf)
	}
	s.endRequest()
}

func (s *Stream) endRequest() {
	s.reqDone = true
	if s.clLeft > 0 {
		// Fewer bytes than announced: the upstream is still waiting for
		// the rest, so this connection cannot carry another request.
		s.closeAfter = true
	}
}

func (s *Stream) write(p []byte) {
	cc := s.cc
	cc.wrote = true
	if s.record {
		if len(cc.replay)+len(p) > maxReplay {
			s.record = false
			cc.replay = cc.replay[:0]
		} else {
			cc.replay = append(cc.replay, p...)
		}
	}
	cc.conn.Write(p)
}

// AboveWriteWatermark reports whether the upstream connection's output
// buffer is above its high watermark; the caller should stop sending until
// OnUpstreamWritable.
func (s *Stream) AboveWriteWatermark() bool {
	if s.hs != nil {
		return s.state == stActive && s.hs.aboveWatermark()
	}
	return s.state == stActive && s.cc != nil && s.cc.conn.AboveHighWatermark()
}

// PauseResponse stops reading the upstream connection (downstream
// backpressure); no response events arrive until ResumeResponse.
func (s *Stream) PauseResponse() {
	if s.paused || s.respDone || (s.state != stActive && s.state != stRetrying) {
		return
	}
	s.paused = true
	if s.state == stActive && s.hs == nil {
		s.cc.pauseReading()
	}
}

// ResumeResponse undoes PauseResponse; buffered response bytes are
// delivered soon, never from inside this call.
func (s *Stream) ResumeResponse() {
	if !s.paused {
		return
	}
	s.paused = false
	if s.state == stActive && !s.respDone {
		if s.hs != nil {
			s.hs.resume() // HTTP/2: deliver what the stream held
			return
		}
		s.cc.resumeReading()
	}
}

// Reset abandons the stream; no callback follows. A pending request leaves
// the queue; a connecting stream leaves its connection to finish and serve
// someone else; an exchange in progress closes its connection, unless
// nothing was exchanged yet (then the connection goes back to the pool).
// Inside the final response callback the exchange is complete and Reset
// only prevents reuse if the request had not been fully sent.
func (s *Stream) Reset() {
	wp := s.wp
	if s.h2 != nil {
		s.resetH2()
		return
	}
	switch s.state {
	case stNew, stPending:
		if s.state == stPending {
			wp.unlink(s)
		}
		wp.recycle(s)
	case stConnecting, stRetrying:
		wp.c.stats.rqTxReset.Add(1)
		cc := s.cc
		cc.stream = nil
		s.uncount()
		wp.recycle(s)
	case stActive:
		if s.respDone {
			if !s.reqDone {
				s.closeAfter = true
			}
			return
		}
		wp.c.stats.rqTxReset.Add(1)
		cc := s.cc
		clean := !cc.wrote && !cc.respBytes
		cc.detach()
		if clean {
			cc.release()
		} else {
			cc.closeLocal()
		}
	}
}

// count / uncount keep rq_active, the host's counters and
// least_request's shared per-host load.
func (s *Stream) count(host *Host) {
	if !s.counted {
		s.counted = true
		s.host = host
		s.wp.hot.rqActive.Add(1)
		st := &host.slot(s.wp).stats
		st.rqActive.Add(1)
		st.rqTotal.Add(1)
		if s.wp.c.settings.LBPolicy == LeastRequest {
			host.active.Add(1)
		}
	}
}

func (s *Stream) uncount() {
	if s.counted {
		s.counted = false
		s.wp.hot.rqActive.Add(-1)
		s.host.slot(s.wp).stats.rqActive.Add(-1)
		if s.wp.c.settings.LBPolicy == LeastRequest {
			s.host.active.Add(-1)
		}
		s.host = nil
	}
}

// ResetOnTimeout is Reset for a caller whose timeout fired while it waited
// for the upstream (the route's timeout, a per-try timeout): the host is
// charged with a timeout (rq_timeout, and outlier detection's
// local-origin timeout) before the stream is abandoned.
func (s *Stream) ResetOnTimeout() {
	if h := s.Host(); h != nil && !s.respDone {
		s.wp.reportLocal(h, localTimeout)
	}
	s.Reset()
}

// resetH2 is Reset on an HTTP/2 connection: a stream waiting for the
// connection leaves it; an open one is cancelled with RST_STREAM(CANCEL),
// which leaves the connection and its other streams alone.
func (s *Stream) resetH2() {
	wp := s.wp
	cc := s.h2
	switch s.state {
	case stConnecting, stRetrying:
		for i, x := range cc.waiting {
			if x == s {
				cc.waiting = append(cc.waiting[:i], cc.waiting[i+1:]...)
				break
			}
		}
		wp.c.stats.rqTxReset.Add(1)
		s.uncount()
		wp.recycle(s)
		cc.maybeIdle()
	case stActive:
		if s.respDone {
			return // the final event is being delivered; the exchange completes
		}
		st := s.hs
		wp.c.stats.rqTxReset.Add(1)
		if st.id != 0 && cc.state != ccClosed {
			_ = cc.fr.WriteRSTStream(st.id, http2.ErrCodeCancel)
		}
		cc.endStream(st)
		s.uncount()
		wp.recycle(s)
		cc.afterStreamEnd()
	}
}
