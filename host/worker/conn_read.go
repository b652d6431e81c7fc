package worker

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Input is the unconsumed input (a view into the connection's buffer, valid
// until Consume or the next read).
func (c *Conn) Input() []byte {
	if c.in == nil {
		return nil
	}
	return c.in[c.inR:c.inW]
}

// Consume discards n bytes from the front of Input. It panics if n is
// negative or more than len(Input()); on a closed connection it does nothing.
func (c *Conn) Consume(n int) {
	if c.closed && n >= 0 {
		return // Close already dropped the input; keep the caller's bookkeeping harmless
	}
	if n < 0 || n > c.inW-c.inR {
		panic("worker: Consume out of range")
	}
	wasFull := c.inW-c.inR >= c.maxInput()
	c.inR += n
	if c.inR == c.inW {
		// Empty buffers go back to the pool at once: an idle connection
		// holds no input memory.
		c.releaseInput()
	}
	if wasFull && c.canRead() && !c.closed && !c.closing {
		c.w.markReady(c)
	}
}

// SetReadLimit caps this connection's unconsumed input (default: the
// worker's MaxReadBuffer); reading pauses while it is reached and resumes
// as the handler consumes. n <= 0 restores the default.
func (c *Conn) SetReadLimit(n int) { c.readLimit = n }

func (c *Conn) maxInput() int {
	if c.readLimit > 0 {
		return c.readLimit
	}
	return c.w.maxRead
}

// AppendInput adds p after the unconsumed input, as if it had been read
// (for a filter that rewrites what the peer sent). The read limit does not
// apply.
func (c *Conn) AppendInput(p []byte) {
	if len(p) == 0 || c.closed {
		return
	}
	if c.in == nil {
		c.in = c.w.pool.get()
		c.inR, c.inW = 0, 0
	}
	if len(c.in)-c.inW < len(p) {
		c.makeRoom(len(p))
	}
	c.inW += copy(c.in[c.inW:], p)
}

// PrependInput puts p before the unconsumed input.
func (c *Conn) PrependInput(p []byte) {
	if len(p) == 0 || c.closed {
		return
	}
	if c.in != nil && c.inR >= len(p) {
		c.inR -= len(p)
		copy(c.in[c.inR:], p)
		return
	}
	rest := c.Input()
	joined := make([]byte, 0, max(len(p)+len(rest), c.w.readSize))
	joined = append(append(joined, p...), rest...)
	if c.in != nil {
		c.w.pool.put(c.in)
	}
	c.in, c.inR, c.inW = joined[:cap(joined)], 0, len(joined)
}

// ReadEOF reports that the peer half-closed (no more input will come).
func (c *Conn) ReadEOF() bool { return c.eof }

// PauseReading stops reading from the socket (the kernel's receive window
// then pushes back on the peer) and stops OnData until ResumeReading.
func (c *Conn) PauseReading() { c.paused = true }

// ResumeReading undoes PauseReading; if input is buffered or the socket is
// readable, OnData runs again soon (in this or the next loop iteration, never
// inside this call).
func (c *Conn) ResumeReading() {
	if !c.paused {
		return
	}
	c.paused = false
	if c.closed || c.closing {
		return
	}
	if c.inW > c.inR || c.eof {
		c.redeliver = true
	}
	if c.redeliver || c.canRead() {
		c.w.markReady(c)
	}
}

// canRead reports that a read may produce input: the socket is readable
// (edge not yet drained), or TLS holds input no edge will announce.
func (c *Conn) canRead() bool { return c.readable || (c.tls != nil && c.tls.more) }

// Redeliver asks for OnData to run again soon with the input already
// buffered, even if no new byte arrives: for a handler that left input
// unconsumed and can now take it (an HTTP/1 response finished and a
// pipelined request waits). It runs in this iteration's ready phase, or the
// next iteration's when called from that phase; never inside this call. A
// no-op while reading is paused (ResumeReading redelivers) or closed.
func (c *Conn) Redeliver() {
	if c.closed || c.closing || c.paused {
		return
	}
	c.redeliver = true
	c.w.markReady(c)
}

// ReadPaused reports whether PauseReading is in effect.
func (c *Conn) ReadPaused() bool { return c.paused }

// serviceRead reads within the fairness budget and calls OnData after each
// chunk (or once for a newly seen EOF, or once for already buffered input
// when force is set). Top level only.
func (c *Conn) serviceRead(force bool) {
	for i := 0; i < readBudget; i++ {
		if c.closed || c.closing || c.paused || c.handshaking {
			return
		}
		n := 0
		if c.canRead() && !c.eof {
			n = c.readOnce()
			if c.closed {
				return
			}
		}
		newEOF := c.eof && !c.eofDelivered
		if n == 0 && !newEOF && !force {
			return
		}
		force = false
		c.eofDelivered = c.eof
		c.h.OnData(c)
		if n == 0 {
			return
		}
	}
	if c.canRead() && !c.eof && !c.closed {
		c.w.markReady(c)
	}
}

// readOnce does one read(2) into the input buffer. It returns the byte count
// (0 for EOF, EAGAIN, a full buffer or an error; the state flags say which).
func (c *Conn) readOnce() int {
	if c.tls != nil {
		return c.readTLS()
	}
	space := c.readSpace()
	if space == nil {
		return 0
	}
	for {
		n, err := readNonblocking(c.fd, space)
		if err == unix.EINTR {
			continue
		}
		return c.readResult(n, err, len(space))
	}
}

// readSpace is where the next read goes: the free end of the input buffer
// (taken from the pool, compacted or grown as needed), at most one read
// size and never past the input limit; nil when the input is full.
func (c *Conn) readSpace() []byte {
	w := c.w
	room := c.maxInput() - (c.inW - c.inR)
	if room <= 0 {
		return nil
	}
	want := min(w.readSize, room)
	if c.in == nil {
		c.in = w.pool.get()
		c.inR, c.inW = 0, 0
	}
	if len(c.in)-c.inW < want {
		c.makeRoom(want)
	}
	space := c.in[c.inW:]
	if len(space) > room {
		space = space[:room]
	}
	return space
}

// readResult applies the result of a read of up to space bytes into
// readSpace (made by readOnce or in a batch: Worker.readBatched) and
// returns the byte count, as readOnce does.
func (c *Conn) readResult(n int, err error, space int) int {
	w := c.w
	switch {
	case err == nil && n > 0:
		c.inW += n
		w.stats.bytesRead.Add(uint64(n))
		// With edge triggering a short read means the socket is drained:
		// the next arrival raises a new edge, so skip the EAGAIN read.
		// Not after RDHUP: the FIN arrived with this edge and only a read
		// returning 0 reports it.
		if n < space && !c.peerHup {
			c.readable = false
		}
		return n
	case err == nil:
		c.eof, c.readable = true, false
	case err == unix.EAGAIN:
		c.readable = false
	default:
		c.fail(err)
		return 0
	}
	if c.inW == c.inR {
		c.releaseInput()
	}
	return 0
}

// makeRoom ensures want free bytes after inW: compact if that suffices,
// otherwise grow (doubling, capped at MaxReadBuffer).
func (c *Conn) makeRoom(want int) {
	w := c.w
	unconsumed := c.inW - c.inR
	if c.inR > 0 && len(c.in)-unconsumed >= want {
		copy(c.in, c.in[c.inR:c.inW])
		c.inR, c.inW = 0, unconsumed
		return
	}
	size := min(max(2*len(c.in), unconsumed+want), max(c.maxInput(), unconsumed+want))
	grown := make([]byte, size)
	copy(grown, c.in[c.inR:c.inW])
	w.pool.put(c.in)
	c.in, c.inR, c.inW = grown, 0, unconsumed
}

func (c *Conn) releaseInput() {
	if c.in != nil {
		c.w.pool.put(c.in)
		c.in = nil
	}
	c.inR, c.inW = 0, 0
}

// readNonblocking is read(2) on a non-blocking socket as a raw syscall: it
// never sleeps, so the Go scheduler need not be told (as sendmsg).
func readNonblocking(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}
