package cluster

import (
	"golang.org/x/net/http2"

	"github.com/sluiceproxy/sluice/host/headers"
)

// Request body bytes one HTTP/2 stream holds while windows or the socket
// push back: above the high mark AboveWriteWatermark is true, below the
// low one OnUpstreamWritable follows.
const (
	h2SendHigh = 256 << 10
	h2SendLow  = 64 << 10
)

// h2Stream is the HTTP/2 side of a Stream: its id, windows and the bytes
// held in either direction. They are recycled per worker pool with their
// header maps and buffers; gen tells a posted delivery that its stream
// moved on.
type h2Stream struct {
	gen uint32
	s   *Stream
	cc  *h2Conn
	id  uint32

	// Request side.
	sendWindow   int64
	out          []byte // body bytes not yet framed
	outEnd       bool   // the request ends after out (and trailers)
	trailers     headers.Map
	hasTrailers  bool
	sentEnd      bool // END_STREAM went out
	inBlocked    bool // on cc.blocked
	wantWritable bool // the sender saw AboveWriteWatermark and awaits OnUpstreamWritable

	// Replay record, for a retry when the peer never processed the stream.
	reqHead   headers.Map
	reqBody   []byte
	recordOK  bool
	replaying bool

	// Response side.
	recvWindow int64 // what the peer may still send
	unacked    int64 // bytes delivered (or padding), not yet credited
	gotFinal   bool
	gotAny     bool // any response frame arrived (no retry then)
	ended      bool // END_STREAM received
	// Held while the response is paused, delivered in order on resume.
	heldHead     bool
	heldHeadEnd  bool
	head         headers.Map
	held         []byte
	heldEnd      bool
	heldTrailers bool
	respTrailers headers.Map
	deliverPost  bool
}

// takeH2 gives s to this connection: at once if it is ready, else when
// its SETTINGS arrive.
func (cc *h2Conn) take(s *Stream) {
	cc.busy()
	s.h2 = cc
	if s.state != stRetrying {
		s.state = stConnecting
	}
	if !cc.ready {
		s.beginConnWait()
		cc.waiting = append(cc.waiting, s)
		return
	}
	cc.open(s)
}

// open starts s's exchange: a fresh stream hears OnPoolReady and sends its
// request; a retried one has its recorded request sent again.
func (cc *h2Conn) open(s *Stream) {
	wp := cc.wp
	o := wp.c.settings.HTTP2Options
	st := s.hs
	if st == nil {
		st = wp.getH2Stream()
		st.s = s
		s.hs = st
	}
	st.cc = cc
	st.id = 0 // allocated when the head goes out, so ids rise on the wire
	st.sendWindow = cc.peerInitialWindow
	st.recvWindow = int64(o.InitialStreamWindowSize)
	retry := s.state == stRetrying
	s.endConnWait()
	s.state = stActive
	s.h2 = cc
	if retry {
		s.uncount()
		s.count(cc.host)
		cc.replay(st)
		return
	}
	wp.hot.rqTotal.Add(1)
	s.count(cc.host)
	s.h.OnPoolReady(s, cc.addr)
}

// allocID takes the next stream id; running out of ids makes the
// connection take no new streams (a fresh one will be opened).
func (cc *h2Conn) allocID(st *h2Stream) {
	st.id = cc.nextID
	cc.nextID += 2
	if cc.nextID > maxStreamID {
		cc.goaway = true
	}
	cc.streams[st.id] = st
}

// sendHeaders encodes and writes the request head.
func (st *h2Stream) sendHeaders(h *headers.Map, endStream bool) {
	cc := st.cc
	s := st.s
	cc.hbuf.Reset()
	if err := encodeRequestHead(cc.henc, &cc.values, h, cc.authority); err != nil {
		// Nothing was written: the connection is unharmed.
		cc.wp.c.stats.rqTxReset.Add(1)
		st.fail(LocalReset, err)
		cc.afterStreamEnd()
		return
	}
	cc.allocID(st)
	if !st.replaying {
		st.recordOK = true
		st.reqHead.CopyFrom(h)
	}
	cc.writeBlock(st.id, cc.hbuf.Bytes(), endStream)
	if endStream {
		st.sentEnd = true
		s.reqDone = true
	}
}

// writeBlock writes a header block as HEADERS + CONTINUATION frames.
func (cc *h2Conn) writeBlock(id uint32, block []byte, endStream bool) {
	max := int(cc.peerMaxFrame)
	first := true
	for first || len(block) > 0 {
		n := min(len(block), max)
		frag := block[:n]
		block = block[n:]
		end := len(block) == 0
		if first {
			_ = cc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: endStream, EndHeaders: end})
			first = false
		} else {
			_ = cc.fr.WriteContinuation(id, end, frag)
		}
	}
}

// sendData queues body bytes (copied) and sends what the windows allow.
func (st *h2Stream) sendData(p []byte, endStream bool) {
	if st.outEnd {
		return
	}
	st.outEnd = endStream
	st.record(p)
	cc := st.cc
	if len(st.out) == 0 && st.id != 0 && cc.state != ccClosed {
		// Nothing queued: frame straight from p (Conn.Write copies), so
		// only what the windows hold back is copied into out.
		p = cc.frameData(st, p)
	}
	st.out = append(st.out, p...)
	cc.flushStream(st)
}

func (st *h2Stream) sendTrailers(t *headers.Map) {
	if st.outEnd {
		return
	}
	st.outEnd = true
	if t != nil && t.Len() > 0 {
		st.hasTrailers = true
		st.trailers.CopyFrom(t)
	}
	st.cc.flushStream(st)
}

// record keeps the request body for a possible retry, up to maxReplay.
func (st *h2Stream) record(p []byte) {
	if !st.recordOK || st.replaying {
		return
	}
	if len(st.reqBody)+len(p) > maxReplay {
		st.recordOK = false
		st.reqBody = nil
		return
	}
	st.reqBody = append(st.reqBody, p...)
}

// flushStream frames as much of st's held body as the stream window, the
// connection window, the peer's frame size and the socket's watermark
// allow; the rest waits (cc.blocked) for WINDOW_UPDATE or OnWritable.
func (cc *h2Conn) flushStream(st *h2Stream) {
	if cc.state == ccClosed || st.sentEnd || st.id == 0 {
		return
	}
	if len(st.out) > 0 {
		st.out = cc.frameData(st, st.out)
		if len(st.out) > 0 {
			cc.block(st)
			return
		}
		st.out = st.out[:0:0] // drop the drained buffer's memory
	}
	if st.outEnd && !st.sentEnd {
		if st.hasTrailers {
			cc.hbuf.Reset()
			encodeTrailers(cc.henc, &cc.values, &st.trailers)
			cc.writeBlock(st.id, cc.hbuf.Bytes(), true)
		} else {
			_ = cc.fr.WriteData(st.id, true, nil)
		}
		st.markSent()
	}
}

// frameData writes DATA frames from p as far as the stream window, the
// connection window, the peer's frame size and the socket's watermark
// allow, and returns what is left. The frame carrying the last byte of a
// request without trailers carries END_STREAM.
func (cc *h2Conn) frameData(st *h2Stream, p []byte) []byte {
	for len(p) > 0 {
		n := min(int64(len(p)), st.sendWindow, cc.sendWindow, int64(cc.peerMaxFrame))
		if n <= 0 || cc.conn.AboveHighWatermark() {
			return p
		}
		end := st.outEnd && !st.hasTrailers && int(n) == len(p)
		_ = cc.fr.WriteData(st.id, end, p[:n])
		st.sendWindow -= n
		cc.sendWindow -= n
		p = p[n:]
		if end {
			st.markSent()
		}
	}
	return p
}

func (st *h2Stream) markSent() {
	st.sentEnd = true
	st.s.reqDone = true
}

func (cc *h2Conn) block(st *h2Stream) {
	if !st.inBlocked {
		st.inBlocked = true
		cc.blocked = append(cc.blocked, st)
	}
}

// flushBlocked retries every held body after windows or the socket opened.
func (cc *h2Conn) flushBlocked() {
	list := cc.blocked
	cc.blocked = nil
	for i, st := range list {
		list[i] = nil
		st.inBlocked = false
		if cc.streams[st.id] == st {
			cc.flushStream(st)
			st.notifyWritable()
		}
		if cc.state == ccClosed {
			return
		}
	}
}

// notifyAll tells every stream that waits for OnUpstreamWritable and has
// drained (the socket's output fell below its low watermark).
func (cc *h2Conn) notifyAll() {
	for _, st := range cc.streams {
		if cc.state == ccClosed {
			return
		}
		if st.wantWritable {
			st.notifyWritable()
		}
	}
}

// aboveWatermark: the sender should pause (held body or socket output too
// large); OnUpstreamWritable follows once both drained.
func (st *h2Stream) aboveWatermark() bool {
	above := len(st.out) > h2SendHigh || st.cc.conn.AboveHighWatermark()
	if above {
		st.wantWritable = true
	}
	return above
}

func (st *h2Stream) notifyWritable() {
	s := st.s
	if !st.wantWritable || len(st.out) > h2SendLow || st.cc.conn.AboveHighWatermark() {
		return
	}
	st.wantWritable = false
	if s.hs == st && s.state == stActive && !s.respDone {
		s.h.OnUpstreamWritable()
	}
}

// receiveHeaders handles a complete response header block.
func (st *h2Stream) receiveHeaders(h *headers.Map, end bool) {
	st.gotAny = true
	cc := st.cc
	if st.gotFinal {
		// Trailers: only at the end, and without pseudo-headers.
		if !end || h.Has(":status") {
			cc.resetStream(st, http2.ErrCodeProtocol, ProtocolError, ErrH2BadResponse)
			return
		}
		st.ended = true
		st.respTrailers.CopyFrom(h)
		st.heldTrailers = true
		st.deliver()
		return
	}
	status := h.Status()
	switch {
	case status == 0 || status == 101:
		err := ErrH2BadResponse
		if status == 101 {
			err = ErrUnexpected101
		}
		cc.resetStream(st, http2.ErrCodeProtocol, ProtocolError, err)
		return
	case status < 200:
		if end {
			cc.resetStream(st, http2.ErrCodeProtocol, ProtocolError, ErrH2BadResponse)
			return
		}
		if ih, ok := st.s.h.(InformationalHandler); ok && !st.s.paused {
			ih.OnResponse1xx(h)
		}
		return
	}
	st.gotFinal = true
	st.ended = end
	cc.wp.reportStatus(cc.host, status)
	st.head.CopyFrom(h)
	st.heldHead, st.heldHeadEnd = true, end
	st.deliver()
}

// receiveData takes body bytes: delivered at once, or held (copied) while
// the response is paused. The stream window bounds what is held.
func (st *h2Stream) receiveData(p []byte, end bool) {
	if len(p) > 0 || end {
		st.gotAny = true
	}
	if end {
		st.ended = true
	}
	if !st.s.paused && !st.heldHead && len(st.held) == 0 {
		st.deliverData(p, end)
		return
	}
	st.held = append(st.held, p...)
	st.heldEnd = st.heldEnd || end
	st.deliver()
}

// deliverData hands body bytes to the handler and credits them back to the
// peer's stream window (half a window at a time) while the stream goes on.
func (st *h2Stream) deliverData(p []byte, end bool) {
	s := st.s
	cc := st.cc
	gen := s.gen
	if end {
		s.respDone = true
	}
	if len(p) > 0 || end {
		s.h.OnResponseData(p, end)
	}
	if s.gen != gen || s.hs != st {
		return // reset from inside the callback
	}
	if end {
		cc.finish(st)
		return
	}
	st.unacked += int64(len(p))
	st.credit()
}

func (st *h2Stream) credit() {
	w := int64(st.cc.wp.c.settings.HTTP2Options.InitialStreamWindowSize)
	if st.unacked >= w/2 && !st.ended && st.cc.state != ccClosed {
		_ = st.cc.fr.WriteWindowUpdate(st.id, uint32(st.unacked))
		st.recvWindow += st.unacked
		st.unacked = 0
	}
}

// deliver passes held response events on, in order, unless paused.
func (st *h2Stream) deliver() {
	s := st.s
	gen := s.gen
	for !s.paused && s.gen == gen && s.hs == st {
		switch {
		case st.heldHead:
			st.heldHead = false
			if st.heldHeadEnd {
				s.respDone = true
			}
			s.h.OnResponseHeaders(&st.head, st.heldHeadEnd)
			if st.heldHeadEnd && s.gen == gen && s.hs == st {
				st.cc.finish(st)
				return
			}
		case len(st.held) > 0 || st.heldEnd:
			p, end := st.held, st.heldEnd
			st.held, st.heldEnd = nil, false
			st.deliverData(p, end)
			if end {
				return
			}
		case st.heldTrailers:
			st.heldTrailers = false
			s.respDone = true
			s.h.OnResponseTrailers(&st.respTrailers)
			if s.gen == gen && s.hs == st {
				st.cc.finish(st)
			}
			return
		default:
			return
		}
	}
}

// resume delivers what was held during a pause, from a later loop turn.
func (st *h2Stream) resume() {
	if st.deliverPost {
		return
	}
	st.deliverPost = true
	s := st.s
	gen, sgen := s.gen, st.gen
	st.cc.wp.w.Post(func() {
		if st.gen != sgen {
			return // recycled meanwhile
		}
		st.deliverPost = false
		if s.gen == gen && s.hs == st && st.cc.state != ccClosed {
			st.deliver()
		}
	})
}

// endStream forgets st on its connection (no frames).
func (cc *h2Conn) endStream(st *h2Stream) {
	if st.id != 0 && cc.streams[st.id] == st {
		delete(cc.streams, st.id)
	}
}

// finish completes an exchange whose final response event was delivered.
// A request still being sent is cancelled: the response made it moot.
func (cc *h2Conn) finish(st *h2Stream) {
	if !st.sentEnd && cc.state != ccClosed {
		_ = cc.fr.WriteRSTStream(st.id, http2.ErrCodeCancel)
	}
	cc.endStream(st)
	cc.wp.hot.rqCompleted.Add(1)
	s := st.s
	s.uncount()
	cc.wp.recycle(s)
	cc.afterStreamEnd()
}

// afterStreamEnd gives the freed stream capacity to the worker's queue,
// or idles or closes the connection.
func (cc *h2Conn) afterStreamEnd() {
	if cc.state == ccClosed {
		return
	}
	wp := cc.wp
	if !cc.yield && wp.shouldYieldSlot() {
		// Fair share (see shouldYieldSlot): drain this connection for a
		// worker whose queue waits for a slot instead of feeding it more.
		cc.yield = true
	}
	cc.fill()
	cc.maybeIdle()
}

// fill gives the connection's free room to the worker's queue.
func (cc *h2Conn) fill() {
	wp := cc.wp
	for wp.pendingHead != nil && cc.hasRoom() {
		cc.take(wp.dequeue())
	}
}

// fail ends the stream with OnReset; the caller already forgot it.
func (st *h2Stream) fail(reason ResetReason, err error) {
	s := st.s
	h := s.h
	if reason != LocalReset {
		st.cc.wp.reportLocal(st.cc.host, localReset)
	}
	s.uncount()
	st.cc.wp.recycle(s)
	h.OnReset(reason, err)
}

// resetStream sends RST_STREAM(code) and resets the stream with reason.
func (cc *h2Conn) resetStream(st *h2Stream, code http2.ErrCode, reason ResetReason, err error) {
	if reason == ProtocolError {
		cc.wp.c.stats.cxProtocolError.Add(1)
	}
	_ = cc.fr.WriteRSTStream(st.id, code)
	cc.endStream(st)
	cc.wp.c.stats.rqRxReset.Add(1)
	st.fail(reason, err)
	cc.afterStreamEnd()
}

// onPeerReset: RST_STREAM from the upstream. REFUSED_STREAM means the
// request was not processed, so it is retried like a GOAWAY'd stream.
func (cc *h2Conn) onPeerReset(st *h2Stream, code http2.ErrCode) {
	if code == http2.ErrCodeRefusedStream {
		cc.unprocessed(st, &StreamResetError{Code: code})
		cc.afterStreamEnd()
		return
	}
	if st.ended && code == http2.ErrCodeNo && !st.s.respDone {
		// The whole response arrived but part of it is held for a paused
		// handler: the reset only stops the upload (RFC 9113 8.1). Nothing
		// more is sent; the stream stays on the connection (and in its
		// load) until the held response is delivered on resume.
		st.out = nil
		st.markSent()
		return
	}
	cc.endStream(st)
	if st.s.respDone {
		// The response was complete; the reset only stops our upload
		// (RFC 9113 8.1), so the exchange finishes normally.
		cc.finish(st)
		return
	}
	cc.wp.c.stats.rqRxReset.Add(1)
	st.fail(RemoteReset, &StreamResetError{Code: code})
	cc.afterStreamEnd()
}

// unprocessed handles a stream the peer says it never processed: it is
// sent again on another connection, once, if the whole request was
// recorded and sent and no response arrived; otherwise it is reset.
func (cc *h2Conn) unprocessed(st *h2Stream, err error) {
	cc.endStream(st)
	s := st.s
	if s.retried || !st.recordOK || !st.sentEnd || st.gotAny {
		cc.wp.c.stats.rqRxReset.Add(1)
		st.fail(ConnectionTermination, err)
		return
	}
	cc.wp.c.stats.rqRetryStale.Add(1)
	s.retried = true
	s.state = stRetrying
	s.h2 = nil
	st.resetForRetry()
	cc.wp.reassignH2(s)
}

func (st *h2Stream) resetForRetry() {
	st.cc, st.id = nil, 0
	st.out, st.outEnd, st.sentEnd, st.inBlocked, st.wantWritable = nil, false, false, false, false
	st.replaying = true
	st.unacked, st.gotFinal, st.gotAny, st.ended = 0, false, false, false
}

// replay sends a retried stream's recorded request on this connection.
func (cc *h2Conn) replay(st *h2Stream) {
	end := len(st.reqBody) == 0 && !st.hasTrailers
	st.sendHeaders(&st.reqHead, end)
	if end || cc.state == ccClosed || st.id == 0 {
		return
	}
	st.out = append(st.out[:0], st.reqBody...)
	st.outEnd = true
	cc.flushStream(st)
}

// resetRetry ends a retried stream that found no new connection.
func (s *Stream) resetRetry(err error) {
	h := s.h
	s.uncount()
	s.wp.recycle(s)
	h.OnReset(ConnectionTermination, err)
}

// maxFreeH2Streams bounds the recycled h2Streams a pool keeps.
const maxFreeH2Streams = 256

func (wp *workerPool) getH2Stream() *h2Stream {
	if n := len(wp.h2free); n > 0 {
		st := wp.h2free[n-1]
		wp.h2free[n-1] = nil
		wp.h2free = wp.h2free[:n-1]
		return st
	}
	return &h2Stream{}
}

// putH2Stream recycles st when its Stream is recycled, keeping the header
// maps' memory and the replay buffer (at most maxReplay).
func (wp *workerPool) putH2Stream(st *h2Stream) {
	old := *st
	*st = h2Stream{gen: old.gen + 1, trailers: old.trailers, reqHead: old.reqHead, head: old.head,
		respTrailers: old.respTrailers, reqBody: old.reqBody[:0]}
	st.trailers.Reset()
	st.reqHead.Reset()
	st.head.Reset()
	st.respTrailers.Reset()
	if len(wp.h2free) < maxFreeH2Streams {
		wp.h2free = append(wp.h2free, st)
	}
}
