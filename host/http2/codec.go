package http2

import (
	"bytes"
	"errors"

	"go.uber.org/zap"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/h2frame"
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

	fr     *http2.Framer
	src    frameSource
	hdec   *hpack.Decoder
	henc   *hpack.Encoder
	hbuf   bytes.Buffer     // reused HPACK output
	values headers.Interner // response field values for the encoder

	prefaceDone bool
	sawSettings bool // the client's first frame must be SETTINGS

	streams     []*stream // open streams, in creation order
	maxClientID uint32    // highest client stream id seen (opened or refused)
	lastGoodID  uint32    // highest id seen before our GOAWAY: what GOAWAY reports
	recentReset [8]uint32 // ids we reset lately: their in-flight frames are ignored
	recentNext  int
	rrNext      int       // round-robin start for flushing queued DATA
	queuedTotal int       // response bytes queued for window, all streams
	heldInbound int       // request bytes held for paused streams, all streams
	scratch     []*stream // reused snapshot of streams for walks with callbacks
	retired     []*stream // finished streams kept for reuse (stream.retireIfDone)

	block headerBlock // header block being received (HEADERS + CONTINUATION)
	// order mirrors the Framer's CONTINUATION-order state: while a block
	// is open every frame goes through the Framer (readDirect stands aside).
	order      h2frame.Order
	framerOnly bool // tests: readDirect off, every frame parsed by the Framer

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
		frame := rest[:total]
		consumed += total
		if c.readDirect(frame) {
			continue
		}
		c.order.Framer(frame)
		c.src.b = frame
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
