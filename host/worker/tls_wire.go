package worker

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// tlsWire is the net.Conn under a connection's crypto/tls.Conn: the socket
// itself. While the handshake runs, a helper goroutine owns it and its
// calls wait (for a kick from the loop, never in the loop); afterwards the
// loop owns it and nothing waits: an empty socket is reported as a
// temporary net.Error, on which crypto/tls keeps what it has buffered and
// returns, and output is queued on the connection.
type tlsWire struct {
	c  *Conn
	fd int
	hs *handshake // set while the helper goroutine owns the wire
}

// handshake is what the loop and a handshake's helper goroutine share.
type handshake struct {
	kick   chan struct{} // capacity 1: the socket may have become ready
	abort  chan struct{} // closed by the loop: give up
	state  atomic.Int32  // hsRunning, then hsFinished (helper) or hsAborted (loop)
	prefix []byte        // input read before the handshake started (a listener filter's)
	err    error         // the handshake's outcome; written before hsFinished
}

const (
	hsRunning int32 = iota
	hsFinished
	hsAborted
)

// errWouldBlock is what the wire returns on the loop when the socket has
// nothing to read: temporary, so crypto/tls keeps a partial record and
// stays usable.
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "worker: socket would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// errHandshakeAborted ends a helper's wait when the loop gave up on the
// connection (closed, timed out, worker stopping).
var errHandshakeAborted = errors.New("worker: TLS handshake aborted")

func (wr *tlsWire) Read(p []byte) (int, error) {
	if hs := wr.hs; hs != nil {
		return hs.read(wr.fd, p)
	}
	return wr.c.readTLSWire(p)
}

func (wr *tlsWire) Write(p []byte) (int, error) {
	if hs := wr.hs; hs != nil {
		return hs.write(wr.fd, p)
	}
	return wr.c.writeTLSWire(p)
}

// read is the helper goroutine's blocking read: the prefix first, then
// the socket, waiting for the loop's kick while it is empty.
func (hs *handshake) read(fd int, p []byte) (int, error) {
	if len(hs.prefix) > 0 {
		n := copy(p, hs.prefix)
		hs.prefix = hs.prefix[n:]
		return n, nil
	}
	for {
		n, err := unix.Read(fd, p)
		switch {
		case err == nil && n == 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if !hs.wait() {
				return 0, errHandshakeAborted
			}
		default:
			return 0, err
		}
	}
}

// write is the helper goroutine's blocking write (a handshake flight is a
// few KiB, so it rarely waits).
func (hs *handshake) write(fd int, p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.SendmsgN(fd, p[done:], nil, nil, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
		switch {
		case err == nil:
			done += n
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if !hs.wait() {
				return done, errHandshakeAborted
			}
		default:
			return done, err
		}
	}
	return done, nil
}

// wait blocks the helper until the loop reports socket activity (true) or
// aborts (false).
func (hs *handshake) wait() bool {
	select {
	case <-hs.kick:
		return true
	case <-hs.abort:
		return false
	}
}

// wake is the loop's side: socket activity, tell the helper. Never blocks.
func (hs *handshake) wake() {
	select {
	case hs.kick <- struct{}{}:
	default: // a kick is already pending
	}
}

func (wr *tlsWire) Close() error { return nil } // the Conn owns the socket

func (wr *tlsWire) LocalAddr() net.Addr {
	// Not cached on the Conn: the helper goroutine may ask.
	if sa, err := unix.Getsockname(wr.fd); err == nil {
		return net.TCPAddrFromAddrPort(fromSockaddr(sa))
	}
	return &net.TCPAddr{}
}

func (wr *tlsWire) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(wr.c.remote) }

// Deadlines are the loop's timers' business; crypto/tls only sets them
// around a close_notify, which never waits here.
func (wr *tlsWire) SetDeadline(time.Time) error      { return nil }
func (wr *tlsWire) SetReadDeadline(time.Time) error  { return nil }
func (wr *tlsWire) SetWriteDeadline(time.Time) error { return nil }
