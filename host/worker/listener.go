package worker

import (
	"fmt"
	"net/netip"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

const listenBacklog = 1024

// Listener is one worker's listening socket. Loop thread only.
type Listener struct {
	w        *Worker
	fd       int
	addr     netip.AddrPort
	onAccept func(c *Conn)
	closed   bool
	backoff  *Timer
	// limits each get a slot per accepted connection (SetLimits).
	limits []*ConnLimit
	// paused: the worker's PauseAccepting stopped accepting (the overload
	// manager); a back-off after EMFILE must not resume it.
	paused bool
}

// Listen opens a non-blocking listening socket with SO_REUSEADDR and
// SO_REUSEPORT (so every worker can listen on the same address and the
// kernel spreads connections), backlog 1024. onAccept runs on the loop for
// each new connection and must call c.SetHandler (or close c). To share an
// ephemeral port, listen on one worker with port 0, read Addr, then listen
// on the others with that address. Loop thread only (or before Run).
func (w *Worker) Listen(addr netip.AddrPort, onAccept func(c *Conn)) (*Listener, error) {
	if w.stopping.Load() {
		return nil, ErrWorkerStopped
	}
	if onAccept == nil {
		return nil, ErrNilHandler
	}
	sa, family, err := toSockaddr(addr)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("listen %s: socket: %w", addr, err)
	}
	l := &Listener{w: w, fd: fd, onAccept: onAccept}
	if err := l.open(sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	w.stats.listeners.Add(1)
	return l, nil
}

func (l *Listener) open(sa unix.Sockaddr) error {
	if err := unix.SetsockoptInt(l.fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.SetsockoptInt(l.fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fmt.Errorf("SO_REUSEPORT: %w", err)
	}
	if err := unix.Bind(l.fd, sa); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if err := setNoDelay(l.fd); err != nil {
		return err
	}
	if err := unix.Listen(l.fd, listenBacklog); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	bound, err := unix.Getsockname(l.fd)
	if err != nil {
		return fmt.Errorf("getsockname: %w", err)
	}
	l.addr = fromSockaddr(bound)
	return l.w.addListener(l)
}

// addListener registers a new listening socket, paused if the worker's
// accepting is paused: a listener a reload opens while the overload
// manager holds accepting off stays off with the others.
func (w *Worker) addListener(l *Listener) error {
	l.paused = w.acceptPaused
	var events uint32
	if !l.paused {
		// Level-triggered: accepting at most acceptBatch per wake-up leaves
		// the rest reported again next iteration, after the other ready fds.
		events = unix.EPOLLIN
	}
	if err := w.register(l.fd, events, fdEntry{kind: kindListener, ln: l}); err != nil {
		return err
	}
	w.listeners = append(w.listeners, l)
	return nil
}

// setNoDelay sets TCP_NODELAY on a listening socket: Linux copies it to
// every connection accepted from it, which saves a setsockopt per
// connection.
func setNoDelay(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fmt.Errorf("TCP_NODELAY: %w", err)
	}
	return nil
}

// CheckAddressFree binds addr once without SO_REUSEPORT and lets go. Every
// worker's socket uses SO_REUSEPORT, which would also let it join a socket
// that another process (or a second sluice) holds with SO_REUSEPORT, and
// then silently take a share of that process's traffic; this plain bind
// fails instead (ErrAddressInUse). Port 0 is always free. Any goroutine.
func CheckAddressFree(addr netip.AddrPort) error {
	if addr.Port() == 0 {
		return nil
	}
	sa, family, err := toSockaddr(addr)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	// SO_REUSEADDR as the real sockets have: connections of an earlier
	// run lingering in TIME_WAIT do not count as "in use".
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	switch err := unix.Bind(fd, sa); err {
	case nil:
		return nil
	case unix.EADDRINUSE:
		return ErrAddressInUse
	default:
		return fmt.Errorf("bind: %w", err)
	}
}

// Addr is the bound address (with the actual port when listening on port 0).
func (l *Listener) Addr() netip.AddrPort { return l.addr }

// Close stops accepting; connections already accepted are unaffected.
// Loop thread only. Idempotent.
func (l *Listener) Close() {
	if l.closed {
		return
	}
	l.closed = true
	if l.backoff != nil {
		l.backoff.Stop()
	}
	w := l.w
	w.unregister(l.fd)
	w.closeLater = append(w.closeLater, l.fd)
	w.stats.listeners.Add(-1)
	for i, x := range w.listeners {
		if x == l {
			w.listeners = append(w.listeners[:i], w.listeners[i+1:]...)
			break
		}
	}
}

// SetLimits makes every connection accepted from now on take a slot in
// each limit, or be closed at once when one is full. Loop thread only
// (call it with Listen, in the same loop callback, so no connection
// escapes the count).
func (l *Listener) SetLimits(limits ...*ConnLimit) { l.limits = limits }

// PauseAccepting stops (true) or resumes (false) accepting on every
// listening socket of this worker, and on those opened while it is
// paused, without closing them: new connections wait in the kernel's
// backlog (1024), and beyond it the kernel stops completing handshakes.
// Loop thread only.
func (w *Worker) PauseAccepting(pause bool) {
	w.acceptPaused = pause
	for _, l := range w.listeners {
		l.setPaused(pause)
	}
}

func (l *Listener) setPaused(paused bool) {
	if l.closed || l.paused == paused {
		return
	}
	l.paused = paused
	if paused {
		l.w.modify(l.fd, 0)
		return
	}
	l.w.modify(l.fd, unix.EPOLLIN)
}

// onReadable accepts up to acceptBatch connections (top level).
func (l *Listener) onReadable() {
	w := l.w
	for i := 0; i < acceptBatch && !l.closed && !l.paused; i++ {
		fd, remote, err := w.accept4(l.fd)
		switch err {
		case nil:
		case unix.EAGAIN:
			return
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// Out of resources: the pending connection keeps the listener
			// readable, so rest instead of spinning.
			w.stats.acceptErrors.Add(1)
			w.log.Warn("accept: out of resources, pausing listener",
				zap.Stringer("addr", l.addr), zap.Error(err))
			l.pause()
			return
		default:
			w.stats.acceptErrors.Add(1)
			w.log.Error("accept failed", zap.Stringer("addr", l.addr), zap.Error(err))
			return
		}
		if len(l.limits) > 0 && !admit(l.limits) {
			// Over max_connections: closed before anything is read, the
			// refusal counted by the limit that was full.
			unix.Close(fd)
			continue
		}
		l.accepted(fd, remote)
	}
}

func (l *Listener) accepted(fd int, remote netip.AddrPort) {
	w := l.w
	// TCP_NODELAY is inherited from the listening socket (setNoDelay).
	c := w.newConn(fd, remote)
	if !l.addr.Addr().IsUnspecified() {
		// Bound to one address: the connection's local address, without
		// a getsockname.
		c.local = l.addr
	}
	c.limits = l.limits // released by teardown
	c.writable = true   // established: a greeting written in onAccept leaves at once
	w.stats.accepted.Add(1)
	// The ET registration reports data that is already waiting, so
	// registering before onAccept loses nothing.
	if err := c.register(); err != nil {
		w.log.Error("register accepted conn", zap.Uint64("conn_id", c.id), zap.Error(err))
		c.teardown()
		return
	}
	l.onAccept(c)
	if c.h == nil && !c.closed {
		w.log.Error("onAccept set no handler; closing", zap.Uint64("conn_id", c.id))
		c.teardown()
	}
	w.deliverPending()
}

func (l *Listener) pause() {
	w := l.w
	w.modify(l.fd, 0)
	if l.backoff == nil {
		l.backoff = w.AfterFunc(acceptBackoffNanos, l.resume)
		return
	}
	l.backoff.Reset(acceptBackoffNanos)
}

func (l *Listener) resume() {
	if !l.closed && !l.paused {
		l.w.modify(l.fd, unix.EPOLLIN)
	}
}

// ListenFD is Listen for a listening socket this process inherited (a hot
// restart: the previous sluice passed it over a unix socket), bound and
// listening already; the worker owns fd from then on. It is made
// non-blocking and close-on-exec. Loop thread only (or before Run).
func (w *Worker) ListenFD(fd int, onAccept func(c *Conn)) (*Listener, error) {
	if w.stopping.Load() {
		return nil, ErrWorkerStopped
	}
	if onAccept == nil {
		return nil, ErrNilHandler
	}
	if on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || on == 0 {
		return nil, fmt.Errorf("inherited fd %d is not a listening socket", fd)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("inherited fd %d: %w", fd, err)
	}
	unix.CloseOnExec(fd)
	if err := setNoDelay(fd); err != nil {
		return nil, fmt.Errorf("inherited fd %d: %w", fd, err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("inherited fd %d: getsockname: %w", fd, err)
	}
	l := &Listener{w: w, fd: fd, onAccept: onAccept, addr: fromSockaddr(bound)}
	if err := w.addListener(l); err != nil {
		return nil, err
	}
	w.stats.listeners.Add(1)
	return l, nil
}

// Dup returns a duplicate of the listening socket for another process
// (hot restart), close-on-exec; the caller closes it once sent. Loop
// thread only.
func (l *Listener) Dup() (int, error) {
	if l.closed {
		return -1, fmt.Errorf("listener %s is closed", l.addr)
	}
	return unix.FcntlInt(uintptr(l.fd), unix.F_DUPFD_CLOEXEC, 0)
}
