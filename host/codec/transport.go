package codec

import "github.com/sluiceproxy/sluice/host/worker"

// Transport is the downstream connection as a server codec sees it: output,
// read flow control and the owning loop. The connection manager hands a
// codec its network connection (so output passes the network write
// filters); tests and small servers use a bare socket (SocketTransport).
// Every method is loop-thread only.
type Transport interface {
	// ID is the connection id (the one logs and access logs show).
	ID() uint64
	// Worker is the owning loop: its clock, timers and post queue.
	Worker() *worker.Worker
	// Write queues p (copied) for the peer.
	Write(p []byte)
	// Pending is the output not yet on the socket.
	Pending() int
	// AboveHighWatermark reports output backpressure.
	AboveHighWatermark() bool
	// ReadDisable stops (true) or resumes (false) reading; it counts, so
	// every disable needs its enable.
	ReadDisable(disable bool)
	// BufferedInput is how many input bytes wait unparsed.
	BufferedInput() int
	// Redeliver runs the codec's Dispatch again soon with the buffered
	// input, even if nothing new arrives (a pipelined request waits).
	Redeliver()
	// CloseAfterFlush ends the connection once what was written is sent.
	CloseAfterFlush()
	// InputDone says the client sends nothing more (it asked to close,
	// and its request was read whole): CloseAfterFlush need not wait for
	// its FIN.
	InputDone()
}

// SocketTransport is a Transport over a bare worker connection.
func SocketTransport(c *worker.Conn) Transport { return &socket{c: c} }

type socket struct {
	c        *worker.Conn
	disabled int
}

func (s *socket) ID() uint64               { return s.c.ID() }
func (s *socket) Worker() *worker.Worker   { return s.c.Worker() }
func (s *socket) Write(p []byte)           { s.c.Write(p) }
func (s *socket) Pending() int             { return s.c.Pending() }
func (s *socket) AboveHighWatermark() bool { return s.c.AboveHighWatermark() }
func (s *socket) BufferedInput() int       { return len(s.c.Input()) }
func (s *socket) Redeliver()               { s.c.Redeliver() }
func (s *socket) CloseAfterFlush()         { s.c.CloseAfterFlush() }
func (s *socket) InputDone()               { s.c.InputDone() }

func (s *socket) ReadDisable(disable bool) {
	if disable {
		s.disabled++
		s.c.PauseReading()
		return
	}
	if s.disabled > 0 {
		s.disabled--
	}
	if s.disabled == 0 {
		s.c.ResumeReading()
	}
}
