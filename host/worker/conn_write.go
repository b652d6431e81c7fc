package worker

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// flushNowBytes: output beyond this is sent from inside Write rather than at
// the end of the iteration, so a large response does not sit in memory.
const flushNowBytes = 64 << 10

// Write appends a copy of p to the output. It is sent at the end of the
// current loop iteration (or at once when large). Dropped if the connection
// is closed, closing, or its write side was shut.
func (c *Conn) Write(p []byte) {
	if len(p) == 0 || c.closed || c.closing || c.wrShut || c.shutWrQueued {
		return
	}
	w := c.w
	c.out.append(p, &w.pool)
	w.stats.txBuffered.Add(int64(len(p)))
	c.queueFlush()
	if c.out.size >= flushNowBytes {
		c.flush()
		if c.closed {
			return
		}
	}
	if c.pending() > c.high {
		c.above = true
	}
}

// queueFlush puts the connection on this iteration's flush list.
func (c *Conn) queueFlush() {
	if !c.inFlush {
		c.inFlush = true
		c.w.flushQ = append(c.w.flushQ, c)
	}
}

// Flush tries to send pending output now.
func (c *Conn) Flush() { c.flush() }

// Pending is the number of output bytes not yet written to the socket
// (with TLS: plaintext not yet encrypted plus records not yet sent).
func (c *Conn) Pending() int { return c.pending() }

func (c *Conn) pending() int {
	if c.tls != nil {
		return c.out.size + c.tls.out.size
	}
	return c.out.size
}

// SetWatermarks sets the output high/low watermarks (default 1 MiB / 512
// KiB). low is clamped to high.
func (c *Conn) SetWatermarks(high, low int) {
	if low > high {
		low = high
	}
	c.high, c.low = high, low
	if c.pending() > c.high {
		c.above = true
	}
}

// AboveHighWatermark reports that pending output exceeded the high
// watermark and has not yet drained to the low one (OnWritable follows).
func (c *Conn) AboveHighWatermark() bool { return c.above }

// CloseWrite shuts down the write side (FIN) once pending output is sent.
func (c *Conn) CloseWrite() {
	if c.closed || c.closing || c.wrShut || c.shutWrQueued {
		return
	}
	c.shutWrQueued = true
	c.flush()
}

// CloseAfterFlush sends pending output, half-closes, discards input until
// the peer's FIN, then closes. It gives up when the flush makes no
// progress for 5 s, or 5 s after the half-close: a slow reader still gets
// a large response whole (as with Envoy's delayed_close_timeout, progress
// restarts the clock). Owner-initiated: no OnClose, and Closed reports true
// at once.
func (c *Conn) CloseAfterFlush() {
	if c.closed || c.closing {
		return
	}
	c.closing = true
	c.releaseInput()
	c.flush()
	if !c.closed {
		// Output still queued, or lingering for the peer's FIN: bound
		// both. (A close that is over at once needs no timer.)
		c.lingerTimer = c.w.AfterFunc(lingerTimeout, c.teardown)
	}
}

// flush writes as much pending output as the socket takes, with one
// sendmsg per batch of buffers. With TLS, plaintext is encrypted as the
// records ahead of it leave.
func (c *Conn) flush() {
	if c.closed || c.connecting || c.handshaking {
		return
	}
	w := c.w
	for {
		q := &c.out
		if c.tls != nil {
			if !c.encrypt() {
				return
			}
			q = &c.tls.out
		}
		if !c.send(q) {
			return
		}
		if c.tls == nil || !c.writable || q.size > 0 || c.out.size == 0 {
			break
		}
	}
	if c.above && c.pending() <= c.low {
		c.above = false
		if !c.closing {
			w.enqueue(c, evWritable, nil)
		}
	}
	if c.pending() > 0 {
		return
	}
	if c.shutWrQueued {
		c.shutWrQueued, c.wrShut = false, true
		unix.Shutdown(c.fd, unix.SHUT_WR)
	}
	if c.closing && !c.lingering {
		if c.inputDone && !c.readable && c.tls == nil {
			// Nothing more coming, and nothing arrived since the last
			// read: closing cannot make the kernel reset the connection
			// under the response, so there is nothing to linger for.
			c.w.stats.closedWithoutLinger.Add(1)
			c.teardown()
			return
		}
		c.startLinger()
	}
}

// InputDone says the peer will send nothing more than what was read
// (an HTTP/1 client that asked to close, whose request was read whole and
// nothing after it): CloseAfterFlush then closes as soon as the output is
// sent, instead of half-closing and reading until the peer's FIN, unless
// the socket reported input since the last read. Loop thread only.
func (c *Conn) InputDone() { c.inputDone = true }

// send writes q while the socket takes it; false if the connection failed.
func (c *Conn) send(q *outQueue) bool {
	w := c.w
	for q.size > 0 && c.writable {
		n, total := q.fill(&w.iov)
		w.msg.SetIovlen(n)
		sent, errno := sendmsg(c.fd, &w.msg)
		if !c.sent(q, sent, total, errno) {
			return false
		}
	}
	return true
}

// sent applies the result of one sendmsg of total bytes from q (made here
// or in a batch: Worker.flushBatched); false if the connection failed.
func (c *Conn) sent(q *outQueue, sent, total int, errno unix.Errno) bool {
	w := c.w
	switch {
	case errno == 0:
		q.consume(sent, &w.pool)
		w.stats.bytesWritten.Add(uint64(sent))
		w.stats.txBuffered.Add(-int64(sent))
		if c.closing && sent > 0 {
			if c.lingerTimer != nil {
				c.lingerTimer.Reset(lingerTimeout)
			}
		}
		if sent < total {
			// Socket buffer full: the edge-triggered EPOLLOUT resumes us.
			c.writable = false
		}
	case errno == unix.EINTR:
	case errno == unix.EAGAIN:
		c.writable = false
	default:
		c.fail(errno)
		return false
	}
	return true
}

// sendmsg with MSG_NOSIGNAL: a write to a reset peer returns EPIPE instead
// of raising SIGPIPE. Called with the worker's own msghdr/iovec (heap
// memory), so nothing here allocates. The socket is non-blocking
// (MSG_DONTWAIT too), so the call never sleeps: it is made as a raw syscall,
// without telling the Go scheduler, which saves the enter/exit bookkeeping
// on every write (see RATIONALE.md).
func sendmsg(fd int, msg *unix.Msghdr) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(msg)),
		unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
	return int(r), e
}

// startLinger half-closes, then discards input until the peer's FIN: closing
// with unread input would make the kernel send RST, which can destroy the
// response the peer has not read yet.
func (c *Conn) startLinger() {
	c.lingering = true
	unix.Shutdown(c.fd, unix.SHUT_WR)
	c.drainLinger()
}

func (c *Conn) drainLinger() {
	w := c.w
	buf := w.pool.get()
	defer w.pool.put(buf)
	// Bounded so a flooding peer cannot hold the loop; with edge triggering
	// its next segment raises a new edge, and the linger timer bounds the rest.
	for i := 0; i < 4*readBudget; i++ {
		n, err := unix.Read(c.fd, buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		case err != nil || n == 0:
			c.teardown()
			return
		}
	}
}

// outQueue is the pending output: a list of pooled chunks, the first
// partially sent (head bytes gone).
type outQueue struct {
	chunks [][]byte
	head   int
	size   int
}

func (q *outQueue) append(p []byte, pool *bufPool) {
	q.size += len(p)
	for len(p) > 0 {
		if n := len(q.chunks); n > 0 {
			last := q.chunks[n-1]
			if k := copy(last[len(last):cap(last)], p); k > 0 {
				q.chunks[n-1] = last[:len(last)+k]
				p = p[k:]
				continue
			}
		}
		q.chunks = append(q.chunks, pool.get()[:0])
	}
}

// fill points iov at the pending chunks; returns the count and byte total.
func (q *outQueue) fill(iov *[maxIovecs]unix.Iovec) (int, int) {
	n, total := 0, 0
	for i, ch := range q.chunks {
		if i == maxIovecs {
			break
		}
		if i == 0 {
			ch = ch[q.head:]
		}
		iov[i].Base = &ch[0]
		iov[i].SetLen(len(ch))
		total += len(ch)
		n++
	}
	return n, total
}

// consume drops n sent bytes, returning emptied chunks to the pool.
func (q *outQueue) consume(n int, pool *bufPool) {
	q.size -= n
	k := 0
	for n > 0 {
		rest := len(q.chunks[k]) - q.head
		if n < rest {
			q.head += n
			break
		}
		n -= rest
		pool.put(q.chunks[k])
		k++
		q.head = 0
	}
	if k > 0 {
		m := copy(q.chunks, q.chunks[k:])
		clear(q.chunks[m:])
		q.chunks = q.chunks[:m]
	}
}

func (q *outQueue) reset(pool *bufPool) {
	for i, ch := range q.chunks {
		pool.put(ch)
		q.chunks[i] = nil
	}
	q.chunks = q.chunks[:0]
	q.head, q.size = 0, 0
}
