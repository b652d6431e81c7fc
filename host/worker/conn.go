package worker

import (
	"net/netip"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ConnHandler receives a connection's events, always on its worker's loop
// and never re-entrantly (a method called from inside a callback never
// invokes another callback before the first returns).
type ConnHandler interface {
	// OnConnect: outbound only. The connect finished (err nil) or failed or
	// timed out (err set; the Conn is then closed and OnClose is not called).
	OnConnect(c *Conn, err error)
	// OnData: new input is in c.Input(), or c.ReadEOF() became true.
	OnData(c *Conn)
	// OnWritable: pending output dropped to <= the low watermark after
	// having exceeded the high watermark.
	OnWritable(c *Conn)
	// OnClose: the connection died (reset, I/O error, worker stop). Not
	// called when the owner closes it (Close, CloseAfterFlush).
	OnClose(c *Conn, err error)
}

var lastConnID atomic.Uint64

// Conn is a non-blocking TCP connection owned by one worker. All methods are
// loop-thread only.
type Conn struct {
	w      *Worker
	fd     int
	id     uint64
	h      ConnHandler
	user   any
	local  netip.AddrPort
	remote netip.AddrPort
	// limits hold a slot for an accepted connection until teardown.
	limits []*ConnLimit

	in        []byte // pooled (or grown) input buffer; nil when empty
	inR, inW  int    // unconsumed input is in[inR:inW]
	readLimit int    // cap on unconsumed input; 0: the worker's maxRead
	out       outQueue
	high      int
	low       int

	registered bool
	connecting bool // outbound handshake in progress
	closed     bool // torn down, fd released
	closing    bool // CloseAfterFlush: flushing, then lingering
	lingering  bool // SHUT_WR sent; discarding input until the peer's FIN
	inputDone  bool // the owner said the peer sends nothing more (InputDone)

	readable bool // edge-triggered readiness not yet drained
	writable bool
	peerHup  bool // RDHUP/HUP seen: read until 0 even after a short read
	// prefetched: the first read for this iteration's event was made in
	// the batch (Worker.readBatched); prefetchedBytes: it read something.
	prefetched, prefetchedBytes bool
	eof                         bool
	eofDelivered                bool
	paused                      bool
	redeliver                   bool // ResumeReading: call OnData even without new bytes
	above                       bool // above the high watermark
	inReady                     bool
	inFlush                     bool
	shutWrQueued                bool
	wrShut                      bool

	timer       *Timer // connect (or TLS handshake) timeout
	lingerTimer *Timer // CloseAfterFlush bound

	tls         *tlsLayer // nil: cleartext
	handshaking bool      // a TLS handshake runs on a helper goroutine
}

func (w *Worker) newConn(fd int, remote netip.AddrPort) *Conn {
	w.stats.openConns.Add(1)
	return &Conn{
		w:      w,
		fd:     fd,
		id:     lastConnID.Add(1),
		remote: remote,
		high:   defaultHighWatermark,
		low:    defaultLowWatermark,
	}
}

// register adds the connection to the epoll set, edge-triggered for both
// directions: readiness is tracked in readable/writable, so flow control
// (pause, resume, write interest) never costs an epoll_ctl.
func (c *Conn) register() error {
	err := c.w.register(c.fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET,
		fdEntry{kind: kindConn, conn: c})
	c.registered = err == nil
	return err
}

// SetHandler sets the event handler; for accepted connections, call it in
// onAccept before returning.
func (c *Conn) SetHandler(h ConnHandler) { c.h = h }

// ID is process-unique and increasing.
func (c *Conn) ID() uint64 { return c.id }

// Worker is the connection's owner.
func (c *Conn) Worker() *Worker { return c.w }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// LocalAddr is the local address (looked up once, lazily).
func (c *Conn) LocalAddr() netip.AddrPort {
	if !c.local.IsValid() && !c.closed {
		if a, err := c.w.getsockname(c.fd); err == nil {
			c.local = a
		}
	}
	return c.local
}

// SetUserData attaches an arbitrary value to the connection.
func (c *Conn) SetUserData(v any) { c.user = v }

// UserData returns the value set by SetUserData.
func (c *Conn) UserData() any { return c.user }

// Closed reports whether the connection is closed or closing (after
// CloseAfterFlush); writes are then dropped.
func (c *Conn) Closed() bool { return c.closed || c.closing }

// Close closes now and discards pending output. OnClose is not called.
func (c *Conn) Close() { c.teardown() }

// teardown releases everything the connection holds. The fd itself is
// closed at the end of the loop iteration (see closeDeferred).
func (c *Conn) teardown() {
	if c.closed {
		return
	}
	w := c.w
	c.closed, c.closing, c.lingering = true, false, false
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.lingerTimer != nil {
		c.lingerTimer.Stop()
	}
	if c.registered {
		if c.tls == nil {
			// Closed by closeDeferred before the next epoll_wait, which
			// drops it from the epoll set: no EPOLL_CTL_DEL needed.
			w.forget(c.fd)
		} else {
			// A handshake helper may keep the socket open a while.
			w.unregister(c.fd)
		}
		c.registered = false
	}
	c.releaseInput()
	w.stats.txBuffered.Add(-int64(c.out.size))
	c.out.reset(&w.pool)
	if c.tls != nil {
		w.stats.txBuffered.Add(-int64(c.tls.out.size))
		c.tls.out.reset(&w.pool)
	}
	// A handshake helper still using the socket closes it itself.
	if !c.abortHandshake() {
		w.closeLater = append(w.closeLater, c.fd)
	}
	w.stats.openConns.Add(-1)
	w.stats.closed.Add(1)
	for _, lim := range c.limits {
		lim.release()
	}
	c.limits = nil
}

// fail tears the connection down because of err and queues the owner's
// notification: OnConnect for a dial in progress, OnClose otherwise, nothing
// if the owner already let go (CloseAfterFlush).
func (c *Conn) fail(err error) {
	if c.closed {
		return
	}
	connecting, handshaking, ownerClosed := c.connecting, c.handshaking, c.closing
	c.teardown()
	c.handshaking = false
	if handshaking {
		c.w.stats.tlsHandshakeFails.Add(1)
	}
	if ownerClosed {
		return
	}
	if connecting || handshaking {
		if connecting {
			c.w.stats.connectFails.Add(1)
		}
		c.w.enqueue(c, evConnect, err)
		return
	}
	c.w.enqueue(c, evClose, err)
}

// socketError reads and clears SO_ERROR.
func (c *Conn) socketError() error {
	v, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err
	}
	if v != 0 {
		return unix.Errno(v)
	}
	return nil
}

// onEvents handles one epoll report for the connection (top level).
func (c *Conn) onEvents(ev uint32) {
	prefetched, prefetchedBytes := c.prefetched, c.prefetchedBytes
	c.prefetched, c.prefetchedBytes = false, false
	if c.connecting {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if !c.finishConnect() {
			return
		}
	}
	if c.handshaking {
		// The handshake's helper goroutine does the socket's I/O; it only
		// needs to hear that something happened.
		c.tls.wire.hs.wake()
		c.w.YieldBeforeSleep()
		return
	}
	if ev&unix.EPOLLERR != 0 {
		if err := c.socketError(); err != nil {
			c.fail(err)
			return
		}
	}
	if ev&(unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 {
		c.peerHup = true
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 && !prefetched {
		c.readable = true
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP) != 0 {
		c.writable = true
		if c.pending() > 0 || c.shutWrQueued || c.closing {
			c.flush()
			if c.closed {
				return
			}
		}
	}
	if c.lingering {
		c.drainLinger()
		return
	}
	if prefetched {
		// This event's first read was made in the iteration's batch
		// (Worker.readBatched) and its result applied: deliver it, and
		// read on only if it filled its space.
		if !c.closing {
			c.serviceRead(prefetchedBytes)
		}
		return
	}
	if c.canRead() && !c.closing {
		c.serviceRead(false)
	}
}

// finishConnect completes an outbound handshake; false if it failed.
func (c *Conn) finishConnect() bool {
	if c.timer != nil {
		c.timer.Stop()
	}
	if err := c.socketError(); err != nil {
		c.fail(err)
		return false
	}
	c.connecting = false
	c.writable = true
	if c.tls != nil {
		c.startHandshake(nil, c.tls.timeout)
		return true
	}
	if !c.closing {
		c.h.OnConnect(c, nil)
	}
	return !c.closed
}
