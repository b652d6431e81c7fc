package network

import (
	"time"

	"github.com/sluiceproxy/sluice/host/worker"
)

// Pipe joins a downstream Connection and an upstream socket into one byte
// pipe on their worker: what one side sends is written to the other, with
// watermark backpressure both ways (a side whose output is above its high
// watermark stops the other side's reading until it drains to the low
// one), and a FIN is passed on as a FIN after what came before it. It is
// what tcp_proxy and the HTTP connection manager's upgraded (WebSocket,
// CONNECT) tunnels run on.
//
// The owner feeds it: the downstream terminal filter's OnData calls
// Downstream, its OnBelowWriteBufferLowWatermark calls DownstreamDrained;
// the Pipe is the upstream socket's handler itself. The owner learns about
// the end through PipeOwner.
type Pipe struct {
	nc    *Connection
	up    *worker.Conn
	owner PipeOwner

	BytesIn, BytesOut int64 // downstream → upstream, upstream → downstream
	LastActive        time.Time

	downEOF, upEOF bool
	upEOFFirst     bool
	downPaused     bool // downstream reading paused for the upstream's output
	upPaused       bool // upstream reading paused for the downstream's output
	ended          bool

	// Counts for the owner's stats (paused/resumed reading of downstream).
	DownstreamPaused, DownstreamResumed int
}

// PipeOwner hears about the pipe's end.
type PipeOwner interface {
	// OnPipeEnd: both directions ended (clean, upstreamClosedFirst says
	// who finished first: the upstream socket then closes after flushing,
	// and the downstream connection closes by itself once the FIN passed
	// its write filters — its close event follows), or the upstream socket
	// died (reset true: the owner ends the downstream side).
	OnPipeEnd(reset bool, upstreamClosedFirst bool)
}

// NewPipe starts moving bytes between nc and up: it becomes up's handler
// and sets up's buffer limit (0: the worker's defaults). Input already
// buffered on either side is delivered by the loop, not inside this call.
func NewPipe(nc *Connection, up *worker.Conn, upLimit int, owner PipeOwner) *Pipe {
	p := &Pipe{nc: nc, up: up, owner: owner, LastActive: nc.w.Now()}
	up.SetHandler(p)
	if upLimit > 0 {
		up.SetReadLimit(upLimit)
		up.SetWatermarks(upLimit, upLimit/2)
	}
	up.ResumeReading()
	up.Redeliver()
	nc.Redeliver()
	return p
}

// Upstream is the upstream socket.
func (p *Pipe) Upstream() *worker.Conn { return p.up }

// Downstream moves the downstream read buffer upstream (call it from the
// terminal filter's OnData) and passes its FIN on.
func (p *Pipe) Downstream(b *Buffer, end bool) {
	if p.ended {
		return
	}
	if n := b.Len(); n > 0 {
		p.up.Write(b.Bytes())
		p.BytesIn += int64(n)
		b.Drain(n)
		p.LastActive = p.nc.w.Now()
		if !p.downPaused && p.up.AboveHighWatermark() {
			p.downPaused = true
			p.DownstreamPaused++
			p.nc.ReadDisable(true) // until the upstream's OnWritable
		}
	}
	if end && !p.downEOF {
		p.downEOF = true
		p.up.CloseWrite() // after what is queued
		p.maybeEnd()
	}
}

// DownstreamData moves p (and then, with end, a FIN) upstream: data the
// terminal filter kept outside the read buffer (injected before the pipe
// existed).
func (p *Pipe) DownstreamData(data []byte, end bool) {
	b := chunk(data)
	p.Downstream(&b, end)
}

// DownstreamDrained: the downstream output went below its low watermark
// (the terminal filter's OnBelowWriteBufferLowWatermark).
func (p *Pipe) DownstreamDrained() {
	p.LastActive = p.nc.w.Now()
	if p.upPaused && !p.ended {
		p.upPaused = false
		p.up.ResumeReading()
	}
}

// UpstreamEndedFirst reports that the upstream sent its FIN before the
// downstream did.
func (p *Pipe) UpstreamEndedFirst() bool { return p.upEOFFirst }

// BothEnded reports that both directions ended with a FIN.
func (p *Pipe) BothEnded() bool { return p.downEOF && p.upEOF }

// Close ends the pipe from the owner's side (downstream closed, a timeout):
// the upstream socket closes after flushing (or at once with abort).
func (p *Pipe) Close(abort bool) {
	if p.ended {
		return
	}
	p.ended = true
	if abort {
		p.up.Close()
	} else {
		p.up.CloseAfterFlush()
	}
}

func (p *Pipe) maybeEnd() {
	if p.downEOF && p.upEOF && !p.ended {
		p.ended = true
		p.up.CloseAfterFlush()
		p.owner.OnPipeEnd(false, p.upEOFFirst)
	}
}

// worker.ConnHandler for the upstream socket.

func (p *Pipe) OnConnect(*worker.Conn, error) {}

func (p *Pipe) OnData(c *worker.Conn) {
	if p.ended {
		return
	}
	if in := c.Input(); len(in) > 0 {
		n := len(in)
		p.nc.Write(in, false)
		p.BytesOut += int64(n)
		c.Consume(n)
		p.LastActive = p.nc.w.Now()
		if !p.upPaused && p.nc.AboveHighWatermark() {
			p.upPaused = true
			c.PauseReading() // until DownstreamDrained
		}
	}
	if c.ReadEOF() && !p.upEOF {
		p.upEOF = true
		p.upEOFFirst = !p.downEOF
		p.nc.Write(nil, true) // FIN after what is queued
		p.maybeEnd()
	}
}

func (p *Pipe) OnWritable(*worker.Conn) {
	if p.ended {
		return
	}
	p.LastActive = p.nc.w.Now() // a reader draining slowly is still alive
	if p.downPaused {
		p.downPaused = false
		p.DownstreamResumed++
		p.nc.ReadDisable(false)
	}
}

func (p *Pipe) OnClose(*worker.Conn, error) {
	if p.ended {
		return
	}
	p.ended = true
	p.owner.OnPipeEnd(true, true)
}
