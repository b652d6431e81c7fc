package worker

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// Dial starts a non-blocking TCP connect (TCP_NODELAY on). The outcome
// arrives in h.OnConnect: err nil when connected; the errno (e.g.
// ECONNREFUSED), ErrConnectTimeout after timeout (0 = no timeout), or
// ErrWorkerStopped otherwise. Output written before the connect completes
// is sent once it does. The returned error covers only failures to start
// (bad address, socket(2) failing, worker stopped). Loop thread only.
func (w *Worker) Dial(addr netip.AddrPort, timeout time.Duration, h ConnHandler) (*Conn, error) {
	return w.dial(addr, timeout, nil, h)
}

func (w *Worker) dial(addr netip.AddrPort, timeout time.Duration, tlsCfg *tls.Config, h ConnHandler) (*Conn, error) {
	if h == nil {
		return nil, ErrNilHandler
	}
	if w.stopping.Load() {
		return nil, ErrWorkerStopped
	}
	if addr.Port() == 0 {
		return nil, ErrInvalidAddr
	}
	sa, family, err := toSockaddr(addr)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dial %s: socket: %w", addr, err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c := w.newConn(fd, addr)
	c.h = h
	c.connecting = true
	if tlsCfg != nil {
		c.tls = &tlsLayer{timeout: timeout}
		c.tls.wire = tlsWire{c: c, fd: fd}
		c.tls.tc = tls.Client(&c.tls.wire, tlsCfg)
	}
	w.stats.dialed.Add(1)
	switch err := unix.Connect(fd, sa); err {
	case nil:
		// Loopback can complete at once; report it like an async success.
		c.connecting, c.writable = false, true
		if err := c.register(); err != nil {
			c.fail(err)
			break
		}
		if c.tls != nil {
			c.startHandshake(nil, timeout)
			break
		}
		w.enqueue(c, evConnect, nil)
	case unix.EINPROGRESS, unix.EINTR:
		// EINTR: the connect continues asynchronously, as for EINPROGRESS.
		if err := c.register(); err != nil {
			c.fail(err)
			break
		}
		if timeout > 0 {
			c.timer = w.AfterFunc(timeout, c.connectTimedOut)
		}
	default:
		c.fail(err)
	}
	return c, nil
}

func (c *Conn) connectTimedOut() {
	if c.connecting && !c.closed {
		c.fail(ErrConnectTimeout)
	}
}
