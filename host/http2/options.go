package http2

import "time"

// Options configures a ServerCodec. Zero fields take the defaults below.
type Options struct {
	// MaxConcurrentStreams is advertised in SETTINGS; HEADERS beyond it are
	// refused with RST_STREAM(REFUSED_STREAM). Default 1024: gRPC clients
	// multiplex their calls on one connection and queue what does not fit.
	// Memory does not grow with it: the connection window bounds held
	// request body and ConnectionBufferLimit queued response data.
	MaxConcurrentStreams uint32
	// InitialWindowSize is the per-stream receive window advertised in
	// SETTINGS. Default 256 KiB: large enough for a fast upload at loopback
	// RTTs. What paused streams hold together is bounded by the connection
	// window (see ServerCodec.creditConn), not by streams × this.
	// Values below the protocol default 65535 are raised to it, because a
	// client may use the default before it sees our SETTINGS.
	InitialWindowSize uint32
	// ConnectionWindowSize is the connection receive window. Default 1 MiB.
	ConnectionWindowSize uint32
	// MaxFrameSize is the largest frame we accept (SETTINGS_MAX_FRAME_SIZE).
	// Default and minimum 16384. Keep it below the worker's MaxReadBuffer:
	// Dispatch waits for whole frames.
	MaxFrameSize uint32
	// MaxHeaderListSize caps the decoded request header list (RFC 9113
	// accounting: name + value + 32 per field). Over it the codec answers
	// 431. Default 60 KiB.
	MaxHeaderListSize uint32
	// MaxHeaderBlockFrames caps HEADERS+CONTINUATION frames in one header
	// block (CONTINUATION flood). Default 64.
	MaxHeaderBlockFrames int
	// MaxResetsPerInterval is the rapid-reset budget: resets of streams the
	// manager is working on, sent by the client or provoked by its stream
	// errors, allowed per ResetInterval before GOAWAY(ENHANCE_YOUR_CALM).
	// Default 400 per 10 s.
	MaxResetsPerInterval int
	ResetInterval        time.Duration
	// MaxQueuedControlFrames caps the frames we owe the peer (SETTINGS and
	// PING acknowledgements, RST_STREAM replies) while our output has not
	// drained: a peer that floods them without reading gets
	// GOAWAY(ENHANCE_YOUR_CALM). Default 10000.
	MaxQueuedControlFrames int
	// MaxConsecutiveEmptyData caps DATA frames in a row with no payload and
	// no END_STREAM (CVE-2019-9518: they cost work and carry nothing); past
	// it, GOAWAY(ENHANCE_YOUR_CALM). Default 16.
	MaxConsecutiveEmptyData int
	// SettingsTimeout bounds the wait for the ACK of our SETTINGS; past it
	// the connection ends with GOAWAY(SETTINGS_TIMEOUT). Default 10 s.
	SettingsTimeout time.Duration
	// StreamBufferLimit is how much response data one stream may queue
	// because of the peer's flow-control windows before AboveWriteWatermark
	// reports true. Default 1 MiB.
	StreamBufferLimit int
	// ConnectionBufferLimit bounds the response data all streams of the
	// connection queue together for the peer's windows: past it,
	// AboveWriteWatermark turns true for streams that are waiting for
	// window, and writable callbacks wait until the total is below half.
	// Default 4 MiB.
	ConnectionBufferLimit int
	// OnFatal, when set, is called (on the worker) when the codec ended the
	// connection outside Dispatch (SETTINGS timeout): the GOAWAY is queued,
	// every stream was reset, and the owner should close after flushing.
	// When nil the codec closes nothing itself (the worker would not tell
	// the owner); WantsClose turns true, the next Dispatch returns the
	// error, and a silent peer is left to the manager's idle timeout.
	OnFatal func(err error)
}

const (
	defaultMaxConcurrentStreams = 1024
	defaultInitialWindowSize    = 256 << 10
	defaultConnectionWindowSize = 1 << 20
	minMaxFrameSize             = 16384
	maxMaxFrameSize             = 1<<24 - 1
	defaultMaxHeaderListSize    = 60 << 10
	defaultMaxHeaderBlockFrames = 64
	defaultMaxResets            = 400
	defaultResetInterval        = 10 * time.Second
	defaultMaxQueuedControl     = 10000
	defaultSettingsTimeout      = 10 * time.Second
	defaultMaxEmptyData         = 16
	defaultStreamBufferLimit    = 1 << 20
	defaultConnBufferLimit      = 4 << 20
	protocolDefaultWindow       = 65535
	maxWindow                   = 1<<31 - 1
)

func (o Options) withDefaults() Options {
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = defaultMaxConcurrentStreams
	}
	if o.InitialWindowSize == 0 {
		o.InitialWindowSize = defaultInitialWindowSize
	}
	o.InitialWindowSize = clampU32(o.InitialWindowSize, protocolDefaultWindow, maxWindow)
	if o.ConnectionWindowSize == 0 {
		o.ConnectionWindowSize = defaultConnectionWindowSize
	}
	o.ConnectionWindowSize = clampU32(o.ConnectionWindowSize, protocolDefaultWindow, maxWindow)
	if o.MaxFrameSize == 0 {
		o.MaxFrameSize = minMaxFrameSize
	}
	o.MaxFrameSize = clampU32(o.MaxFrameSize, minMaxFrameSize, maxMaxFrameSize)
	if o.MaxHeaderListSize == 0 {
		o.MaxHeaderListSize = defaultMaxHeaderListSize
	}
	if o.MaxHeaderBlockFrames <= 0 {
		o.MaxHeaderBlockFrames = defaultMaxHeaderBlockFrames
	}
	if o.MaxResetsPerInterval <= 0 {
		o.MaxResetsPerInterval = defaultMaxResets
	}
	if o.ResetInterval <= 0 {
		o.ResetInterval = defaultResetInterval
	}
	if o.MaxQueuedControlFrames <= 0 {
		o.MaxQueuedControlFrames = defaultMaxQueuedControl
	}
	if o.MaxConsecutiveEmptyData <= 0 {
		o.MaxConsecutiveEmptyData = defaultMaxEmptyData
	}
	if o.SettingsTimeout <= 0 {
		o.SettingsTimeout = defaultSettingsTimeout
	}
	if o.StreamBufferLimit <= 0 {
		o.StreamBufferLimit = defaultStreamBufferLimit
	}
	if o.ConnectionBufferLimit <= 0 {
		o.ConnectionBufferLimit = defaultConnBufferLimit
	}
	return o
}

func clampU32(v, lo, hi uint32) uint32 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// maxHeaderBlockBytes caps the compressed size of one header block: a block
// larger than the decoded limit plus one frame cannot be a request we accept.
func (o *Options) maxHeaderBlockBytes() int {
	return int(o.MaxHeaderListSize) + int(o.MaxFrameSize)
}
