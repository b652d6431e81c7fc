package codec

import (
	"github.com/sluiceproxy/sluice/host/headers"
)

// ResetReason says why a stream ended without completing.
type ResetReason uint8

const (
	// ResetConnectionClosed: the downstream connection went away.
	ResetConnectionClosed ResetReason = iota + 1
	// ResetRemote: the client reset the stream (HTTP/2 RST_STREAM).
	ResetRemote
	// ResetProtocolError: the stream's bytes could not be trusted.
	ResetProtocolError
	// ResetLocal: the proxy abandoned the stream.
	ResetLocal
)

// ServerCodec parses one downstream connection. It is driven by the
// connection manager on the connection's worker.
type ServerCodec interface {
	// Dispatch parses input and calls the stream callbacks. It returns how
	// many bytes were consumed. A non-nil error means the connection cannot
	// continue: the codec has already queued whatever protocol error reply
	// is due (HTTP/1 status, HTTP/2 GOAWAY) and the caller closes after
	// flushing.
	Dispatch(in []byte) (consumed int, err error)
	// ReadEOF tells the codec the peer half-closed.
	ReadEOF() error
	// Drain starts a graceful shutdown: HTTP/1 answers the next response
	// with Connection: close, HTTP/2 sends GOAWAY.
	Drain()
	// Protocol is "HTTP/1.1", "HTTP/1.0" or "HTTP/2".
	Protocol() string
	// ActiveStreams is the number of streams not yet complete.
	ActiveStreams() int
	// WantsClose reports that the codec is done with the connection (e.g.
	// an HTTP/1 response with Connection: close was fully written).
	WantsClose() bool
	// OnConnectionClose tells the codec the connection is gone: it resets
	// every active stream (OnReset(ResetConnectionClosed)) and releases
	// what it holds. No other method is called afterwards.
	OnConnectionClose()
	// OnWritable is called when the connection's output drained below its
	// low watermark, so streams paused on backpressure can resume.
	OnWritable()
}

// Callbacks is what the connection manager gives a codec.
type Callbacks interface {
	// NewStream starts a request stream; the codec sends its events to the
	// returned decoder and the manager answers through enc.
	NewStream(enc ResponseEncoder) RequestDecoder
}

// RequestDecoder receives one request's events from the codec.
type RequestDecoder interface {
	// DecodeHeaders gets the request head. The map is owned by the stream
	// from now on (the codec does not touch it again).
	DecodeHeaders(h *headers.Map, endStream bool)
	// DecodeData gets body bytes; p is valid only during the call.
	DecodeData(p []byte, endStream bool)
	// DecodeTrailers gets request trailers (ends the request).
	DecodeTrailers(t *headers.Map)
	// OnReset tells the stream it is gone; no encoder call may follow.
	OnReset(reason ResetReason)
}

// ResponseEncoder writes one stream's response.
type ResponseEncoder interface {
	// Encode100Continue sends an interim 100 Continue.
	Encode100Continue()
	EncodeHeaders(h *headers.Map, endStream bool)
	EncodeData(p []byte, endStream bool)
	EncodeTrailers(t *headers.Map)
	// Reset abandons the stream (HTTP/1: close the connection; HTTP/2:
	// RST_STREAM).
	Reset()
	// AboveWriteWatermark reports downstream backpressure: the stream's
	// producer should pause until OnWritable.
	AboveWriteWatermark() bool
	// ReadDisable stops (true) or resumes (false) delivery of this
	// stream's request body (HTTP/1: pause reading the socket; HTTP/2:
	// withhold WINDOW_UPDATE).
	ReadDisable(disable bool)
	// SetWritableCallback registers fn, called on the worker when the
	// stream's output drops below its low watermark.
	SetWritableCallback(fn func())
}

// Switcher is implemented by a ResponseEncoder whose connection can leave
// HTTP and carry raw bytes (HTTP/1.1: after 101 Switching Protocols, or a
// 2xx answer to CONNECT). HTTP/2 encoders do not implement it.
type Switcher interface {
	// PrepareSwitch says the request asked to switch protocols and the
	// proxy is trying. The codec parses no further request on the
	// connection (what follows may already be the new protocol, left in
	// the connection's input), and a half-close from the client no longer
	// resets the stream. Unless EncodeSwitch follows, the connection
	// closes after the response.
	PrepareSwitch()
	// EncodeSwitch writes h, the head of the response that switches,
	// without body framing, and ends the codec's use of the connection:
	// the stream is over and the caller owns the connection's bytes from
	// here on. No other method of the codec does anything afterwards.
	EncodeSwitch(h *headers.Map)
}

// H2CUpgrader is implemented by an HTTP/1.1 server codec whose last request
// asked to continue the connection as HTTP/2 (RFC 7540 3.2, "Upgrade: h2c").
type H2CUpgrader interface {
	// TakeH2CUpgrade returns, once Dispatch stopped on such a request,
	// the request (the caller's from now on) and its HTTP2-Settings value.
	TakeH2CUpgrade() (req *headers.Map, settings []byte, ok bool)
}

// Releaser is an optional interface of a ResponseEncoder whose codec
// reuses its per-stream state. The manager calls Release once, when it
// will make no further call on the encoder: the codec then drops the
// callbacks it was given and may reuse the encoder for a later stream as
// soon as the stream is over on the wire too. A manager that never calls
// Release is correct; the codec then allocates for each stream.
type Releaser interface {
	Release()
}

// FlushNotifier is an optional interface of a ResponseEncoder whose codec
// may still hold response bytes after the manager encoded the end of the
// response (HTTP/2: DATA waiting for the peer's flow-control window). The
// manager uses it to log and count what the client actually got, and to
// keep the stream (and its flush timeout) alive until then.
type FlushNotifier interface {
	// BodyBytesWritten is how many response body bytes reached the
	// connection so far (bytes still waiting for window are not counted).
	BodyBytesWritten() int64
	// NotifyFlushed is called once the manager encoded the end of the
	// response. done reports that the outcome is known already: complete
	// when the end is on the wire, not complete when the stream died
	// first. Otherwise fn runs later, once, on the worker: complete when
	// the end reached the connection, false when the stream or connection
	// ended first. Reset cancels the notification.
	NotifyFlushed(fn func(complete bool)) (done, complete bool)
}
