package worker

import (
	"errors"

	"golang.org/x/sys/unix"
)

// FDHandler receives epoll events for a raw fd registered with AddFD.
type FDHandler interface{ OnEvents(events uint32) }

type fdKind uint8

const (
	kindNone fdKind = iota
	kindRaw
	kindListener
	kindConn
)

// fdEntry is the dispatch slot for one fd number. gen is also stored in the
// epoll event's data, so an event queued for a previous owner of the same
// number is recognised as stale and dropped.
type fdEntry struct {
	kind fdKind
	gen  uint32
	raw  FDHandler
	ln   *Listener
	conn *Conn
}

var errFDRegistered = errors.New("worker: fd already registered")

// register claims the table slot for fd and adds it to the epoll set.
func (w *Worker) register(fd int, events uint32, e fdEntry) error {
	if fd < 0 {
		return unix.EBADF
	}
	for fd >= len(w.fds) {
		w.fds = append(w.fds, fdEntry{})
	}
	if w.fds[fd].kind != kindNone {
		return errFDRegistered
	}
	w.fdGen++
	e.gen = w.fdGen
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(e.gen)}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err
	}
	w.fds[fd] = e
	return nil
}

func (w *Worker) modify(fd int, events uint32) error {
	if fd < 0 || fd >= len(w.fds) || w.fds[fd].kind == kindNone {
		return unix.ENOENT
	}
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(w.fds[fd].gen)}
	return unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
}

// forget frees fd's slot without removing it from the epoll set, for an
// fd that is about to be closed (closing it removes it from the set); its
// events until then find an empty slot and are dropped.
func (w *Worker) forget(fd int) {
	if fd >= 0 && fd < len(w.fds) {
		w.fds[fd] = fdEntry{}
	}
}

// unregister removes fd from the epoll set and frees its slot. The caller
// still owns (and closes) the fd.
func (w *Worker) unregister(fd int) error {
	if fd < 0 || fd >= len(w.fds) || w.fds[fd].kind == kindNone {
		return unix.ENOENT
	}
	w.fds[fd] = fdEntry{}
	return unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

// AddFD watches a raw fd (e.g. a module scheduler's eventfd) for events
// (unix.EPOLLIN etc.; add unix.EPOLLET for edge-triggered). h.OnEvents runs
// on the loop. The caller keeps ownership of fd: call DelFD before closing
// it. Loop thread only.
func (w *Worker) AddFD(fd int, events uint32, h FDHandler) error {
	if h == nil {
		return ErrNilHandler
	}
	if w.stopping.Load() {
		return ErrWorkerStopped
	}
	return w.register(fd, events, fdEntry{kind: kindRaw, raw: h})
}

// ModFD changes the events watched for a raw fd. Loop thread only.
func (w *Worker) ModFD(fd int, events uint32) error {
	if fd >= 0 && fd < len(w.fds) && w.fds[fd].kind != kindRaw && w.fds[fd].kind != kindNone {
		return unix.EPERM
	}
	return w.modify(fd, events)
}

// DelFD stops watching a raw fd; events already collected for it in this
// iteration are dropped. Loop thread only.
func (w *Worker) DelFD(fd int) error {
	if fd >= 0 && fd < len(w.fds) && w.fds[fd].kind != kindRaw && w.fds[fd].kind != kindNone {
		return unix.EPERM
	}
	return w.unregister(fd)
}

// entryOf is the live fd entry an event is for: nil for the wake-up
// eventfd, an fd out of range, or a stale event (its fd closed or reused
// since).
func (w *Worker) entryOf(ev *unix.EpollEvent) *fdEntry {
	fd := int(ev.Fd)
	if fd < 0 || fd >= len(w.fds) || (fd == w.evfd && ev.Pad == 0) {
		return nil
	}
	e := &w.fds[fd]
	if e.kind == kindNone || e.gen != uint32(ev.Pad) {
		return nil
	}
	return e
}

// connOf is the connection an event is for, nil for any other fd (or a
// stale event).
func (w *Worker) connOf(ev *unix.EpollEvent) *Conn {
	if e := w.entryOf(ev); e != nil && e.kind == kindConn {
		return e.conn
	}
	return nil
}

// dispatch routes one epoll event to its owner.
func (w *Worker) dispatch(ev *unix.EpollEvent) {
	if int(ev.Fd) == w.evfd && ev.Pad == 0 {
		w.onWake()
		return
	}
	e := w.entryOf(ev)
	if e == nil {
		return
	}
	switch e.kind {
	case kindConn:
		e.conn.onEvents(ev.Events)
	case kindListener:
		e.ln.onReadable()
	case kindRaw:
		e.raw.OnEvents(ev.Events)
	}
}
