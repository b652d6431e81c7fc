package http1

import (
	"strconv"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
)

// ServerCallbacks is what the connection manager gives the server codec,
// beyond starting streams.
type ServerCallbacks interface {
	codec.Callbacks
	// AcquireHeaders lends a header map: it belongs to the stream (or the
	// h2c upgrade) it is given to from then on.
	AcquireHeaders() *headers.Map
	// RequestRejected: a request head was rejected before a stream
	// existed; the codec has queued the error answer and the connection
	// closes after it.
	RequestRejected(status int, reason string)
	// FailStream: the current stream's body is malformed. The manager
	// answers it with status (true), or reports that the stream can no
	// longer answer because its response started (false: the codec resets
	// it).
	FailStream(dec codec.RequestDecoder, status int, reason string) bool
	// RequestBodyDiscarded: the body of a request answered before it was
	// read was read to its end (reason "") or turned out malformed.
	RequestBodyDiscarded(status int, reason string)
}

// ServerOptions configure a server codec.
type ServerOptions struct {
	Limits Limits
	// H2CUpgrade honours "Upgrade: h2c" (see TakeH2CUpgrade).
	H2CUpgrade bool
	// TLS: the connection is TLS, so origin-form requests get :scheme
	// https (http otherwise).
	TLS bool
}

// ServerCodec is the downstream HTTP/1.1 codec: one request at a time on a
// connection. Pipelined requests wait in the connection's input buffer
// until the response before them is complete, which is how Envoy's codec
// keeps responses in order. It is a codec.ServerCodec and, for its current
// stream, the codec.ResponseEncoder; it also implements codec.Switcher
// (WebSocket, CONNECT) and codec.H2CUpgrader.
type ServerCodec struct {
	t      codec.Transport
	cb     ServerCallbacks
	opts   ServerOptions
	parser Parser
	out    []byte

	dec       codec.RequestDecoder // current stream, nil between requests
	reqDone   bool                 // the current request was fully read
	respDone  bool
	headReq   bool
	minor     int
	keepAlive bool
	// clientCloses: the request itself ends the connection (Connection:
	// close, or HTTP/1.0 without keep-alive): the client sends no more.
	clientCloses bool
	unparsed     int  // in Dispatch: input bytes after the parser's position
	bodyless     bool // request had no body: headers carried end_stream
	chunkedOut   bool
	untilClose   bool // response body delimited by closing the connection
	noBody       bool // HEAD, 1xx, 204, 304: no body bytes on the wire
	draining     bool
	wantsClose   bool
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
	readOff       bool // the transport's reading is disabled by us
	inDispatch    bool
}

// NewServerCodec starts the server side of an HTTP/1.x connection on t.
// Call on t's worker.
func NewServerCodec(t codec.Transport, cb ServerCallbacks, opts ServerOptions) *ServerCodec {
	s := &ServerCodec{t: t, cb: cb, opts: opts}
	s.parser.Init(Request, opts.Limits)
	return s
}

var (
	_ codec.ServerCodec     = (*ServerCodec)(nil)
	_ codec.ResponseEncoder = (*ServerCodec)(nil)
	_ codec.Switcher        = (*ServerCodec)(nil)
	_ codec.H2CUpgrader     = (*ServerCodec)(nil)
)

func (s *ServerCodec) Protocol() string {
	if s.minor == 0 {
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

func (s *ServerCodec) ActiveStreams() int {
	if s.dec != nil {
		return 1
	}
	return 0
}

func (s *ServerCodec) WantsClose() bool { return s.wantsClose }

func (s *ServerCodec) Drain() {
	s.draining = true
	if s.dec == nil {
		s.wantsClose = true
	}
}

// Dispatch parses as much of in as the current state allows.
func (s *ServerCodec) Dispatch(in []byte) (int, error) {
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
		if s.dec == nil && !s.discarding && s.t.AboveHighWatermark() {
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
		s.unparsed = len(in) - consumed
		if err != nil {
			s.protocolError(err)
			return consumed, err
		}
		switch ev {
		case EventNeedMore:
			return consumed, nil
		case EventHead:
			s.onHead()
			if s.upgrade != nil {
				return consumed, nil
			}
		case EventBody:
			body := s.parser.Body()
			s.reqBodySeen += int64(len(body))
			if s.dec != nil {
				s.dec.DecodeData(body, false)
			} else if s.discarding {
				s.discarded += int64(len(body))
				if s.discarded > maxDiscard {
					s.wantsClose = true
					s.discarding = false
					s.cb.RequestBodyDiscarded(0, "")
					return consumed, nil
				}
			}
		case EventTrailers:
			if s.dec != nil {
				t := s.cb.AcquireHeaders()
				for _, f := range s.parser.Trailers() {
					t.Add(f.Name, f.Value)
				}
				s.reqDone = true
				s.dec.DecodeTrailers(t)
			}
		case EventEnd:
			if s.dec != nil && !s.reqDone {
				s.reqDone = true
				if !s.bodyless {
					s.dec.DecodeData(nil, true)
				}
			}
			if s.discarding {
				s.discarding = false
				s.cb.RequestBodyDiscarded(0, "")
			}
		}
	}
	return consumed, nil
}

func (s *ServerCodec) onHead() {
	h := s.parser.Head()
	s.minor = h.Minor
	s.keepAlive = h.KeepAlive
	s.clientCloses = !h.KeepAlive
	s.headReq = string(h.Method) == "HEAD"
	s.reqDone = false
	s.respDone = false
	s.chunkedOut, s.untilClose, s.noBody = false, false, false
	s.bodyless = h.Body == BodyNone
	s.reqBodyLen, s.reqBodySeen, s.discarding, s.discarded = h.ContentLength, 0, false, 0
	if h.Body == BodyChunked {
		s.reqBodyLen = -1
	}
	m := s.cb.AcquireHeaders()
	if s.wantsH2C(h) {
		// RFC 7540 3.2: a bodiless request may switch to h2c; it becomes
		// stream 1 of the new connection.
		v, _ := headerField(h, "http2-settings")
		s.upgradeSettings = append([]byte(nil), v...)
		HeadToMap(h, Request, "http", m)
		m.Del("http2-settings")
		s.upgrade = m
		s.wantsClose = true
		return
	}
	scheme := "http"
	if s.opts.TLS {
		scheme = "https"
	}
	HeadToMap(h, Request, scheme, m)
	if h.Expect100 {
		// sluice answers 100-continue itself, as Envoy does by default,
		// so the upstream never sees Expect.
		m.Del("expect")
		if h.Minor == 1 && !s.bodyless {
			s.t.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
		}
	}
	dec := s.cb.NewStream(s)
	s.dec = dec
	dec.DecodeHeaders(m, s.bodyless)
}

// protocolError answers a request the parser rejected, then the connection
// closes: after a framing error nothing later on it can be trusted.
func (s *ServerCodec) protocolError(err error) {
	s.broken = true
	s.wantsClose = true
	status := 400
	reason := "codec_error"
	if e, ok := err.(*Error); ok {
		status, reason = e.Status, e.Reason
	}
	if s.discarding {
		// The request was answered already; its malformed remainder ends
		// the connection and shows in that request's access-log line.
		s.discarding = false
		s.cb.RequestBodyDiscarded(status, reason)
		return
	}
	if s.dec != nil {
		dec := s.dec
		s.dec = nil
		// The stream exists (the head parsed, the body is bad): let it
		// send the error through its own reply path if it still can.
		if s.respDone || !s.cb.FailStream(dec, status, reason) {
			dec.OnReset(codec.ResetProtocolError)
		}
		return
	}
	s.t.Write(AppendErrorResponse(s.out[:0], status))
	s.cb.RequestRejected(status, reason)
}

func (s *ServerCodec) ReadEOF() error {
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

func (s *ServerCodec) OnConnectionClose() {
	if s.dec != nil {
		dec := s.dec
		s.dec = nil
		dec.OnReset(codec.ResetConnectionClosed)
	}
}

// TakeH2CUpgrade implements codec.H2CUpgrader: after Dispatch stopped on a
// request asking for h2c, it returns that request (the caller's from now
// on) and its HTTP2-Settings value; the caller answers 101 and continues
// the connection as HTTP/2 with the request as stream 1.
func (s *ServerCodec) TakeH2CUpgrade() (*headers.Map, []byte, bool) {
	req := s.upgrade
	s.upgrade = nil
	return req, s.upgradeSettings, req != nil
}

// DiscardingRequestBody reports that the last response ended before its
// request's body was read, which is now being read and dropped.
func (s *ServerCodec) DiscardingRequestBody() bool { return s.discarding }

func (s *ServerCodec) OnWritable() {
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

func (s *ServerCodec) Encode100Continue() {
	if s.minor == 1 {
		s.t.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
	}
}

func (s *ServerCodec) EncodeHeaders(h *headers.Map, end bool) {
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
	s.out = AppendResponseHead(s.out[:0], h, 1)
	s.t.Write(s.out)
	if end {
		s.endResponse()
	}
}

func (s *ServerCodec) EncodeData(p []byte, end bool) {
	if !s.noBody && len(p) > 0 {
		if s.chunkedOut {
			s.out = AppendChunk(s.out[:0], p)
			s.t.Write(s.out)
		} else {
			s.t.Write(p)
		}
	}
	if end {
		if s.chunkedOut {
			s.t.Write([]byte("0\r\n\r\n"))
		}
		s.endResponse()
	}
}

func (s *ServerCodec) EncodeTrailers(t *headers.Map) {
	if s.chunkedOut {
		s.out = AppendLastChunk(s.out[:0], t)
		s.t.Write(s.out)
	}
	s.endResponse()
}

func (s *ServerCodec) endResponse() {
	s.respDone = true
	s.dec = nil
	s.writable = nil
	if s.streamPaused {
		// The stream is over, and so is its say over reading: the rest
		// of its body must be read to be dropped, and the next request
		// must be read at all (the HTTP/2 codec does the same).
		s.streamPaused = false
		s.applyReadState()
	}
	if s.out != nil && cap(s.out) > 64<<10 {
		s.out = nil
	}
	if !s.keepAlive {
		unread := s.t.BufferedInput()
		if s.inDispatch {
			unread = s.unparsed // the connection's input still holds this request
		}
		if s.clientCloses && (s.reqDone || s.bodyless) && !s.broken && unread == 0 {
			// Nothing more will come: the connection may close without
			// waiting for the client's FIN.
			s.t.InputDone()
		}
		s.wantsClose = true
		return
	}
	if !s.reqDone && !s.bodyless {
		s.discarding = true
	}
	if !s.inDispatch && s.t.BufferedInput() > 0 {
		// Finished from an upstream callback while a pipelined request
		// waits in the input: it is parsed in the loop's ready phase, not
		// inside that callback (and Dispatch checks the watermark first).
		// Inside Dispatch the parse loop goes on by itself, so consecutive
		// answers leave in one write.
		s.t.Redeliver()
	}
}

// maxDiscard bounds how much of an unanswered request body is read and
// dropped to keep a connection alive.
const maxDiscard = 64 << 10

func (s *ServerCodec) canDiscardRest() bool {
	if s.reqBodyLen < 0 {
		return true // chunked: discarded up to maxDiscard, then closed
	}
	return s.reqBodyLen-s.reqBodySeen <= maxDiscard
}

func (s *ServerCodec) Reset() {
	// HTTP/1 has no stream reset: closing the connection is the signal.
	// What was already encoded still goes out, so the client sees a
	// truncated message (short Content-Length or no last chunk), not a
	// vanished one.
	s.broken = true
	s.wantsClose = true
	s.dec = nil
	s.t.CloseAfterFlush()
}

func (s *ServerCodec) AboveWriteWatermark() bool { return s.t.AboveHighWatermark() }

func (s *ServerCodec) ReadDisable(disable bool) {
	if s.switched {
		return // the connection's reading belongs to the tunnel
	}
	s.streamPaused = disable
	s.applyReadState()
}

func (s *ServerCodec) applyReadState() {
	if off := s.streamPaused || s.outputBlocked; off != s.readOff {
		s.readOff = off
		s.t.ReadDisable(off)
	}
}

func (s *ServerCodec) SetWritableCallback(fn func()) { s.writable = fn }

// PrepareSwitch implements codec.Switcher. The request ended with its head
// (the connection manager only tries bodiless requests), so the parse loop
// already waits for the response before reading on.
func (s *ServerCodec) PrepareSwitch() { s.switchPending = true }

// EncodeSwitch implements codec.Switcher: the 101 carries "Connection:
// upgrade" and the caller's Upgrade; a 2xx answer to CONNECT carries no
// framing fields (RFC 9110 9.3.6).
func (s *ServerCodec) EncodeSwitch(h *headers.Map) {
	h.Del("transfer-encoding")
	h.Del("content-length")
	h.Del("connection")
	if h.Status() == 101 {
		h.SetString("connection", "upgrade")
	}
	s.out = AppendResponseHead(s.out[:0], h, 1)
	s.t.Write(s.out)
	s.out = nil
	s.switchPending, s.switched = false, true
	s.respDone = true
	s.dec = nil
	s.writable = nil
	s.streamPaused, s.outputBlocked = false, false
	s.applyReadState()
}

// AppendErrorResponse renders a minimal response, with Connection: close,
// for errors found before any stream exists (the request head itself was
// bad, or never completed).
func AppendErrorResponse(dst []byte, status int) []byte {
	body := StatusText(status)
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
func (s *ServerCodec) wantsH2C(h *Head) bool {
	if !s.opts.H2CUpgrade || !h.Upgrade || h.Minor != 1 || h.Body != BodyNone {
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

func headerField(h *Head, name string) ([]byte, bool) {
	for _, f := range h.Fields {
		if headers.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return nil, false
}
