package http2

import (
	"golang.org/x/net/http2"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
)

// stream is one request/response exchange. It is the codec.ResponseEncoder
// the connection manager answers through. An encoder call on a finished
// stream finds closed set and does nothing. The object is reused for a
// later stream only once the manager released it (codec.Releaser) and the
// stream is over on the wire, so no one can still call it.
type stream struct {
	c   *ServerCodec
	id  uint32
	dec codec.RequestDecoder

	released     bool  // the manager makes no further call (codec.Releaser)
	retired      bool  // on c.retired, waiting to be reused
	closed       bool  // removed from the codec; no more callbacks either way
	decoderDone  bool  // the manager encoded the end of the response: it is finished with dec
	discarded    int64 // request bytes dropped after an early response
	remoteClosed bool  // END_STREAM received
	localEnded   bool  // the encoder ended the response (END_STREAM may wait for window)
	endWritten   bool  // END_STREAM is on the wire
	headersSent  bool

	contentLength int64 // declared request length, -1 when absent
	received      int64 // request body bytes seen

	// Request side flow control.
	recvWindow    int64 // bytes the peer may still send on this stream
	recvUnacked   int64 // delivered, not yet credited with WINDOW_UPDATE
	readDisabled  bool
	inbound       []byte       // body held while read-disabled
	inboundEnd    bool         // END_STREAM arrived behind inbound
	inTrailers    *headers.Map // trailers arrived behind inbound
	deliverQueued bool         // a Post to deliver inbound is pending

	// Response side flow control.
	sendWindow   int64
	out          []byte // DATA the peer's windows have not allowed yet: out[outOff:]
	outOff       int
	outTrailers  *headers.Map // trailers waiting behind out
	wantWritable bool         // AboveWriteWatermark said true; call onWritable when it clears
	onWritable   func()

	// Delivery accounting, for the manager's access log: body bytes
	// written to the connection, and who to tell once the end of a
	// response the manager finished is on the wire (or never will be).
	bodyWritten int64
	onFlushed   func(complete bool)
}

func (c *ServerCodec) openStream(id uint32, h *headers.Map, contentLength int64, endStream bool) {
	s := c.newStream()
	*s = stream{
		c:             c,
		id:            id,
		contentLength: contentLength,
		remoteClosed:  endStream,
		recvWindow:    int64(c.opts.InitialWindowSize),
		sendWindow:    c.peerInitialWindow,
	}
	c.streams = append(c.streams, s)
	c.stats.StreamsOpened++
	s.dec = c.cb.NewStream(s)
	s.dec.DecodeHeaders(h, endStream)
}

// newStream returns a retired stream to reuse, or a new one. It runs only
// when a HEADERS frame (or an h2c upgrade) opens a stream, never inside a
// stream's own callbacks, so a retired stream is off every call stack.
func (c *ServerCodec) newStream() *stream {
	if n := len(c.retired); n > 0 {
		s := c.retired[n-1]
		c.retired[n-1] = nil
		c.retired = c.retired[:n-1]
		return s
	}
	return new(stream)
}

// maxRetired bounds the streams a connection keeps for reuse.
const maxRetired = 32

// retireIfDone queues the stream for reuse once nothing can reach it: the
// manager released it, it left the codec, and no delivery is posted.
func (s *stream) retireIfDone() {
	if !s.released || !s.closed || s.deliverQueued || s.retired {
		return
	}
	s.retired = true
	c := s.c
	if len(c.retired) < maxRetired {
		c.retired = append(c.retired, s)
	}
}

// Release implements codec.Releaser: the manager is done with the encoder.
func (s *stream) Release() {
	if s.released {
		return
	}
	s.released = true
	s.decoderDone = true // nothing more is delivered to a manager that left
	s.onWritable, s.onFlushed = nil, nil
	s.retireIfDone()
}

// reset marks the stream gone and tells its decoder, once, unless the
// manager already finished with it (the decoder may be recycled by then).
func (s *stream) reset(reason codec.ResetReason) {
	if s.closed {
		return
	}
	s.closed = true
	s.c.dropQueued(s)
	s.dropInbound()
	s.retireIfDone()
	if !s.decoderDone {
		s.decoderDone = true
		s.dec.OnReset(reason)
		return
	}
	s.flushed(false)
}

// dropInbound forgets request body held while paused.
func (s *stream) dropInbound() {
	s.c.releaseInbound(len(s.inbound))
	s.inbound = nil
}

// flushed tells the manager, once, whether the response it finished
// reached the connection whole.
func (s *stream) flushed(complete bool) {
	if fn := s.onFlushed; fn != nil {
		s.onFlushed = nil
		fn(complete)
	}
}

// markEndWritten records that END_STREAM (on DATA or trailers) is queued
// on the connection.
func (s *stream) markEndWritten() {
	s.endWritten = true
	s.flushed(true)
}

// finish removes a stream whose two directions are complete.
func (s *stream) finish() {
	if s.closed {
		return
	}
	s.closed = true
	s.c.removeStream(s)
	s.retireIfDone()
}

// discardLimit is how much request body an early-answered stream may still
// send before RST_STREAM(NO_ERROR) asks the client to stop.
const discardLimit = 64 << 10

// discard drops request bytes that arrive after the manager finished the
// response. The stream stays open so that its frames are still checked
// (content-length, flow control) and answered as the RFC says; small
// remainders are simply read. A large upload is cut short with
// RST_STREAM(NO_ERROR), but only once the whole response, END_STREAM
// included, is on the wire (RFC 9113 8.1): a reset before that would
// destroy the response the client has not received yet. Until then the
// dropped bytes are credited back, so a client that uploads everything
// before it reads never stalls; the manager's flush timeout bounds how long.
func (s *stream) discard(n int) {
	s.discarded += int64(n)
	if s.stopUpload() {
		return
	}
	s.credit(n)
	s.flushCredit()
}

// stopUpload sends RST_STREAM(NO_ERROR) to a client still uploading past
// discardLimit once its response is complete on the wire, and reports
// whether it did.
func (s *stream) stopUpload() bool {
	if s.closed || !s.endWritten || s.remoteClosed || s.discarded <= discardLimit {
		return false
	}
	c := s.c
	s.closed = true
	c.removeStream(s)
	s.retireIfDone()
	c.rememberReset(s.id)
	_ = c.fr.WriteRSTStream(s.id, http2.ErrCodeNo)
	return true
}

// ---- request delivery ----

func (s *stream) deliverData(data []byte, end bool) {
	if len(data) == 0 && !end {
		return // padding only, or empty: nothing to tell the stream
	}
	if s.decoderDone {
		s.discard(len(data))
		s.maybeFinish()
		return
	}
	if s.readDisabled || len(s.inbound) > 0 || s.deliverQueued {
		s.inbound = append(s.inbound, data...)
		s.c.heldInbound += len(data)
		s.inboundEnd = s.inboundEnd || end
		return
	}
	s.dec.DecodeData(data, end)
	s.credit(len(data))
	s.maybeFinish()
}

func (s *stream) deliverTrailers(t *headers.Map) {
	if s.decoderDone {
		s.maybeFinish()
		return
	}
	if s.readDisabled || len(s.inbound) > 0 || s.deliverQueued {
		s.inTrailers = t
		return
	}
	s.dec.DecodeTrailers(t)
	s.maybeFinish()
}

// credit returns delivered bytes to the stream window, batching
// WINDOW_UPDATEs until half the window is owed.
func (s *stream) credit(n int) {
	if s.closed || s.remoteClosed {
		return
	}
	s.recvUnacked += int64(n)
	if s.recvUnacked >= int64(s.c.opts.InitialWindowSize)/2 {
		s.flushCredit()
	}
}

func (s *stream) flushCredit() {
	if s.recvUnacked <= 0 || s.closed || s.remoteClosed || s.c.fatalErr != nil {
		return
	}
	_ = s.c.fr.WriteWindowUpdate(s.id, uint32(s.recvUnacked))
	s.recvWindow += s.recvUnacked
	s.recvUnacked = 0
}

// drainInbound delivers body bytes (and the end or trailers behind them)
// held while the stream was read-disabled.
func (s *stream) drainInbound() {
	s.deliverQueued = false
	s.retireIfDone()
	if s.closed || s.readDisabled || s.decoderDone {
		return
	}
	if len(s.inbound) > 0 || s.inboundEnd {
		data, end := s.inbound, s.inboundEnd && s.inTrailers == nil
		s.c.releaseInbound(len(data))
		s.inbound, s.inboundEnd = nil, false
		s.dec.DecodeData(data, end)
		if s.closed {
			return
		}
		s.credit(len(data))
		s.flushCredit()
	}
	if t := s.inTrailers; t != nil && !s.closed && !s.decoderDone {
		s.inTrailers = nil
		s.dec.DecodeTrailers(t)
	}
	s.maybeFinish()
}

// maybeFinish ends the stream once END_STREAM went both ways, or stops an
// upload that was only waiting for the response to go out.
func (s *stream) maybeFinish() {
	if !s.closed && s.endWritten && s.remoteClosed {
		s.finish()
		return
	}
	s.stopUpload()
}

// managerDone runs when the manager encodes the end of the response: like
// Envoy's, it considers the stream complete then (and may recycle its
// decoder), even if DATA still waits for window here. From now on nothing is
// delivered to the decoder, no OnReset nor writable callback is made, and
// request bytes still arriving are checked and dropped.
func (s *stream) managerDone() {
	s.localEnded = true
	s.decoderDone = true
	s.onWritable = nil
	held := len(s.inbound)
	s.dropInbound()
	s.inboundEnd, s.inTrailers = false, nil
	s.readDisabled = false
	if held > 0 {
		// Body held while paused is dropped now: give its window back, or
		// a client still uploading could stall on a window never reopened.
		s.credit(held)
		s.flushCredit()
	}
}

// ---- codec.ResponseEncoder ----

// Encode100Continue sends an interim 100 response.
func (s *stream) Encode100Continue() {
	if s.closed || s.headersSent {
		return
	}
	var h headers.Map
	h.SetStatus(100)
	s.c.writeHeaderBlock(s.id, &h, false)
}

// EncodeHeaders sends the response head. An informational (1xx) head that
// does not end the stream may precede the final one.
func (s *stream) EncodeHeaders(h *headers.Map, endStream bool) {
	if s.closed || s.headersSent || s.localEnded {
		return
	}
	if st := h.Status(); st >= 100 && st < 200 && !endStream {
		s.c.writeHeaderBlock(s.id, h, false)
		return
	}
	s.headersSent = true
	s.c.writeHeaderBlock(s.id, h, endStream)
	if endStream {
		s.managerDone()
		s.markEndWritten()
		s.maybeFinish()
	}
}

// EncodeData sends body bytes, as far as the windows allow, and queues the
// rest (copied).
func (s *stream) EncodeData(p []byte, endStream bool) {
	if s.closed || s.localEnded {
		return
	}
	if !s.headersSent {
		// The manager always sends headers first; a body without them would
		// be a protocol violation on the wire, so synthesise nothing and
		// abandon the stream instead.
		s.Reset()
		return
	}
	if endStream {
		s.managerDone()
	}
	wasAbove := s.queued() >= s.c.opts.StreamBufferLimit
	if s.queued() == 0 {
		// Nothing waits ahead of p: send what the windows allow straight
		// from the caller's slice and copy only the rest.
		p = s.c.writeDataDirect(s, p)
	}
	s.c.queue(s, p)
	s.c.flushStream(s)
	if wasAbove && !s.closed && s.queued() > 4*s.c.opts.StreamBufferLimit {
		// The producer kept writing past AboveWriteWatermark; do not grow
		// further. (One large write from below the limit is accepted: its
		// bytes were already the caller's.)
		s.c.stats.OutputOverflowResets++
		s.Reset()
	}
}

// queued is how many response bytes wait for flow-control window.
func (s *stream) queued() int { return len(s.out) - s.outOff }

// EncodeTrailers sends trailers (ending the stream) once queued DATA is out.
func (s *stream) EncodeTrailers(t *headers.Map) {
	if s.closed || s.localEnded || !s.headersSent {
		return
	}
	s.managerDone()
	s.outTrailers = t
	s.c.flushStream(s)
}

// Reset abandons the stream with RST_STREAM(INTERNAL_ERROR). The manager
// initiated it, so OnReset is not called back. After the manager encoded
// the end of the response, Reset still abandons a response whose end is
// not on the wire yet (a flush that timed out), without calling back.
func (s *stream) Reset() {
	if s.closed || s.decoderDone && s.endWritten {
		return
	}
	s.onFlushed = nil
	s.closed = true
	s.c.dropQueued(s)
	s.dropInbound()
	c := s.c
	c.removeStream(s)
	s.retireIfDone()
	if c.fatalErr == nil {
		c.rememberReset(s.id)
		_ = c.fr.WriteRSTStream(s.id, http2.ErrCodeInternal)
	}
}

// AboveWriteWatermark reports backpressure: this stream's queue is past
// StreamBufferLimit or the connection's output is past its high watermark.
func (s *stream) AboveWriteWatermark() bool {
	if s.closed {
		return false
	}
	c := s.c
	above := s.queued() >= c.opts.StreamBufferLimit || c.t.AboveHighWatermark() ||
		// Together the streams may queue ConnectionBufferLimit: past it a
		// stream that is itself waiting for window (or finds the
		// connection's window shut) pauses too.
		c.queuedTotal >= c.opts.ConnectionBufferLimit && (s.queued() > 0 || c.connSendWindow <= 0)
	if above {
		s.wantWritable = true
	}
	return above
}

// ReadDisable pauses (true) or resumes (false) delivery of the request body;
// while paused the stream's WINDOW_UPDATEs are withheld.
func (s *stream) ReadDisable(disable bool) {
	if s.closed || s.decoderDone || s.readDisabled == disable {
		return
	}
	s.readDisabled = disable
	if disable || s.deliverQueued {
		return
	}
	if len(s.inbound) == 0 && !s.inboundEnd && s.inTrailers == nil {
		s.flushCredit()
		return
	}
	// Deliver on the loop, not inside the caller's stack (which may be one
	// of this stream's own callbacks).
	s.deliverQueued = true
	s.c.t.Post(s.drainInbound)
}

// SetWritableCallback registers fn for the end of backpressure.
func (s *stream) SetWritableCallback(fn func()) { s.onWritable = fn }

// BodyBytesWritten implements codec.FlushNotifier: response body bytes
// written to the connection, not those still waiting for window.
func (s *stream) BodyBytesWritten() int64 { return s.bodyWritten }

// NotifyFlushed implements codec.FlushNotifier.
func (s *stream) NotifyFlushed(fn func(complete bool)) (done, complete bool) {
	if s.endWritten {
		return true, true
	}
	if s.closed {
		return true, false
	}
	s.onFlushed = fn
	return false, false
}

var (
	_ codec.ResponseEncoder = (*stream)(nil)
	_ codec.FlushNotifier   = (*stream)(nil)
)
