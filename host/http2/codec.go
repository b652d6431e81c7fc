package http2

import (
	"bytes"
	"errors"

	"go.uber.org/zap"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
)

const frameHeaderLen = 9

// ServerCodec is one downstream HTTP/2 connection's state machine. All
// methods run on the connection's worker.
type ServerCodec struct {
	t    transport
	cb   codec.Callbacks
	opts Options
	log  *zap.Logger

	fr   *http2.Framer
	src  frameSource
	hdec *hpack.Decoder
	henc *hpack.Encoder
	hbuf bytes.Buffer // reused HPACK output

	prefaceDone bool
	sawSettings bool // the client's first frame must be SETTINGS

	streams     []*stream // open streams, in creation order
	maxClientID uint32    // highest client stream id seen (opened or refused)
	lastGoodID  uint32    // highest id seen before our GOAWAY: what GOAWAY reports
	recentReset [8]uint32 // ids we reset lately: their in-flight frames are ignored
	recentNext  int
	rrNext      int       // round-robin start for flushing queued DATA
	scratch     []*stream // reused snapshot of streams for walks with callbacks

	block headerBlock // header block being received (HEADERS + CONTINUATION)

	// Flow control. Send windows are int64 because SETTINGS may drive a
	// stream window negative (RFC 9113 6.9.2).
	connSendWindow    int64
	connRecvWindow    int64 // bytes the peer may still send
	connRecvUnacked   int64 // taken off the wire, not yet credited back
	peerInitialWindow int64
	peerMaxFrameSize  uint32

	goAwaySent     bool
	goAwayReceived bool
	fatalErr       error
	peerEOF        bool

	settingsAckOwed int // our SETTINGS frames not yet acknowledged
	settingsTimer   stopper
	ctrlQueued      int // ACK-owed frames queued since output last drained

	emptyDataRun     int   // consecutive empty DATA frames without END_STREAM
	resetWindowStart int64 // unix nanos of the current rapid-reset interval
	resetsInWindow   int

	hsrc  HeaderSource // the manager's recycled maps, when it offers them
	spare *headers.Map // a map decoded into but never handed over

	inDispatch  bool
	upgradeReq  *upgradeRequest // h2c upgrade: request for stream 1 not yet delivered
	stats       Stats
	scratchPing [8]byte
}

var (
	errBadPreface = errors.New("http2: bad client preface")
	errConnClosed = errors.New("http2: connection closed")
)

// ConnError is what Dispatch returns when the connection cannot continue:
// Code is the error code of the GOAWAY already queued.
type ConnError struct {
	Code   http2.ErrCode
	Reason string
}

func (e *ConnError) Error() string { return "http2: " + e.Code.String() + ": " + e.Reason }

func newServerCodec(t transport, cb codec.Callbacks, opts Options, log *zap.Logger) *ServerCodec {
	if log == nil {
		log = zap.NewNop()
	}
	c := &ServerCodec{t: t, cb: cb, opts: opts.withDefaults(), log: log}
	c.hsrc, _ = cb.(HeaderSource)
	c.fr = http2.NewFramer(frameSink{t}, &c.src)
	c.fr.SetMaxReadFrameSize(c.opts.MaxFrameSize)
	c.fr.SetReuseFrames()
	c.hdec = hpack.NewDecoder(4096, c.onHeaderField)
	c.hdec.SetMaxStringLength(int(c.opts.MaxHeaderListSize))
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.connSendWindow = protocolDefaultWindow
	c.connRecvWindow = int64(c.opts.ConnectionWindowSize)
	c.peerInitialWindow = protocolDefaultWindow
	c.peerMaxFrameSize = minMaxFrameSize
	c.block.reset()
	c.sendInitialSettings()
	return c
}

// sendInitialSettings queues our SETTINGS and opens the connection window
// beyond the protocol's 65535, then arms the SETTINGS ACK timeout.
func (c *ServerCodec) sendInitialSettings() {
	_ = c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: c.opts.MaxConcurrentStreams},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: c.opts.InitialWindowSize},
		http2.Setting{ID: http2.SettingMaxFrameSize, Val: c.opts.MaxFrameSize},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: c.opts.MaxHeaderListSize},
	)
	if extra := c.opts.ConnectionWindowSize - protocolDefaultWindow; extra > 0 {
		_ = c.fr.WriteWindowUpdate(0, extra)
	}
	c.settingsAckOwed++
	c.settingsTimer = c.t.AfterFunc(c.opts.SettingsTimeout, c.onSettingsTimeout)
}

func (c *ServerCodec) onSettingsTimeout() {
	c.settingsTimer = nil
	if c.settingsAckOwed == 0 || c.fatalErr != nil {
		return
	}
	c.stats.SettingsTimeouts++
	c.connError(http2.ErrCodeSettingsTimeout, "SETTINGS not acknowledged")
	if c.opts.OnFatal != nil {
		c.opts.OnFatal(c.fatalErr)
	}
}

// HeaderSource is an optional interface of the codec.Callbacks: a manager
// that recycles request header maps lends them to the codec, so decoding a
// request's headers does not allocate in steady state.
type HeaderSource interface {
	// AcquireHeaders returns an empty map that becomes the stream's.
	AcquireHeaders() *headers.Map
}

// newHeaderMap returns an empty map for a header block.
func (c *ServerCodec) newHeaderMap() *headers.Map {
	if m := c.spare; m != nil {
		c.spare = nil
		m.Reset()
		return m
	}
	if c.hsrc != nil {
		return c.hsrc.AcquireHeaders()
	}
	return new(headers.Map)
}

// Protocol implements codec.ServerCodec.
func (c *ServerCodec) Protocol() string { return "HTTP/2" }

// ActiveStreams implements codec.ServerCodec.
func (c *ServerCodec) ActiveStreams() int { return len(c.streams) }

// Stats returns this connection's counters.
func (c *ServerCodec) Stats() Stats { return c.stats }

// WantsClose implements codec.ServerCodec: after a connection error, or once
// a GOAWAY (either way) or the peer's EOF left no stream to finish.
func (c *ServerCodec) WantsClose() bool {
	if c.fatalErr != nil {
		return true
	}
	return (c.goAwaySent || c.goAwayReceived || c.peerEOF) && len(c.streams) == 0
}

// Drain implements codec.ServerCodec: GOAWAY(NO_ERROR) naming the last
// stream we accepted; open streams finish, later ones are refused.
func (c *ServerCodec) Drain() {
	if c.goAwaySent || c.fatalErr != nil {
		return
	}
	c.goAwaySent = true
	_ = c.fr.WriteGoAway(c.lastGoodID, http2.ErrCodeNo, nil)
}

// ReadEOF implements codec.ServerCodec. Streams still waiting for request
// bytes can never complete, so they are reset; the others may finish
// answering.
func (c *ServerCodec) ReadEOF() error {
	c.peerEOF = true
	for i := len(c.streams) - 1; i >= 0; i-- {
		s := c.streams[i]
		if !s.remoteClosed {
			c.closeStream(s, http2.ErrCodeCancel, codec.ResetConnectionClosed)
		}
	}
	return nil
}

// OnWritable implements codec.ServerCodec: the connection's output dropped
// below its low watermark, so streams that saw backpressure get their
// writable callbacks.
func (c *ServerCodec) OnWritable() {
	if c.fatalErr != nil {
		return
	}
	c.flushQueued()
	c.notifyWritable()
}

// OnConnectionClose implements codec.ServerCodec: every open stream is reset
// with ResetConnectionClosed and the codec stops for good.
func (c *ServerCodec) OnConnectionClose() {
	if c.fatalErr == nil {
		c.fatalErr = errConnClosed
	}
	c.stopSettingsTimer()
	c.upgradeReq = nil
	for len(c.streams) > 0 {
		s := c.streams[len(c.streams)-1]
		c.removeStream(s)
		s.reset(codec.ResetConnectionClosed)
	}
}

// Dispatch implements codec.ServerCodec: it consumes every complete frame in
// in and leaves a partial frame for the next call.
func (c *ServerCodec) Dispatch(in []byte) (int, error) {
	if c.fatalErr != nil {
		return len(in), c.fatalErr
	}
	c.inDispatch = true
	defer func() { c.inDispatch = false }()
	if c.t.Pending() == 0 {
		c.ctrlQueued = 0
	}
	consumed := 0
	if !c.prefaceDone {
		match, needMore := IsPreface(in)
		if needMore {
			return 0, nil
		}
		if !match {
			c.connError(http2.ErrCodeProtocol, "bad client preface")
			return len(in), errBadPreface
		}
		c.prefaceDone = true
		consumed = len(ClientPreface)
	}
	if c.upgradeReq != nil {
		c.deliverUpgrade()
	}
	for c.fatalErr == nil {
		rest := in[consumed:]
		if len(rest) < frameHeaderLen {
			break
		}
		length := uint32(rest[0])<<16 | uint32(rest[1])<<8 | uint32(rest[2])
		if length > c.opts.MaxFrameSize {
			// Refuse before buffering: never wait for an oversized payload.
			c.connError(http2.ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE")
			break
		}
		total := frameHeaderLen + int(length)
		if len(rest) < total {
			break
		}
		c.src.b = rest[:total]
		consumed += total
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.onFrameError(err)
			continue
		}
		c.processFrame(f)
	}
	if c.fatalErr != nil {
		return len(in), c.fatalErr
	}
	return consumed, nil
}

// onFrameError maps a Framer parse error to the RFC's connection or stream
// error.
func (c *ServerCodec) onFrameError(err error) {
	var se http2.StreamError
	if errors.As(err, &se) {
		c.streamError(se.StreamID, se.Code)
		return
	}
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		reason := "invalid frame"
		if d := c.fr.ErrorDetail(); d != nil {
			reason = d.Error()
		}
		c.connError(http2.ErrCode(ce), reason)
		return
	}
	c.connError(http2.ErrCodeProtocol, err.Error())
}

// connError queues GOAWAY(code), ends every stream and makes the codec
// refuse further input. Dispatch returns the error.
func (c *ServerCodec) connError(code http2.ErrCode, reason string) {
	if c.fatalErr != nil {
		return
	}
	c.fatalErr = &ConnError{Code: code, Reason: reason}
	if code != http2.ErrCodeNo {
		c.stats.ConnectionErrors++
	}
	c.goAwaySent = true
	_ = c.fr.WriteGoAway(c.lastGoodID, code, []byte(reason))
	if ce := c.log.Check(zap.DebugLevel, "http2 connection error"); ce != nil {
		ce.Write(zap.Stringer("code", code), zap.String("reason", reason), zap.Uint32("last_stream_id", c.lastGoodID))
	}
	c.stopSettingsTimer()
	for len(c.streams) > 0 {
		s := c.streams[len(c.streams)-1]
		c.removeStream(s)
		s.reset(codec.ResetConnectionClosed)
	}
}

func (c *ServerCodec) stopSettingsTimer() {
	if c.settingsTimer != nil {
		c.settingsTimer.Stop()
		c.settingsTimer = nil
	}
}

// queueControl counts a frame we owe the peer in reply to one of its frames
// and reports false (after the GOAWAY) once the peer has made us queue too
// many without reading them.
func (c *ServerCodec) queueControl() bool {
	if c.t.Pending() == 0 && !c.inDispatch {
		c.ctrlQueued = 0
	}
	c.ctrlQueued++
	if c.ctrlQueued > c.opts.MaxQueuedControlFrames {
		c.stats.ControlFloodGoAways++
		c.connError(http2.ErrCodeEnhanceYourCalm, "too many queued control frames")
		return false
	}
	return true
}

func (c *ServerCodec) findStream(id uint32) *stream {
	for _, s := range c.streams {
		if s.id == id {
			return s
		}
	}
	return nil
}

func (c *ServerCodec) removeStream(s *stream) {
	for i, x := range c.streams {
		if x == s {
			copy(c.streams[i:], c.streams[i+1:])
			c.streams[len(c.streams)-1] = nil
			c.streams = c.streams[:len(c.streams)-1]
			return
		}
	}
}

func (c *ServerCodec) rememberReset(id uint32) {
	c.recentReset[c.recentNext] = id
	c.recentNext = (c.recentNext + 1) % len(c.recentReset)
}

func (c *ServerCodec) recentlyReset(id uint32) bool {
	for _, r := range c.recentReset {
		if r == id {
			return true
		}
	}
	return false
}

// streamError resets stream id with code; an open stream's decoder learns
// it through OnReset(ResetProtocolError).
func (c *ServerCodec) streamError(id uint32, code http2.ErrCode) {
	c.stats.StreamErrors++
	if ce := c.log.Check(zap.DebugLevel, "http2 stream error"); ce != nil {
		ce.Write(zap.Uint32("stream_id", id), zap.Stringer("code", code))
	}
	if s := c.findStream(id); s != nil {
		busy := !s.decoderDone
		c.closeStream(s, code, codec.ResetProtocolError)
		if busy {
			// A reset the client provoked costs the same as one it sent
			// ("MadeYouReset", CVE-2025-8671): same budget.
			c.countReset()
		}
		return
	}
	c.writeRST(id, code)
}

// closeStream sends RST_STREAM(code) for an open stream, removes it and
// tells its decoder why.
func (c *ServerCodec) closeStream(s *stream, code http2.ErrCode, reason codec.ResetReason) {
	c.removeStream(s)
	c.writeRST(s.id, code)
	s.reset(reason)
}

func (c *ServerCodec) writeRST(id uint32, code http2.ErrCode) {
	if !c.queueControl() {
		return
	}
	c.rememberReset(id)
	_ = c.fr.WriteRSTStream(id, code)
}

// QueuedBytes is the response data waiting for the peer's flow-control
// windows, summed over open streams (bounded by StreamBufferLimit per
// cooperating stream; for admin and tests).
func (c *ServerCodec) QueuedBytes() int {
	n := 0
	for _, s := range c.streams {
		n += s.queued()
	}
	return n
}
