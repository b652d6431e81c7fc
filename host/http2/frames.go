package http2

import (
	"go.uber.org/zap"
	"golang.org/x/net/http2"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/h2frame"
)

// processFrame applies one complete, syntactically valid frame.
func (c *ServerCodec) processFrame(f http2.Frame) {
	if !c.sawSettings {
		// RFC 9113 3.4: the preface continues with a SETTINGS frame.
		if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
			c.connError(http2.ErrCodeProtocol, "first frame is not SETTINGS")
			return
		}
		c.sawSettings = true
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		c.onSettings(f)
	case *http2.PingFrame:
		c.onPing(f)
	case *http2.GoAwayFrame:
		c.goAwayReceived = true
		if f.ErrCode != http2.ErrCodeNo {
			if ce := c.log.Check(zap.DebugLevel, "http2 peer GOAWAY"); ce != nil {
				ce.Write(zap.Stringer("code", f.ErrCode), zap.Uint32("last_stream_id", f.LastStreamID))
			}
		}
	case *http2.WindowUpdateFrame:
		c.onWindowUpdate(f)
	case *http2.RSTStreamFrame:
		c.onRSTStream(f)
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			c.streamError(f.StreamID, http2.ErrCodeProtocol)
		}
	case *http2.HeadersFrame:
		c.onHeaders(f)
	case *http2.ContinuationFrame:
		c.onContinuation(f)
	case *http2.DataFrame:
		c.onData(f)
	case *http2.PushPromiseFrame:
		// Clients must not push (RFC 9113 8.4).
		c.connError(http2.ErrCodeProtocol, "PUSH_PROMISE from client")
	default:
		// Unknown and extension frame types are ignored (RFC 9113 5.5).
	}
}

func (c *ServerCodec) onSettings(f *http2.SettingsFrame) {
	if f.IsAck() {
		if c.settingsAckOwed > 0 {
			c.settingsAckOwed--
			if c.settingsAckOwed == 0 {
				c.stopSettingsTimer()
			}
		}
		return
	}
	c.stats.SettingsReceived++
	if err := f.ForeachSetting(c.applySetting); err != nil {
		if ce, ok := err.(http2.ConnectionError); ok {
			c.connError(http2.ErrCode(ce), "invalid setting")
		} else {
			c.connError(http2.ErrCodeProtocol, err.Error())
		}
		return
	}
	if c.fatalErr != nil || !c.queueControl() {
		return
	}
	_ = c.fr.WriteSettingsAck()
	// A larger initial window may have unblocked queued DATA.
	c.flushQueued()
	c.notifyWritable()
}

// applySetting applies one peer setting, in order (RFC 9113 6.5.3).
func (c *ServerCodec) applySetting(s http2.Setting) error {
	if err := s.Valid(); err != nil {
		return err
	}
	switch s.ID {
	case http2.SettingHeaderTableSize:
		c.henc.SetMaxDynamicTableSizeLimit(s.Val)
	case http2.SettingInitialWindowSize:
		delta := int64(s.Val) - c.peerInitialWindow
		c.peerInitialWindow = int64(s.Val)
		for _, st := range c.streams {
			st.sendWindow += delta
			if st.sendWindow > maxWindow {
				return http2.ConnectionError(http2.ErrCodeFlowControl)
			}
		}
	case http2.SettingMaxFrameSize:
		c.peerMaxFrameSize = s.Val
	case http2.SettingEnablePush, http2.SettingMaxConcurrentStreams, http2.SettingMaxHeaderListSize:
		// We never push nor open streams; the peer's header list limit is
		// advisory and responses come from the manager's own limits.
	}
	return nil
}

func (c *ServerCodec) onPing(f *http2.PingFrame) {
	if f.IsAck() {
		return // we send no PINGs of our own that need matching
	}
	c.stats.PingsReceived++
	if !c.queueControl() {
		return
	}
	c.scratchPing = f.Data
	_ = c.fr.WritePing(true, c.scratchPing)
}

// isIdle reports a client stream id that was never opened.
func (c *ServerCodec) isIdle(id uint32) bool { return id > c.maxClientID }

func (c *ServerCodec) onWindowUpdate(f *http2.WindowUpdateFrame) {
	c.applyWindowUpdate(f.StreamID, f.Increment)
}

func (c *ServerCodec) applyWindowUpdate(id, increment uint32) {
	inc := int64(increment)
	if id == 0 {
		c.connSendWindow += inc
		if c.connSendWindow > maxWindow {
			c.connError(http2.ErrCodeFlowControl, "connection window above 2^31-1")
			return
		}
		c.flushQueued()
		c.notifyWritable()
		return
	}
	if c.isIdle(id) {
		c.connError(http2.ErrCodeProtocol, "WINDOW_UPDATE on idle stream")
		return
	}
	s := c.findStream(id)
	if s == nil {
		return // closed: updates may race with our end of stream
	}
	s.sendWindow += inc
	if s.sendWindow > maxWindow {
		c.streamError(s.id, http2.ErrCodeFlowControl)
		return
	}
	c.flushStream(s)
	c.notifyWritable()
}

func (c *ServerCodec) onRSTStream(f *http2.RSTStreamFrame) {
	if c.isIdle(f.StreamID) {
		c.connError(http2.ErrCodeProtocol, "RST_STREAM on idle stream")
		return
	}
	s := c.findStream(f.StreamID)
	if s == nil {
		return
	}
	c.removeStream(s)
	if s.decoderDone {
		// Answered already: the client just stops sending its body.
		s.reset(codec.ResetRemote)
		return
	}
	c.stats.ClientResets++
	s.reset(codec.ResetRemote)
	c.countReset()
}

// countReset enforces the rapid-reset budget (CVE-2023-44487): every reset
// of an open stream may have started work upstream, so a client gets
// MaxResetsPerInterval of them per ResetInterval, whether it sent them or
// provoked ours with a stream error.
func (c *ServerCodec) countReset() {
	now := c.t.Now().UnixNano()
	if now-c.resetWindowStart >= int64(c.opts.ResetInterval) {
		c.resetWindowStart = now
		c.resetsInWindow = 0
	}
	c.resetsInWindow++
	if c.resetsInWindow > c.opts.MaxResetsPerInterval {
		c.stats.RapidResetGoAways++
		c.connError(http2.ErrCodeEnhanceYourCalm, "too many stream resets")
	}
}

func (c *ServerCodec) onData(f *http2.DataFrame) {
	id := f.StreamID
	if c.isIdle(id) {
		c.connError(http2.ErrCodeProtocol, "DATA on idle stream")
		return
	}
	if f.Length == 0 && !f.StreamEnded() {
		c.emptyDataRun++
		if c.emptyDataRun > c.opts.MaxConsecutiveEmptyData {
			c.stats.EmptyFrameFloods++
			c.connError(http2.ErrCodeEnhanceYourCalm, "too many empty DATA frames")
			return
		}
	} else {
		c.emptyDataRun = 0
	}
	length := int64(f.Length) // padding included: it is flow controlled too
	if length > c.connRecvWindow {
		c.connError(http2.ErrCodeFlowControl, "DATA beyond the connection window")
		return
	}
	c.connRecvWindow -= length
	s := c.findStream(id)
	if s == nil || s.remoteClosed {
		c.creditConn(length)
		if s == nil && c.recentlyReset(id) {
			return
		}
		c.streamError(id, http2.ErrCodeStreamClosed)
		return
	}
	if length > s.recvWindow {
		c.creditConn(length)
		c.streamError(id, http2.ErrCodeFlowControl)
		return
	}
	s.recvWindow -= length
	data := f.Data()
	s.recvUnacked += length - int64(len(data))
	s.received += int64(len(data))
	end := f.StreamEnded()
	if s.contentLength >= 0 && (s.received > s.contentLength || end && s.received != s.contentLength) {
		c.creditConn(length)
		c.streamError(id, http2.ErrCodeProtocol)
		return
	}
	if end {
		s.remoteClosed = true
	}
	s.deliverData(data, end)
	// The connection window comes back now (unless paused streams hold
	// too much); the stream's when delivered.
	c.creditConn(length)
}

// readDirect applies a HEADERS frame holding a whole header block or a
// WINDOW_UPDATE without the Framer, which allocates a frame object for
// each (h2frame); it reports false, leaving the frame to the Framer, for
// everything else.
func (c *ServerCodec) readDirect(frame []byte) bool {
	if c.order.Open() || !c.sawSettings || c.framerOnly {
		return false
	}
	f, ok := h2frame.Parse(frame)
	if !ok {
		return false
	}
	if f.Type == http2.FrameHeaders {
		c.applyHeaders(f.StreamID, f.Flags, f.PriorityDep, f.Fragment)
	} else {
		c.applyWindowUpdate(f.StreamID, f.Increment)
	}
	return true
}
