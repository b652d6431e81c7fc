package worker

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// TLS on a worker connection. The owner keeps the same API: Input holds
// plaintext, Write takes plaintext, watermarks count everything not yet on
// the wire. Underneath, the handshake runs on a helper goroutine (crypto/tls
// wants a blocking net.Conn) that reads and writes the socket itself and
// sleeps on a channel the loop kicks when epoll reports the socket; once it
// finishes, the record layer runs on the loop over the same crypto/tls.Conn
// without ever blocking (see tls_wire.go and RATIONALE.md).

// ErrHandshakeTimeout is passed to OnConnect when a TLS handshake did not
// finish within its timeout.
var ErrHandshakeTimeout = errors.New("worker: TLS handshake timed out")

// HandshakeError is passed to OnConnect when a TLS handshake failed: the
// peer is not speaking TLS, refused ours, sent a certificate that did not
// verify (errors.As finds the *tls.CertificateVerificationError), ...
type HandshakeError struct{ Err error }

func (e *HandshakeError) Error() string { return "TLS handshake failed: " + e.Err.Error() }
func (e *HandshakeError) Unwrap() error { return e.Err }

// VerifyFailed reports that the peer's certificate did not verify.
func (e *HandshakeError) VerifyFailed() bool {
	var v *tls.CertificateVerificationError
	return errors.As(e.Err, &v)
}

// tlsLayer is a connection's TLS state.
type tlsLayer struct {
	tc   *tls.Conn
	wire tlsWire
	// out holds records waiting for the socket; the Conn's own output
	// queue holds plaintext not yet encrypted.
	out outQueue
	// more: crypto/tls may hold input (a partial or further record) that
	// no epoll edge will announce; reads continue until it says "would
	// block".
	more     bool
	notified bool          // close_notify queued
	timeout  time.Duration // DialTLS: the handshake's, once connected
}

// maxEncryptAhead bounds the records encrypted ahead of the socket; the
// rest of the output stays plaintext until those are sent.
const maxEncryptAhead = 64 << 10

// StartTLS makes an accepted connection a TLS server connection: the
// handshake starts now, over the input already buffered (bytes a listener
// filter looked at) and what follows. OnConnect(c, nil) reports that it
// finished; OnConnect(c, err) that it failed (the connection is then closed
// and OnClose is not called). Until then OnData is not called; Write is
// allowed and is sent once the handshake finished. timeout 0: no bound.
// Loop thread only; call it once, after SetHandler.
func (c *Conn) StartTLS(cfg *tls.Config, timeout time.Duration) {
	if c.closed || c.closing || c.tls != nil {
		return
	}
	c.tls = &tlsLayer{}
	c.tls.wire = tlsWire{c: c, fd: c.fd}
	c.tls.tc = tls.Server(&c.tls.wire, cfg)
	prefix := append([]byte(nil), c.Input()...)
	c.releaseInput()
	c.eof, c.eofDelivered = false, false
	c.startHandshake(prefix, timeout)
}

// DialTLS is Dial followed by a TLS client handshake with cfg: OnConnect
// reports the end of both (err is the connect's or the handshake's error;
// a certificate that fails verification gives a *tls.CertificateVerificationError
// or x509 error). timeout bounds the connect and then the handshake.
func (w *Worker) DialTLS(addr netip.AddrPort, timeout time.Duration, cfg *tls.Config, h ConnHandler) (*Conn, error) {
	return w.dial(addr, timeout, cfg, h)
}

// Handshaking reports that a TLS handshake is in progress (OnConnect will
// tell how it ended).
func (c *Conn) Handshaking() bool { return c.handshaking }

// TLSConnectionState describes the connection's TLS session; ok is false
// for a cleartext connection or before the handshake finished.
func (c *Conn) TLSConnectionState() (st tls.ConnectionState, ok bool) {
	if c.tls == nil || c.handshaking || c.tls.tc == nil {
		return st, false
	}
	return c.tls.tc.ConnectionState(), true
}

// startHandshake hands the socket to a helper goroutine until the
// handshake ends.
func (c *Conn) startHandshake(prefix []byte, timeout time.Duration) {
	hs := &handshake{
		kick:   make(chan struct{}, 1),
		abort:  make(chan struct{}),
		prefix: prefix,
	}
	c.handshaking = true
	c.tls.wire.hs = hs
	if timeout > 0 {
		if c.timer != nil {
			c.timer.Stop()
		}
		c.timer = c.w.AfterFunc(timeout, c.handshakeTimedOut)
	}
	c.w.stats.tlsHandshakes.Add(1)
	go runHandshake(c.w, c, c.tls.tc, hs, c.fd)
}

// runHandshake is the helper goroutine. It touches only the handshake, the
// tls.Conn and the socket; the loop learns the outcome from a Post, or, if
// it gave up on the connection meanwhile, the helper closes the socket
// (the loop left that to it, so the number is never reused under it).
func runHandshake(w *Worker, c *Conn, tc *tls.Conn, hs *handshake, fd int) {
	hs.err = tc.Handshake()
	if hs.state.CompareAndSwap(hsRunning, hsFinished) {
		w.Post(func() { c.handshakeDone(hs) })
		return
	}
	unix.Close(fd)
}

func (c *Conn) handshakeTimedOut() {
	if c.handshaking && !c.closed {
		c.fail(ErrHandshakeTimeout)
	}
}

// abortHandshake is teardown's part: it reports whether the helper still
// runs and now owns the socket (it closes it when it returns).
func (c *Conn) abortHandshake() bool {
	if c.tls == nil || c.tls.wire.hs == nil {
		return false
	}
	hs := c.tls.wire.hs
	if !hs.state.CompareAndSwap(hsRunning, hsAborted) {
		return false // finished: its Post will find the connection closed
	}
	close(hs.abort)
	return true
}

// handshakeDone runs on the loop (posted by the helper).
func (c *Conn) handshakeDone(hs *handshake) {
	if c.closed || c.tls == nil || c.tls.wire.hs != hs {
		return
	}
	w := c.w
	c.tls.wire.hs = nil // the socket is the loop's again
	if c.timer != nil {
		c.timer.Stop()
	}
	if hs.err != nil {
		c.fail(&HandshakeError{Err: hs.err}) // still handshaking: reported through OnConnect
		return
	}
	c.handshaking = false
	// The helper used the socket meanwhile: assume it ready both ways
	// (at worst one read or write reports EAGAIN), and crypto/tls may
	// already hold application data that arrived with the last flight.
	c.readable, c.writable, c.tls.more = true, true, true
	if c.closing {
		c.flush() // CloseAfterFlush during the handshake
		return
	}
	w.enqueue(c, evConnect, nil)
	w.markReady(c)
	if c.out.size > 0 || c.shutWrQueued {
		c.queueFlush()
	}
}

// readTLS reads one record's worth of plaintext into the input buffer; like
// readOnce it returns the byte count and leaves EOF, "would block" and
// errors in the state flags.
func (c *Conn) readTLS() int {
	w := c.w
	room := c.maxInput() - (c.inW - c.inR)
	if room <= 0 {
		return 0
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
	n, err := c.tls.tc.Read(space)
	if n > 0 {
		c.inW += n
		c.tls.more = true // a further record may be buffered already
		return n
	}
	c.tls.more = false
	switch {
	case err == nil || err == errWouldBlock: // crypto/tls returns it as is
	case err == io.EOF:
		// close_notify, or the peer's FIN at a record boundary.
		c.eof, c.readable = true, false
	default:
		// A bad record: crypto/tls queued an alert; send it, then give up.
		c.flush()
		c.fail(err)
		return 0
	}
	if c.inW == c.inR {
		c.releaseInput()
	}
	return 0
}

// readTLSWire is the loop's socket read for crypto/tls: never blocks.
func (c *Conn) readTLSWire(p []byte) (int, error) {
	if !c.readable || c.closed {
		return 0, errWouldBlock
	}
	for {
		n, err := readNonblocking(c.fd, p)
		switch {
		case err == nil && n > 0:
			c.w.stats.bytesRead.Add(uint64(n))
			if n < len(p) && !c.peerHup {
				c.readable = false // drained: the next arrival raises an edge
			}
			return n, nil
		case err == nil:
			c.readable = false
			return 0, io.EOF
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			c.readable = false
			return 0, errWouldBlock
		default:
			return 0, err
		}
	}
}

// writeTLSWire takes records from crypto/tls on the loop: queued, sent by
// the flush (several records leave in one sendmsg).
func (c *Conn) writeTLSWire(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	c.tls.out.append(p, &c.w.pool)
	c.w.stats.txBuffered.Add(int64(len(p)))
	c.queueFlush()
	return len(p), nil
}

// encrypt turns pending plaintext into records, keeping at most
// maxEncryptAhead of them waiting for the socket; then, if the owner
// asked for a FIN, the close_notify alert. false: the connection failed.
func (c *Conn) encrypt() bool {
	t, w := c.tls, c.w
	for c.out.size > 0 && t.out.size < maxEncryptAhead {
		chunk := c.out.chunks[0][c.out.head:]
		if _, err := t.tc.Write(chunk); err != nil {
			c.fail(err)
			return false
		}
		c.out.consume(len(chunk), &w.pool)
		w.stats.txBuffered.Add(-int64(len(chunk)))
	}
	if c.out.size == 0 && (c.shutWrQueued || c.closing) && !t.notified {
		t.notified = true
		t.tc.CloseWrite() // queues close_notify through writeTLSWire
	}
	return true
}
