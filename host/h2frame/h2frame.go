// Package h2frame parses, in place, the HTTP/2 frames that every request
// and response brings in steady state: a HEADERS frame holding a whole
// header block, and WINDOW_UPDATE. The x/net Framer, which both HTTP/2
// codecs use for everything else, allocates a frame object for each of
// these; Parse allocates nothing. Parse accepts only frames the Framer
// would accept and reads them the same way (FuzzParseMatchesFramer), and
// refuses everything else, so a codec hands what Parse refuses to the
// Framer and every protocol error is still the Framer's.
package h2frame

import (
	"encoding/binary"

	"golang.org/x/net/http2"
)

// HeaderLen is the length of a frame header.
const HeaderLen = 9

// Frame is what Parse read. Fragment aliases the input.
type Frame struct {
	Type     http2.FrameType // FrameHeaders or FrameWindowUpdate
	Flags    http2.Flags
	StreamID uint32
	// HEADERS: the header block, padding removed, and the stream it
	// depends on when Flags has FlagHeadersPriority.
	Fragment    []byte
	PriorityDep uint32
	// WINDOW_UPDATE: the increment, never 0.
	Increment uint32
}

// StreamID is the stream identifier in a frame header, the reserved bit
// masked off.
func StreamID(frame []byte) uint32 {
	return binary.BigEndian.Uint32(frame[5:9]) & (1<<31 - 1)
}

// Parse reads frame, one whole frame with its header, if it is a HEADERS
// frame with END_HEADERS or a WINDOW_UPDATE frame, well formed. ok is
// false for any other frame, malformed ones included.
func Parse(frame []byte) (f Frame, ok bool) {
	if len(frame) < HeaderLen {
		return f, false
	}
	f.Type, f.Flags, f.StreamID = http2.FrameType(frame[3]), http2.Flags(frame[4]), StreamID(frame)
	p := frame[HeaderLen:]
	switch f.Type {
	case http2.FrameHeaders:
		if f.StreamID == 0 || !f.Flags.Has(http2.FlagHeadersEndHeaders) {
			return f, false
		}
		pad := 0
		if f.Flags.Has(http2.FlagHeadersPadded) {
			if len(p) < 1 {
				return f, false
			}
			pad, p = int(p[0]), p[1:]
		}
		if f.Flags.Has(http2.FlagHeadersPriority) {
			if len(p) < 5 {
				return f, false
			}
			f.PriorityDep, p = binary.BigEndian.Uint32(p)&(1<<31-1), p[5:]
		}
		if len(p) < pad {
			return f, false
		}
		f.Fragment = p[:len(p)-pad]
		return f, true
	case http2.FrameWindowUpdate:
		if len(p) != 4 {
			return f, false
		}
		f.Increment = binary.BigEndian.Uint32(p) & (1<<31 - 1)
		return f, f.Increment != 0
	}
	return f, false
}

// Order mirrors the Framer's frame-order check: after a HEADERS frame
// without END_HEADERS only CONTINUATION frames of its stream may follow,
// and the Framer must see them all. A codec tells it every frame it hands
// to the Framer (Framer) and uses Parse only while no block is open.
type Order struct {
	open uint32 // stream whose header block awaits CONTINUATION
}

// Open reports a header block awaiting CONTINUATION: every frame goes to
// the Framer.
func (o *Order) Open() bool { return o.open != 0 }

// Framer records a frame handed to the Framer. A frame the Framer's order
// check refuses is a connection error, after which nothing is read.
func (o *Order) Framer(frame []byte) {
	if t := http2.FrameType(frame[3]); t == http2.FrameHeaders || t == http2.FrameContinuation {
		o.open = StreamID(frame)
		if http2.Flags(frame[4]).Has(http2.FlagHeadersEndHeaders) {
			o.open = 0
		}
	}
}
