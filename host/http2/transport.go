package http2

import (
	"io"
	"time"
)

// transport is the slice of the worker connection the codec uses. Production
// code wraps a codec.Transport (workerTransport); unit tests use an in-memory one,
// which is how the state machine is tested frame by frame.
type transport interface {
	// Write appends to the connection's output (copied).
	Write(p []byte)
	// Pending is how many output bytes are not yet on the socket.
	Pending() int
	// AboveHighWatermark reports connection-level output backpressure.
	AboveHighWatermark() bool
	// Now is the loop's cached clock.
	Now() time.Time
	// AfterFunc runs fn on the loop after d.
	AfterFunc(d time.Duration, fn func()) stopper
	// Post runs fn on the loop soon, outside the current callback stack.
	Post(fn func())
}

type stopper interface{ Stop() bool }

// frameSink adapts transport.Write to the io.Writer the Framer writes
// through; the Framer emits each frame with one Write.
type frameSink struct{ t transport }

func (s frameSink) Write(p []byte) (int, error) {
	s.t.Write(p)
	return len(p), nil
}

// frameSource is the io.Reader the Framer reads from: Dispatch points it at
// exactly one complete frame, so a read can never block or come up short.
type frameSource struct{ b []byte }

func (s *frameSource) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}
