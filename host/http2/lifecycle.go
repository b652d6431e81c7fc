package http2

import (
	"golang.org/x/net/http2"

	"github.com/sluiceproxy/sluice/host/codec"
)

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

// QueuedBytes is the response data waiting for the peer's flow-control
// windows, summed over open streams (bounded by StreamBufferLimit per
// cooperating stream; for admin and tests).
func (c *ServerCodec) QueuedBytes() int { return c.queuedTotal }
