package hcm

import (
	"strconv"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/http1"
	"github.com/sluiceproxy/sluice/host/worker"
)

// http1Server is the downstream HTTP/1.1 codec: one request at a time on a
// connection. Pipelined requests wait in the connection's input buffer until
// the response before them is complete, which is how Envoy's codec keeps
// responses in order.
type http1Server struct {
	c      *worker.Conn
	cb     *connection
	parser http1.Parser
	out    []byte

	dec        codec.RequestDecoder // current stream, nil between requests
	reqDone    bool                 // the current request was fully read
	respDone   bool
	headReq    bool
	minor      int
	keepAlive  bool
	bodyless   bool // request had no body: headers carried end_stream
	chunkedOut bool
	untilClose bool // response body delimited by closing the connection
	noBody     bool // HEAD, 1xx, 204, 304: no body bytes on the wire
	draining   bool
	wantsClose bool
	// Answering before the request body was read (a local reply, a
	// filter, an early upstream response) keeps the connection when the
	// rest of the body is small: it is read and thrown away, as nginx does.
	reqBodyLen  int64 // Content-Length, -1 when chunked
	reqBodySeen int64
	discarding  bool
	discarded   int64
	// upgrade holds a request that asked for h2c; the connection switches
	// codecs after Dispatch returns.
	upgrade         *headers.Map
	upgradeSettings []byte
	// switchPending: the current request asked to switch protocols
	// (codec.Switcher); switched: it did, and the connection is no longer
	// HTTP.
	switchPending bool
	switched      bool
	broken        bool
	writable      func()
	// Reading is paused while either holds: the stream asked (ReadDisable,
	// upstream backpressure) or the connection's output is above its high
	// watermark between two pipelined requests (outputBlocked).
	streamPaused  bool
	outputBlocked bool
	inDispatch    bool
}

func newHTTP1Server(c *worker.Conn, cb *connection, lim http1.Limits) *http1Server {
	s := &http1Server{c: c, cb: cb}
	s.parser.Init(http1.Request, lim)
	return s
}

var _ codec.ServerCodec = (*http1Server)(nil)
var _ codec.ResponseEncoder = (*http1Server)(nil)
var _ codec.Switcher = (*http1Server)(nil)

func (s *http1Server) Protocol() string {
	if s.minor == 0 {
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

func (s *http1Server) ActiveStreams() int {
	if s.dec != nil {
		return 1
	}
	return 0
}

func (s *http1Server) WantsClose() bool { return s.wantsClose }

func (s *http1Server) Drain() {
	s.draining = true
	if s.dec == nil {
		s.wantsClose = true
	}
}

// Dispatch parses as much of in as the current state allows.
func (s *http1Server) Dispatch(in []byte) (int, error) {
	s.inDispatch = true
	defer func() { s.inDispatch = false }()
	consumed := 0
	for !s.broken && !s.wantsClose && !s.switched {
		if s.dec != nil && s.reqDone {
			// The next pipelined request waits for this response.
			return consumed, nil
		}
		if s.dec == nil && s.draining {
			s.wantsClose = true
			return consumed, nil
		}
		if s.dec == nil && !s.discarding && s.c.AboveHighWatermark() {
			// A client that pipelines requests and does not read the
			// answers: take no new request (and read nothing) until the
			// output drains below the low watermark (OnWritable), as
			// nginx and Envoy do. Otherwise every pipelined request adds
			// a response to memory.
			s.outputBlocked = true
			s.applyReadState()
			return consumed, nil
		}
		ev, n, err := s.parser.Next(in[consumed:])
		consumed += n
		if err != nil {
			s.protocolError(err)
			return consumed, err
		}
		switch ev {
		case http1.EventNeedMore:
			return consumed, nil
		case http1.EventHead:
			s.onHead()
			if s.upgrade != nil {
				return consumed, nil
			}
		case http1.EventBody:
			body := s.parser.Body()
			s.reqBodySeen += int64(len(body))
			if s.dec != nil {
				s.dec.DecodeData(body, false)
			} else if s.discarding {
				s.discarded += int64(len(body))
				if s.discarded > maxDiscard {
					s.wantsClose = true
					s.discarding = false
					s.cb.requestBodyDiscarded(0, "")
					return consumed, nil
				}
			}
		case http1.EventTrailers:
			if s.dec != nil {
				t := s.cb.acquireHeaders()
				for _, f := range s.parser.Trailers() {
					t.Add(f.Name, f.Value)
				}
				s.reqDone = true
				s.dec.DecodeTrailers(t)
			}
		case http1.EventEnd:
			if s.dec != nil && !s.reqDone {
				s.reqDone = true
				if !s.bodyless {
					s.dec.DecodeData(nil, true)
				}
			}
			if s.discarding {
				s.discarding = false
				s.cb.requestBodyDiscarded(0, "")
			}
		}
	}
	return consumed, nil
}

func (s *http1Server) onHead() {
	h := s.parser.Head()
	s.minor = h.Minor
	s.keepAlive = h.KeepAlive
	s.headReq = string(h.Method) == "HEAD"
	s.reqDone = false
	s.respDone = false
	s.chunkedOut, s.untilClose, s.noBody = false, false, false
	s.bodyless = h.Body == http1.BodyNone
	s.reqBodyLen, s.reqBodySeen, s.discarding, s.discarded = h.ContentLength, 0, false, 0
	if h.Body == http1.BodyChunked {
		s.reqBodyLen = -1
	}
	m := s.cb.acquireHeaders()
	if s.wantsH2C(h) {
		// RFC 7540 3.2: a bodiless request may switch to h2c; it becomes
		// stream 1 of the new connection.
		v, _ := headerField(h, "http2-settings")
		s.upgradeSettings = append([]byte(nil), v...)
		http1.HeadToMap(h, http1.Request, "http", m)
		m.Del("http2-settings")
		s.upgrade = m
		s.wantsClose = true
		return
	}
	http1.HeadToMap(h, http1.Request, "http", m)
	if h.Expect100 {
		// sluice answers 100-continue itself, as Envoy does by default,
		// so the upstream never sees Expect.
		m.Del("expect")
		if h.Minor == 1 && !s.bodyless {
			s.c.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
		}
	}
	dec := s.cb.NewStream(s)
	s.dec = dec
	dec.DecodeHeaders(m, s.bodyless)
}

// protocolError answers a request the parser rejected, then the connection
// closes: after a framing error nothing later on it can be trusted.
func (s *http1Server) protocolError(err error) {
	s.broken = true
	s.wantsClose = true
	status := 400
	reason := "http1.codec_error"
	if e, ok := err.(*http1.Error); ok {
		status, reason = e.Status, e.Reason
	}
	if s.discarding {
		// The request was answered already; its malformed remainder ends
		// the connection and shows in that request's access-log line.
		s.discarding = false
		s.cb.requestBodyDiscarded(status, reason)
		return
	}
	if s.dec != nil {
		dec := s.dec
		s.dec = nil
		if !s.respDone && s.cb.streamResponseNotStarted(dec) {
			// The stream exists (the head parsed, the body is bad):
			// let it send the error through its own reply path.
			s.cb.localReplyForProtocolError(dec, status, reason)
			return
		}
		dec.OnReset(codec.ResetProtocolError)
		return
	}
	s.cb.protocolErrorReply(status, reason)
}

func (s *http1Server) ReadEOF() error {
	if s.switchPending || s.switched {
		// A client that asked to switch may half-close its direction of
		// the new protocol at once; the tunnel passes that on.
		return nil
	}
	// Like Envoy, a client's half-close ends the connection: a stream
	// still in progress is reset (DC) instead of waiting for its timeout.
	s.wantsClose = true
	if s.dec != nil {
		dec := s.dec
		s.dec = nil
		dec.OnReset(codec.ResetConnectionClosed)
	}
	return nil
}

func (s *http1Server) OnConnectionClose() {
	if s.dec != nil {
		dec := s.dec
		s.dec = nil
		dec.OnReset(codec.ResetConnectionClosed)
	}
}

// DiscardingRequestBody reports that the last response ended before its
// request's body was read, which is now being read and dropped.
func (s *http1Server) DiscardingRequestBody() bool { return s.discarding }

func (s *http1Server) OnWritable() {
	if s.outputBlocked {
		// Resuming redelivers the pipelined input already buffered.
		s.outputBlocked = false
		s.applyReadState()
	}
	if s.writable != nil {
		s.writable()
	}
}

// ResponseEncoder.

func (s *http1Server) Encode100Continue() {
	if s.minor == 1 {
		s.c.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
	}
}

func (s *http1Server) EncodeHeaders(h *headers.Map, end bool) {
	status := h.Status()
	s.noBody = s.headReq || status < 200 || status == 204 || status == 304
	h.Del("transfer-encoding")
	if s.noBody {
		if status == 204 || status < 200 {
			h.Del("content-length")
		}
	} else if !h.Has("content-length") {
		switch {
		case end:
			h.SetString("content-length", "0")
		case s.minor == 1:
			s.chunkedOut = true
			h.SetString("transfer-encoding", "chunked")
		default:
			s.untilClose = true
		}
	}
	if !s.reqDone && !s.bodyless && !s.canDiscardRest() {
		// Answering before a large request body was read: reading it all
		// just to keep the connection is not worth it, so it closes.
		s.keepAlive = false
	}
	if s.draining || s.untilClose || s.broken || s.switchPending {
		// switchPending: the request asked to switch protocols and did
		// not; what the client sent after it cannot be trusted as HTTP.
		s.keepAlive = false
	}
	h.Del("connection")
	if !s.keepAlive {
		h.SetString("connection", "close")
	} else if s.minor == 0 {
		h.SetString("connection", "keep-alive")
	}
	s.out = http1.AppendResponseHead(s.out[:0], h, 1)
	s.c.Write(s.out)
	if end {
		s.endResponse()
	}
}

func (s *http1Server) EncodeData(p []byte, end bool) {
	if !s.noBody && len(p) > 0 {
		if s.chunkedOut {
			s.out = http1.AppendChunk(s.out[:0], p)
			s.c.Write(s.out)
		} else {
			s.c.Write(p)
		}
	}
	if end {
		if s.chunkedOut {
			s.c.Write([]byte("0\r\n\r\n"))
		}
		s.endResponse()
	}
}

func (s *http1Server) EncodeTrailers(t *headers.Map) {
	if s.chunkedOut {
		s.out = http1.AppendLastChunk(s.out[:0], t)
		s.c.Write(s.out)
	}
	s.endResponse()
}

func (s *http1Server) endResponse() {
	s.respDone = true
	s.dec = nil
	s.writable = nil
	if s.out != nil && cap(s.out) > 64<<10 {
		s.out = nil
	}
	if !s.keepAlive {
		s.wantsClose = true
		return
	}
	if !s.reqDone && !s.bodyless {
		s.discarding = true
	}
	if !s.inDispatch {
		// Finished from an upstream callback: a pipelined request may
		// wait in the input. Inside Dispatch the parse loop goes on by
		// itself, so consecutive answers leave in one write.
		s.cb.responseDone()
	}
}

// maxDiscard bounds how much of an unanswered request body is read and
// dropped to keep a connection alive.
const maxDiscard = 64 << 10

func (s *http1Server) canDiscardRest() bool {
	if s.reqBodyLen < 0 {
		return true // chunked: discarded up to maxDiscard, then closed
	}
	return s.reqBodyLen-s.reqBodySeen <= maxDiscard
}

func (s *http1Server) Reset() {
	// HTTP/1 has no stream reset: closing the connection is the signal.
	// What was already encoded still goes out, so the client sees a
	// truncated message (short Content-Length or no last chunk), not a
	// vanished one.
	s.broken = true
	s.wantsClose = true
	s.dec = nil
	s.c.CloseAfterFlush()
	s.cb.closedByCodec()
}

func (s *http1Server) AboveWriteWatermark() bool { return s.c.AboveHighWatermark() }

func (s *http1Server) ReadDisable(disable bool) {
	if s.switched {
		return // the connection's reading belongs to the tunnel
	}
	s.streamPaused = disable
	s.applyReadState()
}

func (s *http1Server) applyReadState() {
	if s.streamPaused || s.outputBlocked {
		s.c.PauseReading()
	} else {
		s.c.ResumeReading()
	}
}

func (s *http1Server) SetWritableCallback(fn func()) { s.writable = fn }

// PrepareSwitch implements codec.Switcher. The request ended with its head
// (the connection manager only tries bodiless requests), so the parse loop
// already waits for the response before reading on.
func (s *http1Server) PrepareSwitch() { s.switchPending = true }

// EncodeSwitch implements codec.Switcher: the 101 carries "Connection:
// upgrade" and the caller's Upgrade; a 2xx answer to CONNECT carries no
// framing fields (RFC 9110 9.3.6).
func (s *http1Server) EncodeSwitch(h *headers.Map) {
	h.Del("transfer-encoding")
	h.Del("content-length")
	h.Del("connection")
	if h.Status() == 101 {
		h.SetString("connection", "upgrade")
	}
	s.out = http1.AppendResponseHead(s.out[:0], h, 1)
	s.c.Write(s.out)
	s.out = nil
	s.switchPending, s.switched = false, true
	s.respDone = true
	s.dec = nil
	s.writable = nil
	s.streamPaused, s.outputBlocked = false, false
}

// statusLine renders a minimal response for errors found before any stream
// exists (the request head itself was bad).
func appendErrorResponse(dst []byte, status int) []byte {
	body := http1.StatusText(status)
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, body...)
	dst = append(dst, "\r\ncontent-type: text/plain\r\ncontent-length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\nconnection: close\r\n\r\n"...)
	dst = append(dst, body...)
	return dst
}

// wantsH2C reports a valid h2c upgrade request this connection can honour:
// HTTP/1.1, no body, "Upgrade: h2c", one HTTP2-Settings, and Connection
// naming both.
func (s *http1Server) wantsH2C(h *http1.Head) bool {
	if s.cb.cfg.UpgradeHTTP2 == nil || !h.Upgrade || h.Minor != 1 || h.Body != http1.BodyNone {
		return false
	}
	up, _ := headerField(h, "upgrade")
	if !headers.TokenIs(up, "h2c") {
		return false
	}
	n := 0
	for _, f := range h.Fields {
		if headers.EqualFold(f.Name, "http2-settings") {
			n++
		}
	}
	if n != 1 {
		return false
	}
	conn, _ := headerField(h, "connection")
	hasSettings := false
	headers.EachToken(conn, func(tok []byte) {
		if headers.TokenIs(tok, "http2-settings") {
			hasSettings = true
		}
	})
	return hasSettings
}

func headerField(h *http1.Head, name string) ([]byte, bool) {
	for _, f := range h.Fields {
		if headers.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return nil, false
}
