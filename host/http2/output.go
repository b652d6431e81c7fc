package http2

import (
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluiceproxy/sluice/host/headers"
)

// creditConn returns n bytes to the connection receive window, batching the
// WINDOW_UPDATE until half the window is owed. While paused streams hold a
// connection window's worth of request body, the credit is withheld: with
// many streams their windows add up, and this keeps what the codec holds
// per connection near two connection windows however many streams there
// are (siblings wait only in that state).
func (c *ServerCodec) creditConn(n int64) {
	if n < 0 || c.fatalErr != nil {
		return
	}
	c.connRecvUnacked += n
	if c.heldInbound >= int(c.opts.ConnectionWindowSize) {
		return
	}
	if c.connRecvUnacked >= int64(c.opts.ConnectionWindowSize)/2 {
		_ = c.fr.WriteWindowUpdate(0, uint32(c.connRecvUnacked))
		c.connRecvWindow += c.connRecvUnacked
		c.connRecvUnacked = 0
	}
}

// flushStream writes as much of s's queued DATA as both windows and the
// peer's frame size allow, then its trailers or END_STREAM when due. While
// the connection's output is over its high watermark DATA stays queued here,
// where it is counted against StreamBufferLimit, until OnWritable.
func (c *ServerCodec) flushStream(s *stream) {
	if s.closed || c.fatalErr != nil {
		return
	}
	for s.queued() > 0 && !c.t.AboveHighWatermark() {
		n := int64(s.queued())
		n = min(n, s.sendWindow, c.connSendWindow, int64(c.peerMaxFrameSize))
		if n <= 0 {
			break
		}
		chunk := s.out[s.outOff : s.outOff+int(n)]
		s.outOff += int(n)
		end := s.localEnded && s.queued() == 0 && s.outTrailers == nil
		c.writeData(s, end, chunk)
		c.queuedTotal -= int(n)
		if end {
			s.markEndWritten()
		}
	}
	if s.queued() == 0 {
		s.out, s.outOff = s.out[:0], 0
	} else if s.outOff > len(s.out)/2 {
		// Reclaim the written front so a long stream does not creep.
		k := copy(s.out, s.out[s.outOff:])
		s.out, s.outOff = s.out[:k], 0
	}
	if s.queued() == 0 && s.localEnded && !s.endWritten {
		if t := s.outTrailers; t != nil {
			s.outTrailers = nil
			c.writeHeaderBlock(s.id, t, true)
		} else {
			_ = c.fr.WriteData(s.id, true, nil)
		}
		s.markEndWritten()
	}
	if s.endWritten {
		s.out, s.outOff = nil, 0
		s.maybeFinish()
	}
}

// writeDataDirect sends the prefix of p the windows allow, without copying,
// and returns the rest. END_STREAM is left to flushStream.
func (c *ServerCodec) writeDataDirect(s *stream, p []byte) []byte {
	for len(p) > 0 && c.fatalErr == nil && !c.t.AboveHighWatermark() {
		n := min(int64(len(p)), s.sendWindow, c.connSendWindow, int64(c.peerMaxFrameSize))
		if n <= 0 {
			break
		}
		end := s.localEnded && int(n) == len(p) && s.outTrailers == nil
		c.writeData(s, end, p[:n])
		p = p[n:]
		if end {
			s.markEndWritten()
		}
	}
	return p
}

// writeData writes one DATA frame of s and charges both windows.
func (c *ServerCodec) writeData(s *stream, end bool, p []byte) {
	_ = c.fr.WriteData(s.id, end, p)
	n := int64(len(p))
	s.sendWindow -= n
	c.connSendWindow -= n
	s.bodyWritten += n
}

// queue copies p behind s's waiting DATA.
func (c *ServerCodec) queue(s *stream, p []byte) {
	s.out = append(s.out, p...)
	c.queuedTotal += len(p)
}

// releaseInbound accounts for n held request bytes delivered or dropped,
// and sends the connection credit that was waiting for them.
func (c *ServerCodec) releaseInbound(n int) {
	if n == 0 {
		return
	}
	c.heldInbound -= n
	c.creditConn(0)
}

// dropQueued forgets s's waiting DATA (the stream is gone).
func (c *ServerCodec) dropQueued(s *stream) {
	c.queuedTotal -= s.queued()
	s.out, s.outOff = nil, 0
}

// flushQueued offers the windows to every stream, starting at a rotating
// position so one large response cannot always go first.
func (c *ServerCodec) flushQueued() {
	n := len(c.streams)
	if n == 0 {
		return
	}
	start := c.rrNext % n
	c.rrNext++
	snapshot := c.snapshotStreams()
	for i := 0; i < n && c.connSendWindow > 0; i++ {
		c.flushStream(snapshot[(start+i)%n])
	}
}

// snapshotStreams copies the open streams into a reused slice: callbacks
// during a walk may add or remove streams.
func (c *ServerCodec) snapshotStreams() []*stream {
	c.scratch = append(c.scratch[:0], c.streams...)
	return c.scratch
}

// notifyWritable calls the writable callback of every stream that reported
// backpressure and no longer has it.
func (c *ServerCodec) notifyWritable() {
	if c.t.AboveHighWatermark() || c.queuedTotal > c.opts.ConnectionBufferLimit/2 {
		return
	}
	low := c.opts.StreamBufferLimit / 2
	for _, s := range c.snapshotStreams() {
		if s.closed || !s.wantWritable || s.queued() > low {
			continue
		}
		s.wantWritable = false
		if s.onWritable != nil {
			s.onWritable()
		}
	}
}

// connectionSpecific lists fields HTTP/2 forbids (RFC 9113 8.2.2); a
// response coming from an HTTP/1 upstream may carry them.
func connectionSpecific(name []byte) bool {
	switch string(name) {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te":
		return true
	}
	return false
}

// writeHeaderBlock HPACK-encodes h (":status" first, other pseudo-headers and
// connection-specific fields dropped) and writes it as HEADERS plus
// CONTINUATION frames, back to back so nothing interleaves.
func (c *ServerCodec) writeHeaderBlock(id uint32, h *headers.Map, endStream bool) {
	if c.fatalErr != nil {
		return
	}
	c.hbuf.Reset()
	if st, ok := h.Get(":status"); ok {
		_ = c.henc.WriteField(hpack.HeaderField{Name: ":status", Value: statusString(st)})
	}
	h.Range(c.encodeRegular)
	block := c.hbuf.Bytes()
	max := int(c.peerMaxFrameSize)
	first := true
	for first || len(block) > 0 {
		n := min(len(block), max)
		frag := block[:n]
		block = block[n:]
		if first {
			_ = c.fr.WriteHeaders(http2.HeadersFrameParam{
				StreamID: id, BlockFragment: frag, EndStream: endStream, EndHeaders: len(block) == 0,
			})
			first = false
		} else {
			_ = c.fr.WriteContinuation(id, len(block) == 0, frag)
		}
	}
}

func (c *ServerCodec) encodeRegular(name, value []byte) bool {
	if len(name) == 0 || name[0] == ':' || connectionSpecific(name) {
		return true
	}
	c.encodeField(internName(name), value)
	return true
}

func (c *ServerCodec) encodeField(name string, value []byte) {
	_ = c.henc.WriteField(hpack.HeaderField{Name: name, Value: c.values.Intern(value)})
}

// statusString returns a constant for common status codes, so encoding
// them does not allocate.
func statusString(b []byte) string {
	switch string(b) {
	case "200":
		return "200"
	case "204":
		return "204"
	case "206":
		return "206"
	case "301":
		return "301"
	case "302":
		return "302"
	case "304":
		return "304"
	case "400":
		return "400"
	case "403":
		return "403"
	case "404":
		return "404"
	case "500":
		return "500"
	case "502":
		return "502"
	case "503":
		return "503"
	}
	return string(b)
}

// internName returns a constant string for common response field names, so
// encoding them does not allocate.
func internName(b []byte) string {
	switch string(b) {
	case "content-type":
		return "content-type"
	case "content-length":
		return "content-length"
	case "date":
		return "date"
	case "server":
		return "server"
	case "cache-control":
		return "cache-control"
	case "content-encoding":
		return "content-encoding"
	case "vary":
		return "vary"
	case "etag":
		return "etag"
	case "last-modified":
		return "last-modified"
	case "location":
		return "location"
	case "set-cookie":
		return "set-cookie"
	}
	return string(b)
}

// replyLocal answers a stream the manager never saw (e.g. 431) and, if the
// client is still sending, tells it to stop.
func (c *ServerCodec) replyLocal(id uint32, status int, requestEnded bool) {
	if !c.queueControl() {
		return
	}
	var h headers.Map
	h.SetStatus(status)
	h.SetString("content-length", "0")
	c.writeHeaderBlock(id, &h, true)
	if !requestEnded {
		c.rememberReset(id)
		_ = c.fr.WriteRSTStream(id, http2.ErrCodeNo)
	}
}
