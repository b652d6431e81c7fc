package http2

import (
	"errors"

	"go.uber.org/zap"
	"golang.org/x/net/http2"

	"github.com/sluiceproxy/sluice/host/codec"
)

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

// streamError resets stream id with code; an open stream's decoder learns
// it through OnReset(ResetProtocolError). A stream we reset lately gets no
// second RST_STREAM: RFC 9113 5.1 has frames on it ignored, malformed ones
// included, and answering each would let a client make us write a frame
// for every frame it sends.
//
// A stream error on an idle stream (a PRIORITY that depends on itself, a
// zero WINDOW_UPDATE) is a connection error instead: RST_STREAM must not
// name an idle stream (RFC 9113 6.4), and a client may still open it.
func (c *ServerCodec) streamError(id uint32, code http2.ErrCode) {
	if c.isIdle(id) {
		c.connError(code, "stream error on an idle stream")
		return
	}
	if c.findStream(id) == nil && c.recentlyReset(id) {
		return
	}
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
